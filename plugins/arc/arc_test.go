package arc

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func key(i uint64) interfaces.CacheKey {
	return interfaces.CacheKey{Namespace: 7, File: i % 5, Offset: i * 4096}
}

func newCache(t testing.TB, capacity int64, shards int) *Cache {
	t.Helper()
	c, err := New(Options{Capacity: capacity, Shards: shards})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"one byte, one shard", Options{Capacity: 1, Shards: 1}, true},
		{"defaults", Options{Capacity: 1 << 30}, true},
		{"zero capacity", Options{}, false},
		{"negative capacity", Options{Capacity: -1, Shards: 1}, false},
		{"negative shards", Options{Capacity: 100, Shards: -1}, false},
		{"too many shards", Options{Capacity: 1 << 40, Shards: MaxShards + 1}, false},
		{"max shards", Options{Capacity: 1 << 40, Shards: MaxShards}, true},
		{"more shards than bytes", Options{Capacity: 3, Shards: 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if !tc.ok {
				require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.opts.Capacity, c.Capacity())
			var sum int64
			for _, ss := range c.ShardStats() {
				sum += ss.Capacity
				require.GreaterOrEqual(t, ss.Capacity, c.MaxCharge())
				require.LessOrEqual(t, ss.Capacity, c.MaxCharge()+1)
			}
			require.Equal(t, c.Capacity(), sum, "the shards add up to the capacity")
		})
	}
}

func TestAutoShards(t *testing.T) {
	for _, tc := range []struct {
		capacity int64
		procs    int
		want     int
	}{
		{1, 8, 1},
		{MinAutoShardCapacity, 8, 1},
		{2*MinAutoShardCapacity - 1, 8, 1},
		{2 * MinAutoShardCapacity, 8, 2},
		{3 * MinAutoShardCapacity, 8, 3},
		{1 << 30, 1, 4},
		{1 << 30, 2, 8},
		{1 << 30, 3, 16},
		{1 << 30, 64, 64},
		{1 << 40, 1024, 64},
	} {
		require.Equal(t, tc.want, autoShards(tc.capacity, tc.procs), "autoShards(%d, %d)", tc.capacity, tc.procs)
	}
	o := Options{Capacity: 1 << 30}
	require.Equal(t, autoShards(1<<30, runtimeProcs()), o.EnsureDefaults().Shards)
	o = Options{Capacity: 1 << 30, Shards: 3}
	require.Equal(t, 3, o.EnsureDefaults().Shards, "an explicit shard count is kept")
}

func TestDelta(t *testing.T) {
	for _, tc := range []struct {
		charge, num, den, capacity, want int64
	}{
		{1, 0, 1, 10, 1},   // |B2| < |B1|: δ1 = 1
		{1, 3, 3, 10, 1},   // equal: 1
		{1, 7, 2, 10, 3},   // 7/2 rounded down
		{4, 7, 2, 100, 14}, // in bytes: 4 × 7/2
		{4, 7, 2, 10, 10},  // at most c
		{20, 1, 1, 10, 10}, // a charge above c (cannot happen; still bounded)
		{3, 5, 0, 10, 3},   // no division by zero
		{math.MaxInt64 / 2, math.MaxInt64, 3, math.MaxInt64, math.MaxInt64}, // overflow
		{1 << 40, 1 << 40, 1 << 39, math.MaxInt64, 1 << 41},
	} {
		require.Equal(t, tc.want, delta(tc.charge, tc.num, tc.den, tc.capacity), "delta(%d, %d, %d, %d)", tc.charge, tc.num, tc.den, tc.capacity)
	}
}

func TestDescribe(t *testing.T) {
	c := newCache(t, 100, 1)
	d := c.Describe()
	require.Equal(t, interfaces.KindCache, d.Kind)
	require.Equal(t, Name, d.Name)
	require.Equal(t, interfaces.CacheContractVersion, d.ContractVersion)
	require.True(t, d.Has(interfaces.CapHotKeys))
}

func TestStatsAndMetrics(t *testing.T) {
	c := newCache(t, 1600, 4)
	require.Equal(t, 4, c.Shards())
	gets, misses := 0, 0
	for i := uint64(0); i < 200; i++ {
		c.Set(key(i), []byte{byte(i)}, 10+int64(i%7))
		if i%3 == 0 {
			gets++
			c.Get(key(i / 2))
		}
	}
	// Ghost hits in every shard move p.
	for i := uint64(0); i < 200; i++ {
		gets++
		if _, ok := c.Get(key(i)); !ok {
			misses++
			c.Set(key(i), []byte{byte(i)}, 10+int64(i%7))
		}
	}
	require.NoError(t, c.check())
	st := c.Stats()
	shards := c.ShardStats()
	require.Len(t, shards, 4)
	var sum ShardStats
	for i, ss := range shards {
		sum.Hits += ss.Hits
		sum.Misses += ss.Misses
		sum.Inserts += ss.Inserts
		sum.Evictions += ss.Evictions
		sum.P += ss.P
		sum.T1Bytes += ss.T1Bytes
		sum.T2Bytes += ss.T2Bytes
		sum.B1Bytes += ss.B1Bytes
		sum.B2Bytes += ss.B2Bytes
		sum.T1Entries += ss.T1Entries
		sum.T2Entries += ss.T2Entries
		require.Equal(t, ss.P, st.Metrics[fmt.Sprintf("arc.p.%d", i)])
		require.LessOrEqual(t, ss.T1Bytes+ss.T2Bytes, ss.Capacity)
	}
	require.Equal(t, interfaces.CacheStats{
		Hits: sum.Hits, Misses: sum.Misses, Inserts: sum.Inserts, Evictions: sum.Evictions,
		Entries: int64(sum.T1Entries + sum.T2Entries), Bytes: sum.T1Bytes + sum.T2Bytes, Capacity: 1600,
		Metrics: map[string]int64{
			"arc.p": sum.P, "arc.shards": 4,
			"arc.p.0": shards[0].P, "arc.p.1": shards[1].P, "arc.p.2": shards[2].P, "arc.p.3": shards[3].P,
			"arc.t1.bytes": sum.T1Bytes, "arc.t2.bytes": sum.T2Bytes, "arc.b1.bytes": sum.B1Bytes, "arc.b2.bytes": sum.B2Bytes,
		},
	}, st)
	require.Equal(t, int64(gets), st.Hits+st.Misses, "every Get counted once")
	require.Positive(t, misses)
	require.Equal(t, int64(200+misses), st.Inserts, "every Set counted")
	require.Positive(t, st.Evictions)
	require.Positive(t, sum.P, "ghost hits moved p")
}

// TestMaxCharge: with several shards an entry must fit in its shard.
func TestMaxCharge(t *testing.T) {
	c := newCache(t, 403, 4)
	require.Equal(t, int64(100), c.MaxCharge())
	for i := uint64(0); i < 16; i++ {
		c.Set(key(i), []byte("x"), 100)
		_, ok := c.Get(key(i))
		require.True(t, ok, "a charge of MaxCharge is stored under every key")
	}
	before := c.Stats()
	for i := uint64(0); i < 16; i++ {
		c.Set(key(i), []byte("y"), 102)
		_, ok := c.Get(key(i))
		require.False(t, ok, "a charge above every shard's capacity is not stored, and the old entry goes")
	}
	st := c.Stats()
	require.Equal(t, int64(0), st.Bytes)
	require.Equal(t, before.Inserts, st.Inserts, "a refused Set is not an insert")
	require.Equal(t, before.Evictions, st.Evictions, "a refused Set evicts nothing")
	require.NoError(t, c.check())
}

// TestMaxChargeMeetsContract: whatever the shard count, MaxCharge is at
// least the contract's floor of max(Capacity/64, 1), and every charge up
// to it is stored under any key.
func TestMaxChargeMeetsContract(t *testing.T) {
	for _, capacity := range []int64{64, 1000, 4097, 1 << 20} {
		for _, shards := range []int{1, 2, 7, 63, MaxShards} {
			c := newCache(t, capacity, shards)
			floor := max(capacity/64, 1)
			require.GreaterOrEqual(t, c.MaxCharge(), floor, "capacity %d, %d shards", capacity, shards)
			for i := uint64(0); i < 200; i++ {
				k := interfaces.CacheKey{Namespace: i, File: i * 3, Offset: i << 12}
				c.Set(k, []byte("x"), c.MaxCharge())
				_, ok := c.Get(k)
				require.True(t, ok, "capacity %d, %d shards: a charge of MaxCharge %d was refused", capacity, shards, c.MaxCharge())
				c.Delete(k)
			}
		}
	}
}

func TestHotKeysOrder(t *testing.T) {
	c := newCache(t, 10, 1)
	for i := uint64(1); i <= 6; i++ {
		c.Set(key(i), nil, 1)
	}
	c.Get(key(2))
	c.Get(key(5))
	c.Get(key(3))
	// T1 = [1 4 6] (LRU first), T2 = [2 5 3].
	keys, err := c.HotKeys(7, 100)
	require.NoError(t, err)
	require.Equal(t, []interfaces.CacheKey{key(3), key(5), key(2), key(6), key(4), key(1)}, keys)
	keys, err = c.HotKeys(7, 4)
	require.NoError(t, err)
	require.Equal(t, []interfaces.CacheKey{key(3), key(5), key(2), key(6)}, keys)
	keys, err = c.HotKeys(7, 0)
	require.NoError(t, err)
	require.Empty(t, keys)
	// Ghosts are not hot keys.
	for i := uint64(10); i < 30; i++ {
		c.Set(key(i), nil, 1)
	}
	keys, err = c.HotKeys(7, 100)
	require.NoError(t, err)
	require.Len(t, keys, int(c.Stats().Entries))
}

// TestHotKeysInterleavesShards: the order of HotKeys across shards, with
// other namespaces' entries, hotter than ours, interleaved on every list.
func TestHotKeysInterleavesShards(t *testing.T) {
	c := newCache(t, 1000, 3)
	// Three keys per shard in T2, two in T1.
	perShard := make([][]interfaces.CacheKey, 3)
	for i := uint64(0); len(perShard[0]) < 5 || len(perShard[1]) < 5 || len(perShard[2]) < 5; i++ {
		k := key(i)
		idx := indexOfShard(c, c.shardFor(hashKey(k)))
		if len(perShard[idx]) < 5 {
			perShard[idx] = append(perShard[idx], k)
		}
	}
	foreign := uint64(0)
	setForeign := func(hit bool) {
		for _, ns := range []uint64{0, 8, 7 | 1<<32} {
			foreign++
			k := interfaces.CacheKey{Namespace: ns, File: foreign % 5, Offset: foreign * 4096}
			c.Set(k, nil, 1)
			if hit {
				c.Get(k)
			}
		}
	}
	for _, ks := range perShard {
		for j, k := range ks {
			setForeign(j < 3)
			c.Set(k, nil, 1)
			if j < 3 {
				c.Get(k)
			}
			setForeign(j < 3)
		}
	}
	keys, err := c.HotKeys(7, 100)
	require.NoError(t, err)
	var want []interfaces.CacheKey
	for j := 2; j >= 0; j-- { // T2, most recent first
		for s := range 3 {
			want = append(want, perShard[s][j])
		}
	}
	for j := 4; j >= 3; j-- { // then T1
		for s := range 3 {
			want = append(want, perShard[s][j])
		}
	}
	require.Equal(t, want, keys)
	// A smaller limit takes the front of the same list.
	for limit := range len(want) + 2 {
		keys, err := c.HotKeys(7, limit)
		require.NoError(t, err)
		if limit == 0 {
			require.Empty(t, keys)
			continue
		}
		require.Equal(t, want[:min(limit, len(want))], keys, "limit %d", limit)
	}
	// The other namespaces list their own.
	for _, ns := range []uint64{0, 8, 7 | 1<<32} {
		keys, err := c.HotKeys(ns, 1000)
		require.NoError(t, err)
		require.Len(t, keys, int(foreign/3))
		for _, k := range keys {
			require.Equal(t, ns, k.Namespace)
		}
	}
	keys, err = c.HotKeys(9, 1000)
	require.NoError(t, err)
	require.Empty(t, keys, "a namespace with no entries")
	require.Equal(t, int64(len(want))+int64(foreign), c.Stats().Entries, "nothing was evicted")
}

func indexOfShard(c *Cache, s *shard) int {
	for i := range c.shards {
		if &c.shards[i] == s {
			return i
		}
	}
	panic("not a shard of c")
}

func TestClose(t *testing.T) {
	c := newCache(t, 1000, 2)
	c.Set(key(1), []byte("v"), 10)
	c.Get(key(1))
	require.NoError(t, c.Close())
	_, ok := c.Get(key(1))
	require.False(t, ok)
	c.Set(key(2), []byte("v"), 10)
	_, ok = c.Get(key(2))
	require.False(t, ok)
	c.Delete(key(1))
	_, err := c.HotKeys(7, 10)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	st := c.Stats()
	require.Equal(t, int64(1), st.Hits)
	require.Equal(t, int64(2), st.Misses, "Gets after Close count as misses")
	require.Equal(t, int64(1), st.Inserts)
	require.Zero(t, st.Entries)
	require.Zero(t, st.Bytes)
	require.NoError(t, c.Close(), "a second Close")
	require.NoError(t, c.check())
}

// TestGhostCountBound: entries of charge 1 in a large cache would make the
// charge bounds allow ghosts by the million; the count bound keeps them
// near the resident entries.
func TestGhostCountBound(t *testing.T) {
	c := newCache(t, 1<<20, 1)
	for i := uint64(0); i < 20000; i++ {
		c.Set(key(i), nil, 1)
		c.Set(key(1<<32+i), nil, 4096) // big entries push the small ones out
		if i%2 == 0 {
			c.Delete(key(1<<32 + i))
		}
	}
	require.NoError(t, c.check())
	ss := c.ShardStats()[0]
	ghosts, resident := ss.B1Entries+ss.B2Entries, ss.T1Entries+ss.T2Entries
	require.Positive(t, ghosts)
	require.LessOrEqual(t, ghosts, max(ghostFactor*resident, ghostMin))
}

// TestGetHitDoesNotAllocate: the contract asks that a hit not allocate.
func TestGetHitDoesNotAllocate(t *testing.T) {
	for _, shards := range []int{1, 8} {
		c := newCache(t, 1<<20, shards)
		for i := uint64(0); i < 100; i++ {
			c.Set(key(i), make([]byte, 64), 64)
		}
		var i uint64
		allocs := testing.AllocsPerRun(1000, func() {
			if _, ok := c.Get(key(i % 100)); !ok {
				panic("miss")
			}
			i++
		})
		require.Zero(t, allocs, "%d shards: allocations per hit", shards)
		allocs = testing.AllocsPerRun(1000, func() { c.Get(key(1000 + i)); i++ })
		require.Zero(t, allocs, "%d shards: allocations per miss", shards)
	}
}

// TestScanResistance: a hot set that is read often survives a long
// one-time scan, which flushes an LRU cache completely.
func TestScanResistance(t *testing.T) {
	c := newCache(t, 100*10, 1)
	hot := func(i uint64) interfaces.CacheKey { return key(i) }
	read := func(k interfaces.CacheKey) bool {
		if _, ok := c.Get(k); ok {
			return true
		}
		c.Set(k, nil, 10)
		return false
	}
	for round := 0; round < 3; round++ {
		for i := uint64(0); i < 60; i++ {
			read(hot(i))
		}
	}
	for i := uint64(0); i < 1000; i++ { // a scan of 10 cache sizes
		read(key(1<<20 + i))
	}
	hits := 0
	for i := uint64(0); i < 60; i++ {
		if read(hot(i)) {
			hits++
		}
	}
	require.Equal(t, 60, hits, "every hot entry survived the scan")
}

// TestLoop: a loop over 10% more keys than fit never hits under LRU; ARC
// keeps part of it in T2 and hits there.
func TestLoop(t *testing.T) {
	const n, fit = 110, 100
	c := newCache(t, fit, 1)
	var hits, reads int
	for pass := 0; pass < 50; pass++ {
		for i := uint64(0); i < n; i++ {
			reads++
			if _, ok := c.Get(key(i)); ok {
				hits++
				continue
			}
			c.Set(key(i), nil, 1)
		}
	}
	require.Greater(t, float64(hits)/float64(reads), 0.5, "%d hits in %d reads", hits, reads)
}

func TestConcurrent(t *testing.T) {
	c := newCache(t, 256<<10, 8)
	workers, ops := 8, 20000
	if testing.Short() {
		ops = 3000
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(w)*0x9e3779b97f4a7c15 + 1
			for op := range ops {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				// A skewed key: half the traffic on 64 keys.
				i := x % 4096
				if x>>40%2 == 0 {
					i %= 64
				}
				k := key(i)
				switch x >> 50 % 8 {
				case 0:
					c.Delete(k)
				case 1, 2:
					v := make([]byte, 8+i%2048)
					v[0] = byte(i)
					c.Set(k, v, int64(len(v)))
				default:
					if v, ok := c.Get(k); ok && (len(v) != int(8+i%2048) || v[0] != byte(i)) {
						t.Errorf("Get(%d) returned another key's value", i)
						return
					}
					if op%500 == 0 {
						st := c.Stats()
						if st.Bytes > st.Capacity {
							t.Errorf("Bytes %d > Capacity %d", st.Bytes, st.Capacity)
						}
						if _, err := c.HotKeys(7, 50); err != nil {
							t.Errorf("HotKeys: %v", err)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, c.check())
	st := c.Stats()
	require.Positive(t, st.Hits)
	require.Positive(t, st.Evictions)
	require.LessOrEqual(t, st.Bytes, st.Capacity)
	// Close while others still read and write.
	var wg2 sync.WaitGroup
	for w := range 4 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := range uint64(2000) {
				c.Set(key(i+uint64(w)), []byte{1}, 1)
				c.Get(key(i))
			}
		}()
	}
	require.NoError(t, c.Close())
	wg2.Wait()
	require.Zero(t, c.Stats().Bytes)
	require.NoError(t, c.check())
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// TestShardBalance: keys as engines make them (one namespace, dense file
// numbers, block-aligned offsets) spread evenly, so every shard gets its
// share of the traffic and of the capacity.
func TestShardBalance(t *testing.T) {
	c := newCache(t, 1<<30, 8)
	counts := make([]int, c.Shards())
	const files, blocks = 100, 1000
	for f := uint64(1); f <= files; f++ {
		for b := uint64(0); b < blocks; b++ {
			k := interfaces.CacheKey{Namespace: 0x1234_5678_9abc_def0, File: f, Offset: b * 16 << 10}
			counts[indexOfShard(c, c.shardFor(hashKey(k)))]++
		}
	}
	mean := files * blocks / len(counts)
	for i, n := range counts {
		require.InDelta(t, mean, n, float64(mean)/20, "shard %d holds %d keys; the mean is %d", i, n, mean)
	}
}
