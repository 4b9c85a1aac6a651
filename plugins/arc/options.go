package arc

import (
	"fmt"
	"runtime"

	"github.com/lightningdb/lightning/interfaces"
)

// Limits and defaults of Options.
const (
	// MaxShards bounds Options.Shards. The Cache contract lets a cache
	// refuse an entry above a per-entry limit of at least Capacity/64
	// (interfaces.Cache.Set), and an entry must fit in one shard's
	// Capacity/Shards, so 64 is the most shards a conforming cache can
	// have. Beyond a few shards per processor, lock contention no longer
	// limits throughput anyway.
	MaxShards = 64
	// MinAutoShardCapacity is the least capacity an automatically chosen
	// shard gets. An entry larger than its shard's capacity cannot be
	// stored (see Cache.MaxCharge), and ARC adapts poorly in a shard that
	// holds only a handful of blocks, so a small cache gets few shards: a
	// cache below 2×MinAutoShardCapacity is a single ARC.
	MinAutoShardCapacity = 4 << 20
	// maxAutoShards bounds the automatic shard count.
	maxAutoShards = MaxShards
)

// Options configure a Cache.
type Options struct {
	// Capacity is the bound, in bytes of charge, on the entries the cache
	// holds; at least 1. Required.
	Capacity int64
	// Shards is the number of independent ARC shards, each holding the
	// keys that hash to it and an equal part of Capacity. Zero chooses
	// automatically: four per processor (rounded up to a power of two, at
	// most 64), but no more than leave each shard MinAutoShardCapacity.
	// More shards let more goroutines use the cache at once; each shard
	// adapts on its own, and an entry must fit in one shard's capacity.
	Shards int
}

// EnsureDefaults fills the zero fields of o with their defaults and returns
// o. The automatic shard count depends on Capacity, so set Capacity first.
func (o *Options) EnsureDefaults() *Options {
	if o.Shards == 0 {
		o.Shards = autoShards(o.Capacity, runtime.GOMAXPROCS(0))
	}
	return o
}

// autoShards is the shard count chosen for capacity on procs processors.
func autoShards(capacity int64, procs int) int {
	n := 1
	for n < 4*procs && n < maxAutoShards {
		n *= 2
	}
	if byCapacity := capacity / MinAutoShardCapacity; int64(n) > byCapacity {
		n = int(max(byCapacity, 1))
	}
	return n
}

// Validate reports the first invalid field of o, as an error matching
// interfaces.ErrInvalidArgument. Call EnsureDefaults first: Validate does
// not treat a zero Shards as the default.
func (o *Options) Validate() error {
	switch {
	case o.Capacity < 1:
		return fmt.Errorf("lightning/arc: options: Capacity %d is below 1: %w", o.Capacity, interfaces.ErrInvalidArgument)
	case o.Shards < 1 || o.Shards > MaxShards:
		return fmt.Errorf("lightning/arc: options: Shards %d is outside [1, %d]: %w", o.Shards, MaxShards, interfaces.ErrInvalidArgument)
	case int64(o.Shards) > o.Capacity:
		return fmt.Errorf("lightning/arc: options: %d shards cannot share a capacity of %d bytes: %w",
			o.Shards, o.Capacity, interfaces.ErrInvalidArgument)
	}
	return nil
}
