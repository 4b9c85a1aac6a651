package lsm_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/vfs"
)

const (
	benchKeySize   = 16
	benchValueSize = 100
)

// benchKey writes the 16-byte key of i into k: a scattered prefix, so keys
// arrive in random order, then i, so they are unique.
func benchKey(k []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(k, i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(k[8:], i)
	return k
}

// benchValue returns a value that compresses about as well as the
// benchmark harness's: half random bytes, half repeated.
func benchValue(rng *rand.Rand) []byte {
	v := make([]byte, benchValueSize)
	for i := 0; i < benchValueSize/2; i++ {
		v[i] = byte(rng.Uint32())
	}
	return v
}

// openBench opens an engine with default options on the OS file system.
func openBench(b *testing.B, opts lsm.Options) *lsm.Engine {
	b.Helper()
	if opts.Dir == "" {
		opts.Dir = b.TempDir()
	}
	e, err := lsm.New(opts, lsm.Deps{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// benchmarkFill applies b.N random keys in batches of batch entries, one
// ts per batch, and reports ns per key.
func benchmarkFill(b *testing.B, batch int) {
	e := openBench(b, lsm.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	value := benchValue(rng)
	keys := make([]byte, benchKeySize*batch)
	entries := make([]interfaces.Entry, batch)
	b.SetBytes(int64(benchKeySize + benchValueSize))
	b.ReportAllocs()
	b.ResetTimer()
	ts := uint64(0)
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		ts++
		for j := range n {
			k := benchKey(keys[j*benchKeySize:(j+1)*benchKeySize], uint64(i+j))
			entries[j] = interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: value}
		}
		if err := e.Apply(entries[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkFillRandomBatch1000 applies random 16-byte keys with 100-byte
// values in Applies of 1,000 entries; ns/op is per key.
func BenchmarkFillRandomBatch1000(b *testing.B) { benchmarkFill(b, 1000) }

// BenchmarkFillRandomSingle applies one entry per Apply.
func BenchmarkFillRandomSingle(b *testing.B) { benchmarkFill(b, 1) }

// loadBench fills an engine with n keys (one version each), flushes it and
// lets compactions settle.
func loadBench(b *testing.B, e *lsm.Engine, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	value := benchValue(rng)
	keys := make([]byte, benchKeySize*1000)
	entries := make([]interfaces.Entry, 0, 1000)
	ts := uint64(0)
	for i := 0; i < n; i += 1000 {
		ts++
		entries = entries[:0]
		for j := 0; j < 1000 && i+j < n; j++ {
			k := benchKey(keys[j*benchKeySize:(j+1)*benchKeySize], uint64(i+j))
			entries = append(entries, interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: value})
		}
		if err := e.Apply(entries); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Compact(interfaces.KeyRange{}); err != nil {
		b.Fatal(err)
	}
}

const benchLoadKeys = 1_000_000

// benchCache is an unbounded block cache for the benchmarks: the whole
// database fits, as it fits in the harness's 256 MiB cache.
type benchCache struct {
	mu sync.RWMutex
	m  map[interfaces.CacheKey][]byte
}

func (c *benchCache) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCache, Name: "bench-map", Version: "0", ContractVersion: interfaces.CacheContractVersion}
}

func (c *benchCache) Get(k interfaces.CacheKey) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *benchCache) Set(k interfaces.CacheKey, v []byte, _ int64) {
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
}

func (c *benchCache) Delete(k interfaces.CacheKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *benchCache) Capacity() int64              { return 1 << 40 }
func (c *benchCache) Stats() interfaces.CacheStats { return interfaces.CacheStats{} }
func (c *benchCache) Close() error                 { return nil }
func (c *benchCache) HotKeys(uint64, int) ([]interfaces.CacheKey, error) {
	return nil, interfaces.ErrUnsupported
}

// benchmarkGet reads random present keys of 1,000,000 after a full
// compaction; warm when a block cache holds every block, otherwise through
// the OS page cache.
func benchmarkGet(b *testing.B, cache interfaces.Cache) {
	dir := b.TempDir()
	e, err := lsm.New(lsm.Options{Dir: dir}, lsm.Deps{FS: vfs.Default, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	loadBench(b, e, benchLoadKeys)
	rng := rand.New(rand.NewPCG(5, 6))
	key := make([]byte, benchKeySize)
	if cache != nil {
		// Warm the cache: one pass over every block.
		for i := uint64(0); i < benchLoadKeys; i += 10 {
			if _, _, err := e.Get(benchKey(key, i), interfaces.MaxTs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchKey(key, rng.Uint64N(benchLoadKeys))
		if _, _, err := e.Get(key, interfaces.MaxTs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads random present keys with every block cached: the
// point-read path, allocating only the returned value.
func BenchmarkGet(b *testing.B) {
	benchmarkGet(b, &benchCache{m: map[interfaces.CacheKey][]byte{}})
}

// BenchmarkGetNoCache reads random present keys without a block cache:
// each Get reads and decodes a block (from the OS page cache).
func BenchmarkGetNoCache(b *testing.B) { benchmarkGet(b, nil) }

// BenchmarkGetMemtable reads random present keys from the memtable.
func BenchmarkGetMemtable(b *testing.B) {
	e := openBench(b, lsm.Options{})
	const n = 200_000
	rng := rand.New(rand.NewPCG(3, 4))
	value := benchValue(rng)
	entries := make([]interfaces.Entry, 0, 1000)
	for i := 0; i < n; i += 1000 {
		entries = entries[:0]
		for j := range 1000 {
			entries = append(entries, interfaces.Entry{Key: benchKey(make([]byte, benchKeySize), uint64(i+j)), Ts: uint64(i/1000 + 1), Kind: interfaces.KindSet, Value: value})
		}
		if err := e.Apply(entries); err != nil {
			b.Fatal(err)
		}
	}
	key := make([]byte, benchKeySize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchKey(key, rng.Uint64N(n))
		if _, _, err := e.Get(key, interfaces.MaxTs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkScan(b *testing.B, reverse bool) {
	e := openBench(b, lsm.Options{})
	loadBench(b, e, benchLoadKeys)
	it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: reverse})
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	b.ReportAllocs()
	b.ResetTimer()
	ok := it.First()
	for i := 0; i < b.N; i++ {
		if !ok {
			ok = it.First()
		}
		ok = it.Next()
	}
}

// BenchmarkScan steps a forward iterator over 1,000,000 keys; per Next.
func BenchmarkScan(b *testing.B) { benchmarkScan(b, false) }

// BenchmarkScanReverse is BenchmarkScan going backward.
func BenchmarkScanReverse(b *testing.B) { benchmarkScan(b, true) }

// zipfian draws ranks in [0, n) with P(k) proportional to 1/(k+1)^theta by
// the algorithm of Gray et al., as YCSB's ZipfianGenerator does; scrambled
// hashes the rank onto [0, n) so the popular keys are scattered, as YCSB's
// "zipfian" request distribution is.
type zipfian struct {
	n                        uint64
	theta, alpha, zetan, eta float64
	rng                      *rand.Rand
}

func newZipfian(n uint64, theta float64, rng *rand.Rand) *zipfian {
	zeta := func(n uint64) float64 {
		s := 0.0
		for i := uint64(1); i <= n; i++ {
			s += 1 / math.Pow(float64(i), theta)
		}
		return s
	}
	z := &zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: zeta(n), rng: rng}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta(2)/z.zetan)
	return z
}

func (z *zipfian) scrambled() uint64 {
	u := z.rng.Float64()
	var r uint64
	switch uz := u * z.zetan; {
	case uz < 1:
		r = 0
	case uz < 1+math.Pow(0.5, z.theta):
		r = 1
	default:
		r = min(uint64(float64(z.n)*math.Pow(z.eta*u-z.eta+1, z.alpha)), z.n-1)
	}
	// FNV-1a over the rank's bytes.
	h := uint64(0xcbf29ce484222325)
	for range 8 {
		h ^= r & 0xff
		h *= 1099511628211
		r >>= 8
	}
	return (h >> 1) % z.n
}

// decimalKey writes i as 16 zero-padded decimal digits, as the comparison
// harness's keys are: inserted records sort after the loaded ones.
func decimalKey(k []byte, i uint64) []byte {
	for p := benchKeySize - 1; p >= 0; p-- {
		k[p] = byte('0' + i%10)
		i /= 10
	}
	return k
}

// BenchmarkYCSBE mimics the comparison harness's YCSB E on the engine
// alone: 1,000,000 decimal keys loaded in random order and compacted, then
// 200,000 Zipfian updates (one Apply each, the discard ts following, as
// the core's garbage collection does with no long reader), so hot keys
// hold versions in the memtable and L0. Each op is then, 95% of the time,
// a scan of 1-100 keys from a Zipfian start through a fresh iterator, and
// otherwise the insert of a new key after every loaded one. ns/op is per
// op.
func BenchmarkYCSBE(b *testing.B) {
	const n = benchLoadKeys
	e, err := lsm.New(lsm.Options{Dir: b.TempDir()},
		lsm.Deps{FS: vfs.Default, Cache: &benchCache{m: map[interfaces.CacheKey][]byte{}}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	value := benchValue(rng)
	ts := uint64(0)
	entries := make([]interfaces.Entry, 0, 1000)
	keys := make([]byte, benchKeySize*1000)
	perm := rng.Perm(n)
	for i := 0; i < n; i += 1000 {
		ts++
		entries = entries[:0]
		for j := 0; j < 1000 && i+j < n; j++ {
			k := decimalKey(keys[j*benchKeySize:(j+1)*benchKeySize], uint64(perm[i+j]))
			entries = append(entries, interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: value})
		}
		if err := e.Apply(entries); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.SetDiscardTs(ts); err != nil {
		b.Fatal(err)
	}
	if err := e.Compact(interfaces.KeyRange{}); err != nil {
		b.Fatal(err)
	}
	z := newZipfian(n, 0.99, rng)
	key := make([]byte, benchKeySize)
	put := func(i uint64) {
		ts++
		ent := []interfaces.Entry{{Key: decimalKey(key, i), Ts: ts, Kind: interfaces.KindSet, Value: value}}
		if err := e.Apply(ent); err != nil {
			b.Fatal(err)
		}
		if ts%1024 == 0 {
			if err := e.SetDiscardTs(ts); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 200_000 {
		put(z.scrambled())
	}
	b.ReportAllocs()
	b.ResetTimer()
	ycsbEOps(b, e, z, n, put)
}

// ycsbEOps runs BenchmarkYCSBE's timed ops; a function of its own so that
// a profile can focus on it.
func ycsbEOps(b *testing.B, e *lsm.Engine, z *zipfian, next uint64, put func(uint64)) {
	key := make([]byte, benchKeySize)
	rng := z.rng
	for range b.N {
		if rng.IntN(100) < 5 {
			put(next)
			next++
			continue
		}
		it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
		if err != nil {
			b.Fatal(err)
		}
		limit := 1 + rng.IntN(100)
		for ok := it.Seek(decimalKey(key, z.scrambled())); ok && limit > 1; ok = it.Next() {
			limit--
		}
		if err := it.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
