// Command lightning-snappy serves the snappy codec (plugins/snappy) as a Lightning
// codec plugin.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/plugins/snappy"
)

func main() {
	plugin.Serve(plugin.Parts{Codec: snappy.New()})
}
