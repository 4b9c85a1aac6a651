package arc

import (
	"fmt"
	"math/bits"
	"strconv"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the cache's name in its Descriptor.
const Name = "arc"

// Version is the implementation's version.
const Version = "1.0.0"

// Metric names in CacheStats.Metrics. Per-shard gauges append "." and the
// shard index (from 0) to the name: "arc.p.0", "arc.p.1", ...
const (
	// MetricP is the sum over shards of the adaptive target p, in bytes;
	// MetricP+".<i>" is shard i's p.
	MetricP = "arc.p"
	// MetricShards is the number of shards.
	MetricShards = "arc.shards"
	// MetricT1Bytes .. MetricB2Bytes are the charges on each list, summed
	// over shards. B1 and B2 hold ghosts, which hold no value: their
	// charge is what the evicted entries weighed, not memory in use.
	MetricT1Bytes = "arc.t1.bytes"
	MetricT2Bytes = "arc.t2.bytes"
	MetricB1Bytes = "arc.b1.bytes"
	MetricB2Bytes = "arc.b2.bytes"
)

// Cache is a sharded Adaptive Replacement Cache. Keys are spread over the
// shards by a hash; each shard is a complete ARC over its keys with its part
// of the capacity (see doc.go). It implements interfaces.Cache and claims
// interfaces.CapHotKeys. All methods are safe for concurrent use.
type Cache struct {
	// shards is fixed at New; each is locked on its own.
	shards   []shard
	capacity int64
	// maxCharge is the smallest shard capacity: the largest charge every
	// key can be stored with.
	maxCharge int64
	// pNames holds MetricP+".<i>" for each shard, so Stats does not format.
	pNames []string
	closed atomic.Bool
}

var _ interfaces.Cache = (*Cache)(nil)

// New returns an empty cache. It fills the zero fields of opts with their
// defaults, and returns an error matching interfaces.ErrInvalidArgument
// when they are invalid.
func New(opts Options) (*Cache, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := int64(opts.Shards)
	c := &Cache{
		shards:    make([]shard, n),
		capacity:  opts.Capacity,
		maxCharge: opts.Capacity / n,
		pNames:    make([]string, n),
	}
	// Shard i gets Capacity/n, and the first Capacity%n shards one byte
	// more, so the shards add up to Capacity exactly.
	for i := range c.shards {
		share := opts.Capacity / n
		if int64(i) < opts.Capacity%n {
			share++
		}
		c.shards[i].init(share)
		c.pNames[i] = MetricP + "." + strconv.Itoa(i)
	}
	return c, nil
}

// Describe returns the cache's self-description.
func (c *Cache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindCache,
		Name:            Name,
		Version:         Version,
		ContractVersion: interfaces.CacheContractVersion,
		Capabilities:    []interfaces.Capability{interfaces.CapHotKeys},
	}
}

// shardFor returns the shard that holds the keys with hash h.
func (c *Cache) shardFor(h uint64) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	// Lemire's multiply-shift maps the hash onto [0, n) without a
	// division and with no bias worth speaking of. It takes the high bits
	// of h; a shard's index takes the low ones.
	i, _ := bits.Mul64(h, uint64(len(c.shards)))
	return &c.shards[i]
}

// hashKey mixes the three parts of key. Engines draw random namespaces and
// number files and offsets densely, so every part must reach every bit.
func hashKey(k interfaces.CacheKey) uint64 {
	h := k.Namespace*0x9e3779b97f4a7c15 +
		bits.RotateLeft64(k.File*0xc2b2ae3d27d4eb4f, 21) +
		bits.RotateLeft64(k.Offset*0x165667b19e3779f9, 42)
	// The splitmix64 finaliser.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Get returns the value stored under key. A hit moves the entry to the
// frequency list (T2) of its shard and allocates nothing.
func (c *Cache) Get(key interfaces.CacheKey) ([]byte, bool) {
	h := hashKey(key)
	return c.shardFor(h).get(key, h)
}

// Set stores value under key with charge (below 1 counts as 1), evicting
// entries of key's shard as ARC chooses until it fits. The cache's
// per-entry limit (see interfaces.Cache.Set) is the capacity of key's
// shard: an entry charged above it is refused — not stored, not counted as
// an insert — and any old entry under key is removed. Every key's limit is
// at least MaxCharge, Capacity/Shards, which is at least Capacity/64 since
// Shards is at most MaxShards; with one shard it is Capacity.
func (c *Cache) Set(key interfaces.CacheKey, value []byte, charge int64) {
	h := hashKey(key)
	c.shardFor(h).set(key, h, value, max(charge, 1))
}

// Delete removes the entry under key, and ARC's memory of it (a ghost).
func (c *Cache) Delete(key interfaces.CacheKey) {
	h := hashKey(key)
	c.shardFor(h).delete(key, h)
}

// Capacity returns the capacity the cache was made with: the sum of its
// shards' capacities.
func (c *Cache) Capacity() int64 { return c.capacity }

// MaxCharge returns the largest charge that Set stores under every key: the
// smallest shard's capacity, Capacity()/Shards. An engine that knows its
// cache is an arc.Cache may compare a block's size with it to skip copying
// a block that would be refused; through interfaces.Cache, a charge of at
// most Capacity()/64 is always stored.
func (c *Cache) MaxCharge() int64 { return c.maxCharge }

// Shards returns the number of shards.
func (c *Cache) Shards() int { return len(c.shards) }

// ShardStats is one shard's state and counters.
type ShardStats struct {
	// Capacity is the shard's capacity c, in bytes of charge.
	Capacity int64
	// P is the adaptive target charge of T1, in [0, Capacity].
	P int64
	// Charges and entry counts of the four lists. T1 and T2 are resident;
	// B1 and B2 are ghosts.
	T1Bytes, T2Bytes, B1Bytes, B2Bytes         int64
	T1Entries, T2Entries, B1Entries, B2Entries int
	// Counters since the cache was made, as in interfaces.CacheStats.
	Hits, Misses, Inserts, Evictions int64
}

// ShardStats returns the state of every shard, in shard order. Each
// shard's figures are consistent with each other; different shards are
// read one after another.
func (c *Cache) ShardStats() []ShardStats {
	out := make([]ShardStats, len(c.shards))
	for i := range c.shards {
		s := &c.shards[i]
		s.lockDrained()
		out[i] = ShardStats{
			Capacity: s.capacity, P: s.p,
			T1Bytes: s.t1.bytes, T2Bytes: s.t2.bytes, B1Bytes: s.b1.bytes, B2Bytes: s.b2.bytes,
			T1Entries: s.t1.n, T2Entries: s.t2.n, B1Entries: s.b1.n, B2Entries: s.b2.n,
			Hits: s.hits, Misses: s.misses, Inserts: s.inserts, Evictions: s.evictions,
		}
		s.mu.Unlock()
	}
	return out
}

// Stats returns the counters summed over shards, and in Metrics the gauges
// named by the Metric constants. Shards are read one after another, so
// under concurrent use the sums are not one instant's, but each shard's
// Bytes is within its capacity, so Bytes never exceeds Capacity.
func (c *Cache) Stats() interfaces.CacheStats {
	st := interfaces.CacheStats{
		Capacity: c.capacity,
		Metrics:  make(map[string]int64, len(c.shards)+6),
	}
	var p, t1, t2, b1, b2 int64
	for i, ss := range c.ShardStats() {
		st.Hits += ss.Hits
		st.Misses += ss.Misses
		st.Inserts += ss.Inserts
		st.Evictions += ss.Evictions
		st.Entries += int64(ss.T1Entries + ss.T2Entries)
		st.Bytes += ss.T1Bytes + ss.T2Bytes
		p += ss.P
		t1, t2, b1, b2 = t1+ss.T1Bytes, t2+ss.T2Bytes, b1+ss.B1Bytes, b2+ss.B2Bytes
		st.Metrics[c.pNames[i]] = ss.P
	}
	st.Metrics[MetricP] = p
	st.Metrics[MetricShards] = int64(len(c.shards))
	st.Metrics[MetricT1Bytes] = t1
	st.Metrics[MetricT2Bytes] = t2
	st.Metrics[MetricB1Bytes] = b1
	st.Metrics[MetricB2Bytes] = b2
	return st
}

// HotKeys returns up to limit keys of resident entries in namespace, most
// valuable first: the frequency lists (T2) before the recency lists (T1),
// each from its most recently used end, skipping other namespaces' keys.
// Shards are interleaved round-robin — the first such T2 entry of each
// shard, then the second, and so on, then the T1 entries likewise — since
// keys hash evenly and recency is not comparable across shards. It returns
// fewer than limit keys only when namespace has no more resident entries.
//
// Each shard is locked while its lists are walked, up to every resident
// entry when namespace holds few of them: a pause of a few microseconds
// per thousand entries for the Gets and Sets of that shard, which is why
// HotKeys is for Close. It changes no entry and no counter. After Close it
// returns an error matching interfaces.ErrClosed.
func (c *Cache) HotKeys(namespace uint64, limit int) ([]interfaces.CacheKey, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("lightning/arc: hot keys: %w", interfaces.ErrClosed)
	}
	if limit <= 0 {
		return nil, nil
	}
	// Copy each shard's candidates under its lock; merge outside.
	t2 := make([][]interfaces.CacheKey, len(c.shards))
	t1 := make([][]interfaces.CacheKey, len(c.shards))
	for i := range c.shards {
		s := &c.shards[i]
		s.lockDrained()
		if s.closed {
			s.mu.Unlock()
			return nil, fmt.Errorf("lightning/arc: hot keys: %w", interfaces.ErrClosed)
		}
		t2[i] = appendKeys(nil, &s.t2, namespace, limit)
		t1[i] = appendKeys(nil, &s.t1, namespace, limit)
		s.mu.Unlock()
	}
	out := make([]interfaces.CacheKey, 0, min(limit, 1024))
	out = interleave(out, t2, limit)
	out = interleave(out, t1, limit)
	return out, nil
}

// appendKeys appends to dst the keys of l in namespace, MRU first, until
// dst holds limit keys.
func appendKeys(dst []interfaces.CacheKey, l *lruList, namespace uint64, limit int) []interfaces.CacheKey {
	if len(dst) >= limit {
		return dst
	}
	l.each(func(e *entry) bool {
		if e.key.Namespace == namespace {
			dst = append(dst, e.key)
		}
		return len(dst) < limit
	})
	return dst
}

// interleave appends lists[0][0], lists[1][0], ..., lists[0][1], ... to
// dst until it holds limit keys or the lists run out.
func interleave(dst []interfaces.CacheKey, lists [][]interfaces.CacheKey, limit int) []interfaces.CacheKey {
	for j := 0; len(dst) < limit; j++ {
		found := false
		for _, l := range lists {
			if j < len(l) {
				found = true
				dst = append(dst, l[j])
				if len(dst) == limit {
					return dst
				}
			}
		}
		if !found {
			break
		}
	}
	return dst
}

// Close releases every entry. Afterwards Get misses, Set and Delete do
// nothing and HotKeys returns ErrClosed; Stats keeps the counters, with no
// entries. A second Close returns nil.
func (c *Cache) Close() error {
	c.closed.Store(true)
	for i := range c.shards {
		s := &c.shards[i]
		s.lockDrained()
		s.closeLocked()
		s.mu.Unlock()
	}
	return nil
}

// check verifies the invariants of every shard (for tests).
func (c *Cache) check() error {
	for i := range c.shards {
		s := &c.shards[i]
		s.lockDrained()
		err := s.checkLocked()
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}
