// Command lightning-zstd serves the Zstandard codec (plugins/zstd, default
// level) as a Lightning codec plugin.
package main

import (
	"fmt"
	"os"

	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/plugins/zstd"
)

func main() {
	c, err := zstd.New(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lightning-zstd: %v\n", err)
		os.Exit(1)
	}
	plugin.Serve(plugin.Parts{Codec: c})
}
