// Command lightning-arc serves the Adaptive Replacement Cache
// (plugins/arc) as a Lightning cache plugin: the host asks for a cache of
// a capacity, and the plugin makes one with automatic sharding.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
)

func main() {
	plugin.Serve(plugin.Parts{
		Cache: func(capacity int64) (interfaces.Cache, error) { return arc.New(arc.Options{Capacity: capacity}) },
	})
}
