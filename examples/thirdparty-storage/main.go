// Command lightning-leveldb is a Lightning storage plugin written the way a
// third party would write one, in its own module: it puts Lightning on
// goleveldb (github.com/syndtr/goleveldb) by implementing the five-method
// ordered.Store contract over a leveldb.DB, lets interfaces/ordered turn
// that into a full interfaces.Storage (versions, snapshots, the crash
// contract, garbage collection), and serves it with host/plugin.
//
// Build and test it:
//
//	go build -o lightning-leveldb .
//	lightning conformance --plugin ./lightning-leveldb
//	go test ./...                       # the same suites, from go test
//
// Use it from a Lightning configuration:
//
//	engine:
//	  path: ./lightning-leveldb
//	  sha256: <sha256sum of the binary>
package main

import (
	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/ordered"
)

// Name is the engine's name: a database records it and refuses to open
// with another engine.
const Name = "leveldb"

// Version is this plugin's version.
const Version = "0.1.0"

// open opens the storage kept in dir.
func open(dir string) (interfaces.Storage, error) {
	store, err := OpenStore(dir)
	if err != nil {
		return nil, err
	}
	s, err := ordered.New(store, ordered.Options{Name: Name, Version: Version})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return s, nil
}

func main() {
	plugin.Serve(plugin.Parts{Storage: open})
}
