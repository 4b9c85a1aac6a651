package cachewarm_test

import (
	"container/list"
	"fmt"
	"sync"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
)

// lruCache is a small LRU interfaces.Cache for these tests (this package
// may not import a plugin). TestLRUCacheConforms runs the Cache suite on
// it, so Save is tested against a cache known to keep the contract.
type lruCache struct {
	capacity int64

	mu     sync.Mutex
	order  *list.List // of *lruEntry, most recently used first; guarded by mu
	index  map[interfaces.CacheKey]*list.Element
	stats  interfaces.CacheStats
	closed bool
}

type lruEntry struct {
	key    interfaces.CacheKey
	value  []byte
	charge int64
}

func newLRUCache(capacity int64) *lruCache {
	return &lruCache{capacity: capacity, order: list.New(), index: map[interfaces.CacheKey]*list.Element{}}
}

var _ interfaces.Cache = (*lruCache)(nil)

func (c *lruCache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind: interfaces.KindCache, Name: "test-lru", Version: "1.0.0",
		ContractVersion: interfaces.CacheContractVersion,
		Capabilities:    []interfaces.Capability{interfaces.CapHotKeys},
	}
}

func (c *lruCache) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[k]
	if !ok || c.closed {
		c.stats.Misses++
		return nil, false
	}
	c.stats.Hits++
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).value, true
}

func (c *lruCache) Set(k interfaces.CacheKey, v []byte, charge int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	charge = max(charge, 1)
	if e, ok := c.index[k]; ok {
		c.removeLocked(e)
	}
	if charge > c.capacity {
		return
	}
	for c.stats.Bytes+charge > c.capacity {
		c.removeLocked(c.order.Back())
		c.stats.Evictions++
	}
	c.index[k] = c.order.PushFront(&lruEntry{k, v, charge})
	c.stats.Inserts++
	c.stats.Entries++
	c.stats.Bytes += charge
}

func (c *lruCache) removeLocked(e *list.Element) {
	en := c.order.Remove(e).(*lruEntry)
	delete(c.index, en.key)
	c.stats.Entries--
	c.stats.Bytes -= en.charge
}

func (c *lruCache) Delete(k interfaces.CacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok && !c.closed {
		c.removeLocked(e)
	}
}

func (c *lruCache) Capacity() int64 { return c.capacity }

func (c *lruCache) Stats() interfaces.CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Capacity = c.capacity
	return st
}

func (c *lruCache) HotKeys(namespace uint64, limit int) ([]interfaces.CacheKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("test-lru: hot keys: %w", interfaces.ErrClosed)
	}
	var keys []interfaces.CacheKey
	for e := c.order.Front(); e != nil && len(keys) < limit; e = e.Next() {
		if k := e.Value.(*lruEntry).key; k.Namespace == namespace {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (c *lruCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.order.Init()
	c.index = map[interfaces.CacheKey]*list.Element{}
	c.stats.Entries, c.stats.Bytes = 0, 0
	return nil
}

func TestLRUCacheConforms(t *testing.T) {
	conformance.TestCache(t, func(capacity int64) (interfaces.Cache, error) { return newLRUCache(capacity), nil })
}

// rogueCache answers HotKeys with whatever it was given, whatever the
// namespace and limit: a broken or hostile out-of-process cache.
type rogueCache struct {
	*lruCache
	keys []interfaces.CacheKey
	err  error
}

func (c rogueCache) HotKeys(uint64, int) ([]interfaces.CacheKey, error) { return c.keys, c.err }
