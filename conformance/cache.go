package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// TestCache runs the Cache suite against the caches newCache makes, each
// fresh and empty, of the capacity asked.
//
// The suite checks:
//
//   - Describe: Kind cache, a name, the CacheContractVersion; Capacity is
//     positive, at most what was asked, and what Stats reports.
//   - GetSet: a miss, then a hit of the value set; Set replaces; Delete
//     removes; Delete of an absent key does nothing; Stats (hits, misses,
//     inserts, entries, bytes) follow exactly.
//   - Charges: a charge above Capacity is never stored and removes the
//     old entry; a charge at or below max(Capacity/64, 1) is always
//     stored; a charge in between is stored or refused, and a refusal is
//     no insert and no eviction and removes the old entry; a charge of 0
//     or below counts as 1; replacing an entry replaces its charge.
//   - Evictions: entries that overflow Capacity evict others, each
//     counted in Evictions (Entries + Evictions = Inserts when every key
//     is new); Delete is not an eviction.
//   - KeyParts: Namespace, File and Offset each tell keys apart.
//   - RandomOps: a long random sequence of Get/Set/Delete with varied
//     charges (including 0, negative, Capacity and above), checked after
//     every call: Bytes <= Capacity, Entries <= Bytes, counters move by
//     what the call could do (a Set of a charge above max(Capacity/64, 1)
//     and up to Capacity may be refused; Inserts tells which), and every
//     hit is the value last stored under that key (never another key's,
//     never a deleted or refused one); at checkpoints, a probe of every
//     key must find exactly Entries entries holding exactly Bytes of
//     charge.
//   - Concurrent: goroutines Get/Set/Delete shared and private keys at
//     once (run under -race); every hit holds its own key's value, and
//     Bytes stays within Capacity.
//   - HotKeys: with CapHotKeys, in a cache shared by several namespaces
//     whose entries are hotter than the asked one's: only keys of the
//     namespace asked, each of a present entry, once; min(limit, entries
//     of the namespace) keys, so none for a limit of 0 or below or an
//     unused namespace; no counter moves. Without it, ErrUnsupported.
//   - Close: Close returns nil; then Get misses, Set stores nothing,
//     Delete does nothing and HotKeys returns ErrClosed.
//
// A panic in the cache fails the test instead of crashing the runner.
func TestCache(t T, newCache CacheFactory) {
	t.Helper()
	s := seed()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cache suite seed %d (replay with LIGHTNING_CONFORMANCE_SEED=%d)", s, s)
		}
	})
	run(t, "Describe", func(t T) { testCacheDescribe(t, newCache) })
	run(t, "GetSet", func(t T) { testCacheGetSet(t, newCache) })
	run(t, "Charges", func(t T) { testCacheCharges(t, newCache) })
	run(t, "Evictions", func(t T) { testCacheEvictions(t, newCache) })
	run(t, "KeyParts", func(t T) { testCacheKeyParts(t, newCache) })
	run(t, "RandomOps", func(t T) { testCacheRandomOps(t, newCache, s) })
	run(t, "Concurrent", func(t T) { testCacheConcurrent(t, newCache, s) })
	run(t, "HotKeys", func(t T) { testCacheHotKeys(t, newCache) })
	run(t, "Close", func(t T) { testCacheClose(t, newCache) })
}

// newCacheOrFatal makes a cache of capacity and closes it when the test
// ends.
func newCacheOrFatal(t T, newCache CacheFactory, capacity int64) interfaces.Cache {
	t.Helper()
	var c interfaces.Cache
	var err error
	if !guardPart(t, fmt.Sprintf("CacheFactory(%d)", capacity), func() { c, err = newCache(capacity) }) {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("CacheFactory(%d): %v", capacity, err)
	}
	if c == nil {
		t.Fatalf("CacheFactory(%d) returned a nil cache", capacity)
	}
	t.Cleanup(func() { guardPart(t, "Close", func() { _ = c.Close() }) })
	return c
}

// cacheHarness wraps a cache with guarded calls. A panic is reported once
// and fails the test.
type cacheHarness struct {
	t T
	c interfaces.Cache
}

func (h cacheHarness) get(k interfaces.CacheKey) (v []byte, ok bool) {
	h.t.Helper()
	guardPart(h.t, fmt.Sprintf("Get(%v)", k), func() { v, ok = h.c.Get(k) })
	return v, ok
}

func (h cacheHarness) set(k interfaces.CacheKey, v []byte, charge int64) bool {
	h.t.Helper()
	return guardPart(h.t, fmt.Sprintf("Set(%v, %d bytes, charge %d)", k, len(v), charge), func() { h.c.Set(k, v, charge) })
}

func (h cacheHarness) del(k interfaces.CacheKey) bool {
	h.t.Helper()
	return guardPart(h.t, fmt.Sprintf("Delete(%v)", k), func() { h.c.Delete(k) })
}

func (h cacheHarness) stats() (st interfaces.CacheStats, ok bool) {
	h.t.Helper()
	ok = guardPart(h.t, "Stats", func() { st = h.c.Stats() })
	return st, ok
}

func (h cacheHarness) capacity() (n int64, ok bool) {
	h.t.Helper()
	ok = guardPart(h.t, "Capacity", func() { n = h.c.Capacity() })
	return n, ok
}

func (h cacheHarness) hotKeys(namespace uint64, limit int) (keys []interfaces.CacheKey, err error) {
	h.t.Helper()
	if !guardPart(h.t, fmt.Sprintf("HotKeys(%d, %d)", namespace, limit), func() { keys, err = h.c.HotKeys(namespace, limit) }) {
		return nil, errPartPanicked
	}
	return keys, err
}

// cacheValue returns a value that names its key and version, padded to
// size bytes (at least 32), so a hit shows whose value it is.
func cacheValue(k interfaces.CacheKey, version uint64, size int) []byte {
	v := make([]byte, max(size, 32))
	binary.LittleEndian.PutUint64(v[0:], k.Namespace)
	binary.LittleEndian.PutUint64(v[8:], k.File)
	binary.LittleEndian.PutUint64(v[16:], k.Offset)
	binary.LittleEndian.PutUint64(v[24:], version)
	for i := 32; i < len(v); i++ {
		v[i] = byte(version + uint64(i))
	}
	return v
}

// valueKey returns the key and version a cacheValue names.
func valueKey(v []byte) (interfaces.CacheKey, uint64, bool) {
	if len(v) < 32 {
		return interfaces.CacheKey{}, 0, false
	}
	return interfaces.CacheKey{
		Namespace: binary.LittleEndian.Uint64(v[0:]),
		File:      binary.LittleEndian.Uint64(v[8:]),
		Offset:    binary.LittleEndian.Uint64(v[16:]),
	}, binary.LittleEndian.Uint64(v[24:]), true
}

// normCharge is the charge the contract counts: below 1 counts as 1.
func normCharge(charge int64) int64 { return max(charge, 1) }

// alwaysStored is the largest charge a cache of capacity must store: a
// cache may refuse entries above a per-entry limit of its own, but that
// limit is at least Capacity/64 (see interfaces.Cache.Set). The suite
// knows no more of the limit, so it accepts either outcome above this
// charge and up to Capacity.
func alwaysStored(capacity int64) int64 { return max(capacity/64, 1) }

// expectStats compares the counters the test can know exactly.
func expectStats(t T, h cacheHarness, when string, want interfaces.CacheStats) {
	t.Helper()
	got, ok := h.stats()
	if !ok {
		return
	}
	if got.Hits != want.Hits || got.Misses != want.Misses || got.Inserts != want.Inserts ||
		got.Evictions != want.Evictions || got.Entries != want.Entries || got.Bytes != want.Bytes {
		t.Errorf("%s: Stats() = hits %d misses %d inserts %d evictions %d entries %d bytes %d; "+
			"want hits %d misses %d inserts %d evictions %d entries %d bytes %d",
			when, got.Hits, got.Misses, got.Inserts, got.Evictions, got.Entries, got.Bytes,
			want.Hits, want.Misses, want.Inserts, want.Evictions, want.Entries, want.Bytes)
	}
}

// ---------------------------------------------------------------------
// The checks.

func testCacheDescribe(t T, newCache CacheFactory) {
	const asked = 1 << 20
	c := newCacheOrFatal(t, newCache, asked)
	h := cacheHarness{t, c}
	var d interfaces.Descriptor
	if !guardPart(t, "Describe", func() { d = c.Describe() }) {
		return
	}
	if d.Kind != interfaces.KindCache {
		t.Errorf("Describe().Kind = %q, want %q", d.Kind, interfaces.KindCache)
	}
	if d.Name == "" {
		t.Errorf("Describe().Name is empty")
	}
	if d.ContractVersion != interfaces.CacheContractVersion {
		t.Errorf("Describe().ContractVersion = %d, want %d", d.ContractVersion, interfaces.CacheContractVersion)
	}
	if d.Version == "" {
		t.Logf("Describe().Version is empty; a semantic version is recommended")
	}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	if capacity <= 0 || capacity > asked {
		t.Errorf("a cache asked for capacity %d reports Capacity() = %d; want 1 to %d", asked, capacity, asked)
	} else if capacity != asked {
		t.Logf("a cache asked for capacity %d reports %d", asked, capacity)
	}
	expectStats(t, h, "a new cache", interfaces.CacheStats{})
	if st, ok := h.stats(); ok && st.Capacity != capacity {
		t.Errorf("Stats().Capacity = %d, Capacity() = %d", st.Capacity, capacity)
	}
}

func testCacheGetSet(t T, newCache CacheFactory) {
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 1<<20)}
	k := interfaces.CacheKey{Namespace: 7, File: 12, Offset: 4096}
	var want interfaces.CacheStats

	if v, ok := h.get(k); ok {
		t.Errorf("Get of a key never set hit (%d bytes)", len(v))
	}
	want.Misses++
	expectStats(t, h, "after a miss", want)

	v1 := cacheValue(k, 1, 100)
	h.set(k, v1, 100)
	want.Inserts, want.Entries, want.Bytes = 1, 1, 100
	expectStats(t, h, "after a Set", want)
	if v, ok := h.get(k); !ok || !bytes.Equal(v, v1) {
		t.Errorf("Get after Set: hit %v, %d bytes; want the %d bytes set", ok, len(v), len(v1))
	}
	want.Hits++
	expectStats(t, h, "after a hit", want)

	v2 := cacheValue(k, 2, 300)
	h.set(k, v2, 300)
	want.Inserts, want.Bytes = 2, 300
	expectStats(t, h, "after Set replaced the entry", want)
	if v, ok := h.get(k); !ok || !bytes.Equal(v, v2) {
		t.Errorf("Get after a replacing Set: hit %v, %d bytes; want the new %d bytes", ok, len(v), len(v2))
	}
	want.Hits++

	other := interfaces.CacheKey{Namespace: 7, File: 12, Offset: 8192}
	h.del(other)
	expectStats(t, h, "after Delete of an absent key", want)
	h.del(k)
	want.Entries, want.Bytes = 0, 0
	expectStats(t, h, "after Delete", want)
	if v, ok := h.get(k); ok {
		t.Errorf("Get after Delete hit (%d bytes)", len(v))
	}
	want.Misses++
	expectStats(t, h, "after a miss on a deleted key", want)
}

func testCacheCharges(t T, newCache CacheFactory) {
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 1000)}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	small := alwaysStored(capacity)
	key := func(i uint64) interfaces.CacheKey { return interfaces.CacheKey{Namespace: 1, File: 2, Offset: i} }
	var want interfaces.CacheStats

	h.set(key(1), cacheValue(key(1), 1, 40), capacity+1)
	expectStats(t, h, "after a Set with charge Capacity+1", want)
	if _, ok := h.get(key(1)); ok {
		t.Errorf("an entry charged Capacity+1 was stored")
	}
	want.Misses++

	h.set(key(1), cacheValue(key(1), 2, 40), small)
	want.Inserts, want.Entries, want.Bytes = 1, 1, small
	expectStats(t, h, fmt.Sprintf("after a Set with charge %d (Capacity/64, always stored)", small), want)
	h.set(key(1), cacheValue(key(1), 3, 40), 10*capacity)
	want.Entries, want.Bytes = 0, 0
	expectStats(t, h, "after an oversized Set over a stored entry", want)
	if _, ok := h.get(key(1)); ok {
		t.Errorf("after an oversized Set, the old entry under its key is still there")
	}
	want.Misses++

	h.set(key(2), cacheValue(key(2), 1, 40), 0)
	want.Inserts, want.Entries, want.Bytes = 2, 1, 1
	expectStats(t, h, "after a Set with charge 0 (counts as 1)", want)
	h.set(key(3), cacheValue(key(3), 1, 40), -7)
	want.Inserts, want.Entries, want.Bytes = 3, 2, 2
	expectStats(t, h, "after a Set with charge -7 (counts as 1)", want)
	five := min(5, small)
	h.set(key(2), cacheValue(key(2), 2, 40), five)
	want.Inserts, want.Bytes = 4, 1+five
	expectStats(t, h, fmt.Sprintf("after replacing a charge-0 entry with charge %d", five), want)
	for _, k := range []interfaces.CacheKey{key(2), key(3)} {
		if v, ok := h.get(k); !ok {
			t.Errorf("Get(%v): an entry of small charge in a nearly empty cache missed", k)
		} else if got, _, _ := valueKey(v); got != k {
			t.Errorf("Get(%v) returned the value of %v", k, got)
		}
		want.Hits++
	}
	expectStats(t, h, "after two hits", want)

	testCacheSmallAlwaysStored(t, newCache)
	testCacheRefusals(t, newCache)
}

// testCacheSmallAlwaysStored sets entries charged max(Capacity/64, 1), one
// at a time in an otherwise empty cache, under keys that differ in every
// part: each must be stored, whichever shard or slot its key falls in.
func testCacheSmallAlwaysStored(t T, newCache CacheFactory) {
	for _, asked := range []int64{1000, 1 << 20} {
		h := cacheHarness{t, newCacheOrFatal(t, newCache, asked)}
		capacity, ok := h.capacity()
		if !ok {
			return
		}
		small := alwaysStored(capacity)
		budget := newFailBudget(t, 3)
		for i := uint64(0); i < 256 && !budget.exhausted(); i++ {
			k := interfaces.CacheKey{Namespace: i * 0x9e3779b97f4a7c15, File: i % 7, Offset: i * 4096}
			v := cacheValue(k, i, 40)
			h.set(k, v, small)
			got, hit := h.get(k)
			if !hit || !bytes.Equal(got, v) {
				budget.errorf("capacity %d: Set(%v, charge %d) in an empty cache, then Get: hit %v; "+
					"an entry charged max(Capacity/64, 1) must always be stored", capacity, k, small, hit)
			}
			h.del(k)
		}
		expectStats(t, h, fmt.Sprintf("capacity %d: after 256 Set, Get, Delete of entries charged %d", capacity, small),
			interfaces.CacheStats{Hits: 256, Inserts: 256})
	}
}

// testCacheRefusals sets charges between max(Capacity/64, 1) and Capacity
// over a stored entry. The cache may store or refuse each; Inserts tells
// which, and everything else must agree with it: a stored entry is found
// (it is the newest, and a lone entry of at most Capacity need evict
// nothing but older ones); a refused one is not, took the old entry with
// it, and counted no eviction.
func testCacheRefusals(t T, newCache CacheFactory) {
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 1000)}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	small := alwaysStored(capacity)
	for i, charge := range []int64{small + 1, capacity / 2, capacity - 1, capacity} {
		if charge <= small {
			continue // a tiny capacity: nothing lies between
		}
		k := interfaces.CacheKey{Namespace: 2, File: uint64(i), Offset: 77}
		h.set(k, cacheValue(k, 1, 40), small)
		before, ok := h.stats()
		if !ok {
			return
		}
		v := cacheValue(k, 2, 40)
		h.set(k, v, charge)
		after, ok := h.stats()
		if !ok {
			return
		}
		got, hit := h.get(k)
		when := fmt.Sprintf("Set(%v, charge %d) over an entry charged %d, capacity %d", k, charge, small, capacity)
		switch after.Inserts - before.Inserts {
		case 1: // stored
			if !hit || !bytes.Equal(got, v) {
				t.Errorf("%s counted an insert, but Get then hit %v with another value; want the value just set", when, hit)
			}
			if after.Bytes < charge {
				t.Errorf("%s counted an insert, but Stats().Bytes = %d", when, after.Bytes)
			}
		case 0: // refused
			if hit {
				old, ver, _ := valueKey(got)
				t.Errorf("%s was refused (no insert counted), yet Get hit %v version %d; "+
					"a refused Set must remove the old entry", when, old, ver)
			}
			if after.Evictions != before.Evictions || after.Entries != before.Entries-1 || after.Bytes != before.Bytes-small {
				t.Errorf("%s was refused: evictions %+d, entries %+d, bytes %+d; want no eviction and the old entry removed",
					when, after.Evictions-before.Evictions, after.Entries-before.Entries, after.Bytes-before.Bytes)
			}
		default:
			t.Errorf("%s changed Stats().Inserts by %d", when, after.Inserts-before.Inserts)
		}
		if after.Bytes > capacity {
			t.Errorf("after %s, Stats().Bytes = %d > Capacity %d", when, after.Bytes, capacity)
		}
		h.del(k)
	}
}

func testCacheEvictions(t T, newCache CacheFactory) {
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 1000)}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	// Charges a cache must store, three cache sizes of them.
	charge := alwaysStored(capacity)
	n := 3*capacity/charge + 1
	budget := newFailBudget(t, 5)
	for i := int64(1); i <= n && !budget.exhausted(); i++ {
		k := interfaces.CacheKey{Namespace: 3, File: uint64(i % 2), Offset: uint64(i)}
		h.set(k, cacheValue(k, 1, 64), charge)
		st, ok := h.stats()
		if !ok {
			return
		}
		switch {
		case st.Bytes > capacity:
			budget.errorf("after %d Sets of charge %d, Stats().Bytes = %d > Capacity %d", i, charge, st.Bytes, capacity)
		case st.Inserts != i:
			budget.errorf("after %d Sets of new keys charged %d (at most Capacity/64), Stats().Inserts = %d", i, charge, st.Inserts)
		case st.Entries+st.Evictions != st.Inserts:
			budget.errorf("after %d Sets of new keys: Entries %d + Evictions %d != Inserts %d", i, st.Entries, st.Evictions, st.Inserts)
		case st.Bytes != st.Entries*charge:
			budget.errorf("after %d Sets of charge %d: %d entries but %d bytes", i, charge, st.Entries, st.Bytes)
		}
	}
	if st, ok := h.stats(); ok && st.Evictions < n-capacity/charge {
		t.Errorf("%d entries of charge %d in capacity %d: only %d evictions", n, charge, capacity, st.Evictions)
	}

	// Delete is not an eviction.
	h2 := cacheHarness{t, newCacheOrFatal(t, newCache, 1000)}
	capacity2, ok := h2.capacity()
	if !ok {
		return
	}
	charge2 := max(alwaysStored(capacity2)/3, 1)
	for i := uint64(0); i < 3; i++ {
		k := interfaces.CacheKey{Namespace: 4, Offset: i}
		h2.set(k, cacheValue(k, 1, 64), charge2)
	}
	before, ok := h2.stats()
	if !ok {
		return
	}
	h2.del(interfaces.CacheKey{Namespace: 4, Offset: 1})
	want := before
	want.Entries, want.Bytes = before.Entries-1, before.Bytes-charge2
	expectStats(t, h2, "after 3 small Sets and a Delete", want)
}

func testCacheKeyParts(t T, newCache CacheFactory) {
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 1<<20)}
	base := interfaces.CacheKey{Namespace: 10, File: 20, Offset: 30}
	keys := []interfaces.CacheKey{
		base,
		{Namespace: 11, File: 20, Offset: 30},
		{Namespace: 10, File: 21, Offset: 30},
		{Namespace: 10, File: 20, Offset: 31},
		// Parts swapped, so a cache that mixes them up collides.
		{Namespace: 20, File: 10, Offset: 30},
		{Namespace: 10, File: 30, Offset: 20},
		{Namespace: 30, File: 20, Offset: 10},
		{},
	}
	for i, k := range keys {
		h.set(k, cacheValue(k, uint64(i), 48), 48)
	}
	check := func(when string, deleted int) {
		for i, k := range keys {
			v, ok := h.get(k)
			switch {
			case i == deleted && ok:
				t.Errorf("%s: Get(%v) hit after its Delete", when, k)
			case i == deleted:
			case !ok:
				t.Errorf("%s: Get(%v) missed in a nearly empty cache", when, k)
			default:
				if got, ver, _ := valueKey(v); got != k || ver != uint64(i) {
					t.Errorf("%s: Get(%v) returned the value set under %v: Namespace, File and Offset must all be part of the key", when, k, got)
				}
			}
		}
	}
	check("after setting keys that differ in one part", -1)
	h.del(keys[1])
	check("after deleting the key that differs only in Namespace", 1)
}

// cacheModel is what the cache may hold: for each key, the value last set
// with a storable charge, unless deleted since. A hit must return it; an
// absent key must miss.
type cacheModel struct {
	entries map[interfaces.CacheKey]modelEntry
}

type modelEntry struct {
	value  []byte
	charge int64
}

func testCacheRandomOps(t T, newCache CacheFactory, s int64) {
	r := partRand(s, "RandomOps")
	ops := 20000
	if short(t) {
		ops = 3000
	}
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 16<<10)}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	var keys []interfaces.CacheKey
	for ns := uint64(1); ns <= 3; ns++ {
		for f := uint64(0); f < 4; f++ {
			for off := uint64(0); off < 25; off++ {
				keys = append(keys, interfaces.CacheKey{Namespace: ns, File: f, Offset: off * 4096})
			}
		}
	}
	small := alwaysStored(capacity)
	charges := func() int64 {
		switch x := r.IntN(100); {
		case x < 3:
			return 0
		case x < 5:
			return -int64(r.IntN(100))
		case x < 7:
			return capacity + 1 + int64(r.IntN(int(capacity)))
		case x < 8:
			return capacity
		case x < 10:
			return capacity/2 + int64(r.IntN(int(capacity/2)))
		case x < 40:
			return 1 + int64(r.IntN(64))
		case x < 60:
			// Charges every cache stores, so that a cache refusing the
			// larger ones still fills and evicts.
			return 1 + int64(r.IntN(int(small)))
		default:
			return 100 + int64(r.IntN(2000))
		}
	}
	model := cacheModel{entries: map[interfaces.CacheKey]modelEntry{}}
	var gets, hits int64
	var stored int64 // Sets the cache stored, by the model
	prev, ok := h.stats()
	if !ok {
		return
	}
	budget := newFailBudget(t, 5)
	var version uint64
	for op := 0; op < ops && !budget.exhausted(); op++ {
		k := keys[r.IntN(len(keys))]
		var what string
		// kind is what the call was: 0 a Get, 1 a stored Set, 2 a stored
		// Set of a key certainly not in the cache, 3 a refused Set, 4 a
		// Delete; 5 a Set that may be stored or refused, until Stats tells.
		var kind int
		var setValue []byte
		var setCharge int64
		switch x := r.IntN(10); {
		case x < 5:
			kind, what = 0, fmt.Sprintf("op %d: Get(%v)", op, k)
			gets++
			v, ok := h.get(k)
			me, present := model.entries[k]
			if ok {
				hits++
				switch {
				case !present:
					got, ver, _ := valueKey(v)
					budget.errorf("%s hit a key that must be absent (deleted, never set, or refused); the value is %v version %d", what, got, ver)
				case !bytes.Equal(v, me.value):
					got, ver, _ := valueKey(v)
					want, wantVer, _ := valueKey(me.value)
					budget.errorf("%s returned the value of %v version %d; want %v version %d", what, got, ver, want, wantVer)
				}
			}
		case x < 9:
			version++
			raw := charges()
			charge := normCharge(raw)
			setValue, setCharge = cacheValue(k, version, 32+r.IntN(96)), charge
			what = fmt.Sprintf("op %d: Set(%v, version %d, charge %d)", op, k, version, raw)
			h.set(k, setValue, raw)
			switch {
			case charge > capacity:
				kind = 3 // refused
			case charge <= small:
				kind = 1 // stored
			default:
				kind = 5 // stored or refused; Inserts tells which
			}
		default:
			kind, what = 4, fmt.Sprintf("op %d: Delete(%v)", op, k)
			h.del(k)
			delete(model.entries, k)
		}

		st, ok := h.stats()
		if !ok {
			return
		}
		dEntries, dEvict, dInserts := st.Entries-prev.Entries, st.Evictions-prev.Evictions, st.Inserts-prev.Inserts
		if kind == 5 {
			kind = 3
			if dInserts == 1 {
				kind = 1
			}
		}
		switch kind {
		case 1:
			stored++
			if _, wasPresent := model.entries[k]; !wasPresent {
				kind = 2 // the key is certainly new to the cache
			}
			model.entries[k] = modelEntry{value: setValue, charge: setCharge}
		case 3:
			delete(model.entries, k)
		}
		switch {
		case st.Bytes > capacity:
			budget.errorf("%s: Stats().Bytes = %d > Capacity %d", what, st.Bytes, capacity)
		case st.Entries < 0 || st.Entries > st.Bytes:
			budget.errorf("%s: Stats() has %d entries and %d bytes; every entry is charged at least 1", what, st.Entries, st.Bytes)
		case st.Hits != hits || st.Misses != gets-hits:
			budget.errorf("%s: Stats() counts %d hits and %d misses; the Gets so far found %d and missed %d", what, st.Hits, st.Misses, hits, gets-hits)
		case st.Inserts != stored:
			budget.errorf("%s: Stats().Inserts = %d; %d Sets had a charge the cache must store or showed it stored", what, st.Inserts, stored)
		case dEvict < 0:
			budget.errorf("%s: Stats().Evictions went down by %d", what, -dEvict)
		case kind == 0 && (dEntries != 0 || dEvict != 0 || st.Bytes != prev.Bytes):
			budget.errorf("%s: a Get changed Entries by %d, Evictions by %d, Bytes by %d", what, dEntries, dEvict, st.Bytes-prev.Bytes)
		case kind == 1 && dEntries+dEvict != 0 && dEntries+dEvict != 1:
			budget.errorf("%s: a stored Set changed Entries by %d with %d evictions; want Entries + Evictions to grow by 0 (a replacement) or 1", what, dEntries, dEvict)
		case kind == 2 && dEntries+dEvict != 1:
			budget.errorf("%s: a Set of a key not in the cache changed Entries by %d with %d evictions; want Entries + Evictions to grow by 1", what, dEntries, dEvict)
		case (kind == 1 || kind == 2) && dInserts != 1:
			budget.errorf("%s: a stored Set changed Inserts by %d", what, dInserts)
		case kind >= 3 && (dEvict != 0 || (dEntries != 0 && dEntries != -1)):
			budget.errorf("%s: a refused Set or a Delete changed Entries by %d with %d evictions; want at most one entry removed and none evicted", what, dEntries, dEvict)
		}
		prev = st

		if (op+1)%1000 == 0 || op == ops-1 {
			if !probeAllKeys(t, h, budget, keys, model, &gets, &hits, fmt.Sprintf("checkpoint after op %d", op)) {
				return
			}
			if prev, ok = h.stats(); !ok {
				return
			}
		}
	}
}

// probeAllKeys Gets every key: each hit must hold the model's value, and
// the hits must add up to Stats().Entries and Stats().Bytes. It counts its
// Gets into gets and hits.
func probeAllKeys(t T, h cacheHarness, budget *failBudget, keys []interfaces.CacheKey, model cacheModel, gets, hits *int64, when string) bool {
	t.Helper()
	before, ok := h.stats()
	if !ok {
		return false
	}
	var found, bytesFound int64
	for _, k := range keys {
		v, ok := h.get(k)
		*gets++
		if !ok {
			continue
		}
		*hits++
		me, present := model.entries[k]
		if !present || !bytes.Equal(v, me.value) {
			got, ver, _ := valueKey(v)
			budget.errorf("%s: Get(%v) returned a value of %v version %d that it must not hold", when, k, got, ver)
			continue
		}
		found++
		bytesFound += me.charge
	}
	if found != before.Entries || bytesFound != before.Bytes {
		budget.errorf("%s: a probe of every key found %d entries charged %d; Stats() says %d entries, %d bytes",
			when, found, bytesFound, before.Entries, before.Bytes)
	}
	return true
}

func testCacheConcurrent(t T, newCache CacheFactory, s int64) {
	workers, ops := 8, 3000
	if short(t) {
		workers, ops = 4, 500
	}
	h := cacheHarness{t, newCacheOrFatal(t, newCache, 64<<10)}
	capacity, ok := h.capacity()
	if !ok {
		return
	}
	budget := newFailBudget(t, 5)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := partRand(s, fmt.Sprintf("Concurrent/%d", w))
			// Private keys: only this worker writes them, so it knows what
			// a hit must return.
			private := map[interfaces.CacheKey][]byte{}
			var version uint64
			for op := 0; op < ops && !budget.exhausted(); op++ {
				var k interfaces.CacheKey
				mine := r.IntN(2) == 0
				if mine {
					k = interfaces.CacheKey{Namespace: 1000 + uint64(w), File: uint64(r.IntN(4)), Offset: uint64(r.IntN(16))}
				} else {
					// Shared keys differ from each other in one part only.
					k = interfaces.CacheKey{Namespace: uint64(r.IntN(2)), File: uint64(r.IntN(4)), Offset: uint64(r.IntN(16))}
				}
				switch x := r.IntN(10); {
				case x < 5:
					v, ok := h.get(k)
					if !ok {
						continue
					}
					got, _, valid := valueKey(v)
					if !valid || got != k {
						budget.errorf("worker %d: Get(%v) returned the value of %v", w, k, got)
						continue
					}
					if want, ok := private[k]; mine && (!ok || !bytes.Equal(v, want)) {
						budget.errorf("worker %d: Get(%v) of a key only it writes returned another version than it last set", w, k)
					}
				case x < 9:
					version++
					v := cacheValue(k, version, 32+r.IntN(1024))
					h.set(k, v, int64(len(v)))
					if mine {
						private[k] = v
					}
				default:
					h.del(k)
					if mine {
						delete(private, k)
					}
				}
				if op%50 == 0 {
					if st, ok := h.stats(); ok && (st.Bytes > capacity || st.Bytes < 0) {
						budget.errorf("worker %d: Stats().Bytes = %d with Capacity %d", w, st.Bytes, capacity)
					}
				}
			}
		}()
	}
	wg.Wait()
	if st, ok := h.stats(); ok {
		if st.Bytes > capacity {
			t.Errorf("after the concurrent run, Stats().Bytes = %d > Capacity %d", st.Bytes, capacity)
		}
		if st.Entries > st.Bytes || st.Entries < 0 {
			t.Errorf("after the concurrent run, Stats() has %d entries and %d bytes", st.Entries, st.Bytes)
		}
	}
}

func testCacheHotKeys(t T, newCache CacheFactory) {
	c := newCacheOrFatal(t, newCache, 1<<20)
	h := cacheHarness{t, c}
	var d interfaces.Descriptor
	if !guardPart(t, "Describe", func() { d = c.Describe() }) {
		return
	}
	if !d.Has(interfaces.CapHotKeys) {
		keys, err := h.hotKeys(5, 10)
		if err != errPartPanicked && !errors.Is(err, interfaces.ErrUnsupported) {
			t.Errorf("HotKeys without CapHotKeys: %d keys, err %v; want ErrUnsupported", len(keys), err)
		}
		t.Logf("%s does not claim %s: checked that HotKeys is unsupported", d.Name, interfaces.CapHotKeys)
		return
	}

	// Four databases share the cache. Their keys differ only in Namespace,
	// the last namespace differs from the first in its top bit only, and
	// the other namespaces' entries are set later and read more, so that
	// they are the hottest: a cache that filters its hottest keys by
	// namespace after limiting them returns too few of the first's.
	const ns = 5
	namespaces := []uint64{ns, 6, 0, 1<<63 | ns}
	present := map[uint64]map[interfaces.CacheKey]bool{}
	for _, n := range namespaces {
		present[n] = map[interfaces.CacheKey]bool{}
	}
	key := func(n, i uint64) interfaces.CacheKey {
		return interfaces.CacheKey{Namespace: n, File: i / 5, Offset: i}
	}
	for _, n := range namespaces {
		for i := uint64(0); i < 20; i++ {
			k := key(n, i)
			h.set(k, cacheValue(k, 1, 64), 64)
			present[n][k] = true
		}
	}
	for i := uint64(0); i < 20; i += 3 {
		h.get(key(ns, i))
	}
	for _, n := range namespaces[1:] {
		for range 2 {
			for i := uint64(0); i < 20; i++ {
				h.get(key(n, i))
			}
		}
	}
	// Delete some entries of every namespace, and replace one of the
	// first's with a charge above Capacity, which removes it.
	for _, n := range namespaces {
		for i := uint64(1); i < 20; i += 4 {
			h.del(key(n, i))
			delete(present[n], key(n, i))
		}
	}
	if capacity, ok := h.capacity(); ok {
		k := key(ns, 2)
		h.set(k, cacheValue(k, 2, 64), capacity+1)
		delete(present[ns], k)
	}

	before, ok := h.stats()
	if !ok {
		return
	}
	budget := newFailBudget(t, 8)
	for _, n := range append(namespaces, 7) {
		in := present[n]
		for _, limit := range []int{-1, 0, 1, 3, len(in) - 1, len(in), len(in) + 1, 1000} {
			keys, err := h.hotKeys(n, limit)
			if err != nil {
				if err != errPartPanicked {
					budget.errorf("HotKeys(%d, %d): %v", n, limit, err)
				}
				continue
			}
			if want := min(max(limit, 0), len(in)); len(keys) != want {
				budget.errorf("HotKeys(%d, %d) returned %d keys; namespace %d has %d entries present, so want %d "+
					"(up to limit, and fewer only when the namespace has no more)", n, limit, len(keys), n, len(in), want)
			}
			seen := map[interfaces.CacheKey]bool{}
			for _, k := range keys {
				switch {
				case k.Namespace != n:
					budget.errorf("HotKeys(%d, %d) returned %v, a key of namespace %d", n, limit, k, k.Namespace)
				case seen[k]:
					budget.errorf("HotKeys(%d, %d) returned %v twice", n, limit, k)
				case !in[k]:
					budget.errorf("HotKeys(%d, %d) returned %v, which is not in the cache", n, limit, k)
				}
				seen[k] = true
			}
		}
	}
	after, ok := h.stats()
	if ok && (after.Hits != before.Hits || after.Misses != before.Misses || after.Inserts != before.Inserts ||
		after.Evictions != before.Evictions || after.Entries != before.Entries || after.Bytes != before.Bytes) {
		t.Errorf("HotKeys changed the counters: before %+v, after %+v", before, after)
	}
}

func testCacheClose(t T, newCache CacheFactory) {
	c := newCacheOrFatal(t, newCache, 1<<20)
	h := cacheHarness{t, c}
	k := interfaces.CacheKey{Namespace: 9, File: 1, Offset: 2}
	h.set(k, cacheValue(k, 1, 64), 64)
	var d interfaces.Descriptor
	if !guardPart(t, "Describe", func() { d = c.Describe() }) {
		return
	}
	var err error
	if !guardPart(t, "Close", func() { err = c.Close() }) {
		return
	}
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	if v, ok := h.get(k); ok {
		t.Errorf("Get after Close hit (%d bytes); it must miss", len(v))
	}
	k2 := interfaces.CacheKey{Namespace: 9, File: 1, Offset: 3}
	h.set(k2, cacheValue(k2, 1, 64), 64)
	if v, ok := h.get(k2); ok {
		t.Errorf("Set after Close stored an entry (%d bytes); it must do nothing", len(v))
	}
	h.del(k)
	keys, err := h.hotKeys(9, 10)
	switch {
	case err == errPartPanicked:
	case errors.Is(err, interfaces.ErrClosed):
	case !d.Has(interfaces.CapHotKeys) && errors.Is(err, interfaces.ErrUnsupported):
	default:
		t.Errorf("HotKeys after Close: %d keys, err %v; want ErrClosed", len(keys), err)
	}
	if capacity, ok := h.capacity(); ok {
		if st, ok := h.stats(); ok && st.Bytes > capacity {
			t.Errorf("after Close, Stats().Bytes = %d > Capacity %d", st.Bytes, capacity)
		}
	}
	if guardPart(t, "a second Close", func() { err = c.Close() }) && err != nil && !errors.Is(err, interfaces.ErrClosed) {
		t.Errorf("a second Close: %v; want nil or ErrClosed", err)
	}
}
