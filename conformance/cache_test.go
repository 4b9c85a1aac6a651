package conformance_test

import (
	"container/list"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
)

// refCache is a small, correct cache for testing the suite: one mutex, an
// LRU list and byte charges. The knobs break it in the ways
// TestCacheSuiteCatchesBrokenCaches names; the zero knobs give the correct
// cache.
type refCache struct {
	capacity int64
	knobs    cacheKnobs

	mu      sync.Mutex
	lru     *list.List // of *refEntry, most recently used first; guarded by mu
	index   map[interfaces.CacheKey]*list.Element
	stats   interfaces.CacheStats // guarded by mu
	closed  bool
	handoff atomic.Pointer[[]byte] // for knobs.handoff
}

type refEntry struct {
	key    interfaces.CacheKey
	value  []byte
	charge int64
}

type cacheKnobs struct {
	noHotKeys        bool // do not claim CapHotKeys (correct, too)
	evictBeforeAdd   bool // make room for nothing, then add: exceeds Capacity
	storeOversized   bool // store entries charged above Capacity
	ignoreNamespace  bool // key by File and Offset only
	slotCollisions   bool // 16 slots indexed by a hash, key not checked
	zeroCharge       bool // a charge below 1 counts as 0
	noMissCount      bool // Stats().Misses stays 0
	deleteIsEviction bool // Delete counts an eviction
	hotKeysDeleted   bool // HotKeys also reports deleted keys
	hotKeysUnclaimed bool // HotKeys answers without claiming CapHotKeys
	usableAfterClose bool // Close does nothing
	handoff          bool // Get passes its result through one shared slot
	panicOnMiss      bool // Get panics on a miss
}

func newRefCache(capacity int64, knobs cacheKnobs) *refCache {
	return &refCache{capacity: capacity, knobs: knobs, lru: list.New(), index: map[interfaces.CacheKey]*list.Element{}}
}

func (c *refCache) Describe() interfaces.Descriptor {
	d := interfaces.Descriptor{
		Kind:            interfaces.KindCache,
		Name:            "ref-lru",
		Version:         "1.0.0",
		ContractVersion: interfaces.CacheContractVersion,
	}
	if !c.knobs.noHotKeys && !c.knobs.hotKeysUnclaimed {
		d.Capabilities = []interfaces.Capability{interfaces.CapHotKeys}
	}
	return d
}

func (c *refCache) mapKey(k interfaces.CacheKey) interfaces.CacheKey {
	switch {
	case c.knobs.ignoreNamespace:
		k.Namespace = 0
	case c.knobs.slotCollisions:
		k = interfaces.CacheKey{Offset: (k.Namespace*31 + k.File*7 + k.Offset) % 16}
	}
	return k
}

func (c *refCache) closedLocked() bool { return c.closed && !c.knobs.usableAfterClose }

func (c *refCache) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.Lock()
	if c.closedLocked() {
		c.mu.Unlock()
		return nil, false
	}
	e, ok := c.index[c.mapKey(k)]
	if !ok {
		if c.knobs.panicOnMiss {
			c.mu.Unlock()
			panic("ref cache: miss")
		}
		if !c.knobs.noMissCount {
			c.stats.Misses++
		}
		c.mu.Unlock()
		return nil, false
	}
	c.stats.Hits++
	c.lru.MoveToFront(e)
	v := e.Value.(*refEntry).value
	c.mu.Unlock()
	if c.knobs.handoff {
		// Race-free, and wrong: another Get may store between these two.
		slot := new([]byte)
		*slot = v
		c.handoff.Store(slot)
		runtime.Gosched()
		v = *c.handoff.Load()
	}
	return v, true
}

func (c *refCache) Set(k interfaces.CacheKey, value []byte, charge int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedLocked() {
		return
	}
	if charge < 1 {
		charge = 1
		if c.knobs.zeroCharge {
			charge = 0
		}
	}
	mk := c.mapKey(k)
	if old, ok := c.index[mk]; ok {
		c.removeLocked(old)
	}
	if charge > c.capacity && !c.knobs.storeOversized {
		return
	}
	if c.knobs.evictBeforeAdd {
		c.evictLocked(0)
	} else {
		c.evictLocked(charge)
	}
	c.index[mk] = c.lru.PushFront(&refEntry{key: k, value: value, charge: charge})
	c.stats.Inserts++
	c.stats.Entries++
	c.stats.Bytes += charge
}

// evictLocked evicts least recently used entries until room more bytes fit.
func (c *refCache) evictLocked(room int64) {
	for c.stats.Bytes+room > c.capacity && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
		c.stats.Evictions++
	}
}

func (c *refCache) removeLocked(e *list.Element) {
	en := c.lru.Remove(e).(*refEntry)
	delete(c.index, c.mapKey(en.key))
	c.stats.Entries--
	c.stats.Bytes -= en.charge
}

func (c *refCache) Delete(k interfaces.CacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedLocked() {
		return
	}
	if e, ok := c.index[c.mapKey(k)]; ok {
		c.removeLocked(e)
		if c.knobs.deleteIsEviction {
			c.stats.Evictions++
		}
	}
	if c.knobs.hotKeysDeleted {
		c.lru.PushBack(&refEntry{key: k}) // a ghost that HotKeys reports
		c.stats.Entries++
	}
}

func (c *refCache) Capacity() int64 { return c.capacity }

func (c *refCache) Stats() interfaces.CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Capacity = c.capacity
	return st
}

func (c *refCache) HotKeys(limit int) ([]interfaces.CacheKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.knobs.noHotKeys {
		return nil, fmt.Errorf("ref cache: hot keys: %w", interfaces.ErrUnsupported)
	}
	if c.closedLocked() {
		return nil, fmt.Errorf("ref cache: hot keys: %w", interfaces.ErrClosed)
	}
	var keys []interfaces.CacheKey
	for e := c.lru.Front(); e != nil && len(keys) < limit; e = e.Next() {
		keys = append(keys, e.Value.(*refEntry).key)
	}
	return keys, nil
}

func (c *refCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.knobs.usableAfterClose {
		return nil
	}
	c.closed = true
	c.lru.Init()
	c.index = map[interfaces.CacheKey]*list.Element{}
	c.stats.Entries, c.stats.Bytes = 0, 0
	return nil
}

var _ interfaces.Cache = (*refCache)(nil)

func refCacheFactory(knobs cacheKnobs) conformance.CacheFactory {
	return func(capacity int64) (interfaces.Cache, error) { return newRefCache(capacity, knobs), nil }
}

func TestCacheSuitePassesReference(t *testing.T) {
	t.Run("with HotKeys", func(t *testing.T) { conformance.TestCache(t, refCacheFactory(cacheKnobs{})) })
	t.Run("without HotKeys", func(t *testing.T) {
		conformance.TestCache(t, refCacheFactory(cacheKnobs{noHotKeys: true}))
	})
}

func TestCacheSuiteRecordsReferencePass(t *testing.T) {
	requirePassed(t, runRecorded(true, func(rt conformance.T) { conformance.TestCache(rt, refCacheFactory(cacheKnobs{})) }))
	requirePassed(t, runRecorded(true, func(rt conformance.T) {
		conformance.TestCache(rt, refCacheFactory(cacheKnobs{noHotKeys: true}))
	}))
}

func TestCacheSuiteCatchesBrokenCaches(t *testing.T) {
	tests := []struct {
		name   string
		knobs  cacheKnobs
		caught string
	}{
		{"exceeds its capacity", cacheKnobs{evictBeforeAdd: true}, "RandomOps"},
		{"exceeds its capacity (targeted)", cacheKnobs{evictBeforeAdd: true}, "Evictions"},
		{"stores entries charged above Capacity", cacheKnobs{storeOversized: true}, "Charges"},
		{"ignores Namespace", cacheKnobs{ignoreNamespace: true}, "KeyParts"},
		{"returns another key's value (colliding slots)", cacheKnobs{slotCollisions: true}, "RandomOps"},
		{"returns another key's value under concurrency", cacheKnobs{handoff: true}, "Concurrent"},
		{"counts a charge below 1 as 0", cacheKnobs{zeroCharge: true}, "Charges"},
		{"does not count misses", cacheKnobs{noMissCount: true}, "GetSet"},
		{"counts Delete as an eviction", cacheKnobs{deleteIsEviction: true}, "Evictions"},
		{"HotKeys reports deleted keys", cacheKnobs{hotKeysDeleted: true}, "HotKeys"},
		{"HotKeys answers without the capability", cacheKnobs{hotKeysUnclaimed: true}, "HotKeys"},
		{"usable after Close", cacheKnobs{usableAfterClose: true}, "Close"},
		{"Get panics on a miss", cacheKnobs{panicOnMiss: true}, "GetSet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := runRecorded(true, func(rt conformance.T) { conformance.TestCache(rt, refCacheFactory(tt.knobs)) })
			requireCaught(t, rec, tt.caught)
		})
	}
}
