// Command lightning-none serves the none codec (plugins/none) as a Lightning
// codec plugin.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/plugins/none"
)

func main() {
	plugin.Serve(plugin.Parts{Codec: none.New()})
}
