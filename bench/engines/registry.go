package engines

import "github.com/lightningdb/lightning/bench"

// All returns every engine this build knows: Lightning's option sets (some
// perhaps unavailable) and the four peers.
func All() []bench.Engine {
	out := Lightning()
	return append(out, Pebble(), Badger(), Bbolt(), GoLevelDB())
}

// Registry returns a registry of All.
func Registry() (*bench.Registry, error) { return bench.NewRegistry(All()...) }
