// Command lightning-btree serves the B+tree engine (plugins/btree) as a
// Lightning storage plugin. Its leaf pages are snappy-compressed, and its
// decoded pages cached in a 64 MiB ARC cache of its own, in the plugin
// process; without a cipher, pages are also read from a memory map of the
// file.
package main

import (
	"log"

	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/snappy"
)

func main() {
	cache, err := arc.New(arc.Options{Capacity: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	plugin.Serve(plugin.Parts{
		Storage: func(dir string) (interfaces.Storage, error) {
			return btree.New(btree.Options{Dir: dir}, btree.Deps{Cache: cache, Codec: snappy.New(), Logger: plugin.Logger()})
		},
	})
}
