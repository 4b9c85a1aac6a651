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
	noHotKeys bool // do not claim CapHotKeys (correct, too)
	// entryLimit, when not 0, refuses entries charged above
	// max(Capacity/entryLimit, 1), as a cache of entryLimit shards does
	// (correct up to 64).
	entryLimit       int64
	refusalKeepsOld  bool // a refused Set leaves the old entry under its key
	refusalIsInsert  bool // a refused Set counts an insert
	evictBeforeAdd   bool // make room for nothing, then add: exceeds Capacity
	storeOversized   bool // store entries charged above Capacity
	ignoreNamespace  bool // key by File and Offset only
	slotCollisions   bool // 16 slots indexed by a hash, key not checked
	zeroCharge       bool // a charge below 1 counts as 0
	noMissCount      bool // Stats().Misses stays 0
	deleteIsEviction bool // Delete counts an eviction
	hotKeysDeleted   bool // HotKeys also reports deleted keys
	hotKeysUnclaimed bool // HotKeys answers without claiming CapHotKeys
	hotKeysAnyNS     bool // HotKeys ignores its namespace argument
	hotKeysFilterCut bool // HotKeys takes the hottest limit keys, then filters by namespace
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
	old, had := c.index[mk]
	if charge > c.entryLimit() && !c.knobs.storeOversized {
		if had && !c.knobs.refusalKeepsOld {
			c.removeLocked(old)
		}
		if c.knobs.refusalIsInsert {
			c.stats.Inserts++
		}
		return
	}
	if had {
		c.removeLocked(old)
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

// entryLimit is the largest charge Set stores.
func (c *refCache) entryLimit() int64 {
	if c.knobs.entryLimit == 0 {
		return c.capacity
	}
	return max(c.capacity/c.knobs.entryLimit, 1)
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

func (c *refCache) HotKeys(namespace uint64, limit int) ([]interfaces.CacheKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.knobs.noHotKeys {
		return nil, fmt.Errorf("ref cache: hot keys: %w", interfaces.ErrUnsupported)
	}
	if c.closedLocked() {
		return nil, fmt.Errorf("ref cache: hot keys: %w", interfaces.ErrClosed)
	}
	var keys []interfaces.CacheKey
	scanned := 0
	for e := c.lru.Front(); e != nil && len(keys) < limit; e = e.Next() {
		if c.knobs.hotKeysFilterCut && scanned == limit {
			break
		}
		scanned++
		if k := e.Value.(*refEntry).key; k.Namespace == namespace || c.knobs.hotKeysAnyNS {
			keys = append(keys, k)
		}
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
	// A cache may refuse entries above a per-entry limit of at least
	// Capacity/64: the suite must pass one that does.
	t.Run("refusing above Capacity/64", func(t *testing.T) {
		conformance.TestCache(t, refCacheFactory(cacheKnobs{entryLimit: 64}))
	})
	t.Run("refusing above Capacity/2", func(t *testing.T) {
		conformance.TestCache(t, refCacheFactory(cacheKnobs{entryLimit: 2}))
	})
}

func TestCacheSuiteRecordsReferencePass(t *testing.T) {
	requirePassed(t, runRecorded(true, func(rt conformance.T) { conformance.TestCache(rt, refCacheFactory(cacheKnobs{})) }))
	requirePassed(t, runRecorded(true, func(rt conformance.T) {
		conformance.TestCache(rt, refCacheFactory(cacheKnobs{noHotKeys: true}))
	}))
	requirePassed(t, runRecorded(true, func(rt conformance.T) {
		conformance.TestCache(rt, refCacheFactory(cacheKnobs{entryLimit: 64}))
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
		{"refuses entries at or below Capacity/64", cacheKnobs{entryLimit: 128}, "Charges"},
		{"refuses entries at or below Capacity/64 (random)", cacheKnobs{entryLimit: 128}, "RandomOps"},
		{"refuses entries at or below Capacity/64 (evictions)", cacheKnobs{entryLimit: 128}, "Evictions"},
		{"a refused Set keeps the old entry", cacheKnobs{entryLimit: 64, refusalKeepsOld: true}, "Charges"},
		{"a refused Set keeps the old entry (random)", cacheKnobs{entryLimit: 64, refusalKeepsOld: true}, "RandomOps"},
		{"a refused Set counts an insert", cacheKnobs{entryLimit: 64, refusalIsInsert: true}, "Charges"},
		{"a refused Set counts an insert (random)", cacheKnobs{entryLimit: 64, refusalIsInsert: true}, "RandomOps"},
		{"ignores Namespace", cacheKnobs{ignoreNamespace: true}, "KeyParts"},
		{"returns another key's value (colliding slots)", cacheKnobs{slotCollisions: true}, "RandomOps"},
		{"returns another key's value under concurrency", cacheKnobs{handoff: true}, "Concurrent"},
		{"counts a charge below 1 as 0", cacheKnobs{zeroCharge: true}, "Charges"},
		{"does not count misses", cacheKnobs{noMissCount: true}, "GetSet"},
		{"counts Delete as an eviction", cacheKnobs{deleteIsEviction: true}, "Evictions"},
		{"HotKeys reports deleted keys", cacheKnobs{hotKeysDeleted: true}, "HotKeys"},
		{"HotKeys answers without the capability", cacheKnobs{hotKeysUnclaimed: true}, "HotKeys"},
		{"HotKeys ignores the namespace", cacheKnobs{hotKeysAnyNS: true}, "HotKeys"},
		{"HotKeys limits before filtering by namespace", cacheKnobs{hotKeysFilterCut: true}, "HotKeys"},
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
