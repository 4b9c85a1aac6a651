package arc_test

import (
	"fmt"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
)

// TestConformance runs the shared Cache suite on caches with the default
// options (the suite's capacities are below 8 MiB, so each is a single
// ARC) and on sharded ones, up to MaxShards: a sharded cache refuses an
// entry larger than its shard, which the contract allows above
// Capacity/64, and evicts when the key's shard is full.
func TestConformance(t *testing.T) {
	for _, shards := range []int{0, 8, arc.MaxShards} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			conformance.TestCache(t, func(capacity int64) (interfaces.Cache, error) {
				return arc.New(arc.Options{Capacity: capacity, Shards: shards})
			})
		})
	}
}
