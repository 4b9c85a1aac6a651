// Package pagecache is the B+tree engine's private page cache: a sharded
// CLOCK cache implementing interfaces.Cache, used when the engine is given
// no shared cache. It is deliberately plain: the shared cache a host
// injects (plugins/arc) is the tuned one; this one exists so that an engine
// opened with a nil cache still keeps its branch and leaf images in memory.
//
// # Concurrency
//
// Keys hash to one of up to 8 shards. Get takes its shard's read lock and
// marks the entry referenced with an atomic store, so readers of one shard
// proceed in parallel; Set and Delete take the write lock. Eviction is
// CLOCK (second chance): the hand clears reference bits until it finds an
// unreferenced entry.
//
// An entry may be as large as one shard's capacity (Capacity/shards, at
// least Capacity/8); a larger one is refused (not stored, and any old entry
// under its key removed), as interfaces.Cache allows.
package pagecache

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the cache's name, as Describe reports it.
const Name = "btree-pagecache"

const maxShards = 8

type entry struct {
	key    interfaces.CacheKey
	value  []byte
	charge int64
	ref    atomic.Bool
	slot   int // index in shard.ring
}

type shard struct {
	// mu guards m, ring, hand and bytes.
	mu       sync.RWMutex
	m        map[interfaces.CacheKey]*entry
	ring     []*entry
	hand     int
	bytes    int64
	capacity int64

	hits, misses, inserts, evictions atomic.Int64
}

// Cache is a sharded CLOCK cache. The zero value is not usable; call New.
type Cache struct {
	shards   []shard
	capacity int64
	closed   atomic.Bool
}

var _ interfaces.Cache = (*Cache)(nil)

// New returns an empty cache holding at most capacity bytes of charge.
// capacity must be at least 1.
func New(capacity int64) (*Cache, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("lightning/btree/pagecache: capacity %d: %w", capacity, interfaces.ErrInvalidArgument)
	}
	n := int64(maxShards)
	if capacity < n {
		n = capacity
	}
	c := &Cache{shards: make([]shard, n), capacity: capacity}
	for i := range c.shards {
		s := &c.shards[i]
		s.capacity = capacity / n
		if int64(i) < capacity%n {
			s.capacity++
		}
		s.m = make(map[interfaces.CacheKey]*entry)
	}
	return c, nil
}

func (c *Cache) shard(k interfaces.CacheKey) *shard {
	h := k.Namespace*0x9e3779b97f4a7c15 ^ k.File*0xc2b2ae3d27d4eb4f ^ k.Offset*0x165667b19e3779f9
	h ^= h >> 29
	return &c.shards[h%uint64(len(c.shards))]
}

// Describe implements interfaces.Cache.
func (c *Cache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindCache,
		Name:            Name,
		Version:         "1.0.0",
		ContractVersion: interfaces.CacheContractVersion,
	}
}

// Get implements interfaces.Cache.
func (c *Cache) Get(k interfaces.CacheKey) ([]byte, bool) {
	if c.closed.Load() {
		return nil, false
	}
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	var v []byte
	if ok {
		v = e.value
		if !e.ref.Load() {
			e.ref.Store(true)
		}
	}
	s.mu.RUnlock()
	if ok {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
	}
	return v, ok
}

// Set implements interfaces.Cache. An entry whose charge exceeds its
// shard's capacity is refused.
func (c *Cache) Set(k interfaces.CacheKey, v []byte, charge int64) {
	if c.closed.Load() {
		return
	}
	charge = max(charge, 1)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed.Load() {
		return
	}
	if old, ok := s.m[k]; ok {
		s.removeLocked(old)
	}
	if charge > s.capacity {
		return
	}
	for s.bytes+charge > s.capacity {
		s.evictLocked()
	}
	e := &entry{key: k, value: v, charge: charge, slot: len(s.ring)}
	s.ring = append(s.ring, e)
	s.m[k] = e
	s.bytes += charge
	s.inserts.Add(1)
}

// removeLocked takes e out of the shard. s.mu is held.
func (s *shard) removeLocked(e *entry) {
	last := len(s.ring) - 1
	moved := s.ring[last]
	s.ring[e.slot] = moved
	moved.slot = e.slot
	s.ring[last] = nil
	s.ring = s.ring[:last]
	if s.hand >= len(s.ring) {
		s.hand = 0
	}
	delete(s.m, e.key)
	s.bytes -= e.charge
}

// evictLocked evicts one entry by CLOCK. s.mu is held and the ring is not
// empty (the caller evicts only while the shard is over capacity).
func (s *shard) evictLocked() {
	for {
		e := s.ring[s.hand]
		if e.ref.Load() {
			e.ref.Store(false)
			s.hand = (s.hand + 1) % len(s.ring)
			continue
		}
		s.removeLocked(e)
		s.evictions.Add(1)
		return
	}
}

// Delete implements interfaces.Cache.
func (c *Cache) Delete(k interfaces.CacheKey) {
	if c.closed.Load() {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	if e, ok := s.m[k]; ok {
		s.removeLocked(e)
	}
	s.mu.Unlock()
}

// Capacity implements interfaces.Cache.
func (c *Cache) Capacity() int64 { return c.capacity }

// Stats implements interfaces.Cache.
func (c *Cache) Stats() interfaces.CacheStats {
	st := interfaces.CacheStats{Capacity: c.capacity}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		st.Entries += int64(len(s.ring))
		st.Bytes += s.bytes
		s.mu.RUnlock()
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Inserts += s.inserts.Load()
		st.Evictions += s.evictions.Load()
	}
	return st
}

// HotKeys implements interfaces.Cache: the cache does not claim
// CapHotKeys.
func (c *Cache) HotKeys(namespace uint64, limit int) ([]interfaces.CacheKey, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("lightning/btree/pagecache: hot keys: %w", interfaces.ErrClosed)
	}
	return nil, fmt.Errorf("lightning/btree/pagecache: hot keys: %w", interfaces.ErrUnsupported)
}

// Close drops every entry. Later calls miss or do nothing.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("lightning/btree/pagecache: close: %w", interfaces.ErrClosed)
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		clear(s.ring)
		s.ring = s.ring[:0]
		s.bytes = 0
		s.mu.Unlock()
	}
	return nil
}
