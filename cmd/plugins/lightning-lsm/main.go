// Command lightning-lsm serves the LSM engine (plugins/lsm), the default
// engine, as a Lightning storage plugin. Its tables are snappy-compressed
// and cached in a 64 MiB ARC block cache of its own, in the plugin process.
package main

import (
	"log"

	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/plugins/snappy"
)

func main() {
	cache, err := arc.New(arc.Options{Capacity: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	plugin.Serve(plugin.Parts{
		Storage: func(dir string) (interfaces.Storage, error) {
			return lsm.New(lsm.Options{Dir: dir}, lsm.Deps{Cache: cache, Codec: snappy.New(), Logger: plugin.Logger()})
		},
	})
}
