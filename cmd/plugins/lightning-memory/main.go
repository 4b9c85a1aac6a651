// Command lightning-memory serves the in-memory reference engine
// (plugins/memory) as a Lightning storage plugin. Its snapshots are
// written uncompressed and unencrypted: the plugin's files are its own.
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
)

func main() {
	plugin.Serve(plugin.Parts{
		Storage: func(dir string) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{Logger: plugin.Logger()})
		},
	})
}
