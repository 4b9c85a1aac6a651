package main

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// lru is a small, correct cache: one mutex, an LRU list, byte charges.
// It does not claim CapHotKeys.
type lru struct {
	capacity int64

	mu     sync.Mutex
	list   *list.List // of *lruEntry, most recently used first
	index  map[interfaces.CacheKey]*list.Element
	stats  interfaces.CacheStats
	closed bool
}

type lruEntry struct {
	key    interfaces.CacheKey
	value  []byte
	charge int64
}

func newLRU(capacity int64) *lru {
	return &lru{capacity: max(capacity, 1), list: list.New(), index: map[interfaces.CacheKey]*list.Element{}}
}

func (c *lru) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCache, Name: "testplugin-lru", Version: "1.0.0",
		ContractVersion: interfaces.CacheContractVersion}
}

func (c *lru) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	e, ok := c.index[k]
	if !ok {
		c.stats.Misses++
		return nil, false
	}
	c.stats.Hits++
	c.list.MoveToFront(e)
	return e.Value.(*lruEntry).value, true
}

func (c *lru) removeLocked(e *list.Element) {
	le := e.Value.(*lruEntry)
	c.list.Remove(e)
	delete(c.index, le.key)
	c.stats.Entries--
	c.stats.Bytes -= le.charge
}

func (c *lru) Set(k interfaces.CacheKey, v []byte, charge int64) {
	charge = max(charge, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if e, ok := c.index[k]; ok {
		c.removeLocked(e)
	}
	if charge > c.capacity {
		return
	}
	for c.stats.Bytes+charge > c.capacity {
		c.removeLocked(c.list.Back())
		c.stats.Evictions++
	}
	c.index[k] = c.list.PushFront(&lruEntry{key: k, value: v, charge: charge})
	c.stats.Inserts++
	c.stats.Entries++
	c.stats.Bytes += charge
}

func (c *lru) Delete(k interfaces.CacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok && !c.closed {
		c.removeLocked(e)
	}
}

func (c *lru) Capacity() int64 { return c.capacity }

func (c *lru) Stats() interfaces.CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Capacity = c.capacity
	return st
}

func (c *lru) HotKeys(uint64, int) ([]interfaces.CacheKey, error) {
	return nil, fmt.Errorf("testplugin: HotKeys: %w", interfaces.ErrUnsupported)
}

func (c *lru) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.list.Init()
	clear(c.index)
	c.stats.Entries, c.stats.Bytes = 0, 0
	return nil
}
