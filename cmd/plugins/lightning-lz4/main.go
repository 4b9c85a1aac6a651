// Command lightning-lz4 serves the lz4 codec (plugins/lz4) as a Lightning
// codec plugin.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/plugins/lz4"
)

func main() {
	plugin.Serve(plugin.Parts{Codec: lz4.New()})
}
