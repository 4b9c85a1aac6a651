package btree_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// The benchmarks use the workload shape of the comparison harness
// (/bench): 16-byte keys in random order, 100-byte values that compress
// to about half, on the OS file system.

const (
	benchKeySize   = 16
	benchValueSize = 100
	benchLoadKeys  = 1_000_000
)

// benchKey writes the key of i into k: a scattered prefix, so keys arrive
// in random order, then i, so they are unique.
func benchKey(k []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(k, i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(k[8:], i)
	return k
}

// benchValues is a pool of values cut as the comparison harness cuts them
// (LevelDB db_bench style): each 100-byte value is 50 random printable
// bytes repeated, so it compresses to about half, and no two values
// nearby share more than that.
var benchValues = func() []byte {
	rng := rand.New(rand.NewPCG(11, 12))
	pool := make([]byte, 0, 1<<20)
	for len(pool) < 1<<20 {
		piece := make([]byte, benchValueSize/2)
		for i := range piece {
			piece[i] = byte(' ' + rng.IntN(95))
		}
		pool = append(pool, piece...)
		pool = append(pool, piece...)
	}
	return pool
}()

// benchValue returns the value of key i.
func benchValue(i uint64) []byte {
	n := uint64(len(benchValues) / benchValueSize)
	off := (i % n) * benchValueSize
	return benchValues[off : off+benchValueSize : off+benchValueSize]
}

// benchVariant is one engine configuration the read benchmarks run.
type benchVariant struct {
	name  string
	mmap  bool
	codec bool
}

var benchVariants = []benchVariant{
	{"mmap", true, false},
	{"pread", false, false},
	{"mmap-snappy", true, true},
	{"pread-snappy", false, true},
}

func openBench(b *testing.B, dir string, v benchVariant) *btree.Engine {
	b.Helper()
	deps := btree.Deps{FS: vfs.Default}
	if v.codec {
		deps.Codec = newTestCodec()
	}
	e, err := btree.New(btree.Options{Dir: dir, DisableMMap: !v.mmap, CacheSize: 256 << 20, ShrinkRatio: benchShrinkRatio}, deps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// loaded holds one loaded directory per variant, shared by the read
// benchmarks of one run, and loadedSizes the file sizes its load left:
// after the final Flush, and after Compact.
var (
	loaded      = map[string]string{}
	loadedSizes = map[string][2]int64{}
)

// benchShrinkRatio is Options.ShrinkRatio for the benchmarks (0: the
// default); BTREE_BENCH_NO_SHRINK=1 sets 1, to measure flushes alone.
var benchShrinkRatio = map[bool]float64{true: 1}[os.Getenv("BTREE_BENCH_NO_SHRINK") == "1"]

// loadedEngine returns an engine over n keys (one version each), loaded in
// batches of 1,000, flushed and compacted, then reopened.
func loadedEngine(b *testing.B, v benchVariant) *btree.Engine {
	b.Helper()
	key := fmt.Sprintf("%v", v.codec)
	dir, ok := loaded[key]
	if !ok {
		var err error
		dir, err = os.MkdirTemp("", "btree-bench-")
		if err != nil {
			b.Fatal(err)
		}
		e := openBench(b, dir, v)
		keys := make([]byte, benchKeySize*1000)
		entries := make([]interfaces.Entry, 0, 1000)
		ts := uint64(0)
		for i := 0; i < benchLoadKeys; i += 1000 {
			ts++
			entries = entries[:0]
			for j := 0; j < 1000 && i+j < benchLoadKeys; j++ {
				k := benchKey(keys[j*benchKeySize:(j+1)*benchKeySize], uint64(i+j))
				entries = append(entries, interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: benchValue(uint64(i + j))})
			}
			if err := e.Apply(entries); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := e.Flush(); err != nil {
			b.Fatal(err)
		}
		st, _ := e.Stats()
		flushed := st.DiskBytes
		if err := e.Compact(interfaces.KeyRange{}); err != nil {
			b.Fatal(err)
		}
		st, _ = e.Stats()
		loadedSizes[key] = [2]int64{flushed, st.DiskBytes}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
		loaded[key] = dir
	}
	return openBench(b, dir, v)
}

// warm reads every leaf once, so that the benchmark that follows measures
// a warm cache, as a long-running database has.
func warm(b *testing.B, e *btree.Engine) {
	b.Helper()
	it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	if err != nil {
		b.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
	}
	if err := it.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkGet(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			warm(b, e)
			rng := rand.New(rand.NewPCG(5, 6))
			key := make([]byte, benchKeySize)
			// Warm the cache.
			for i := 0; i < benchLoadKeys; i += 7 {
				if _, _, err := e.Get(benchKey(key, uint64(i)), interfaces.MaxTs); err != nil {
					b.Fatal(err)
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
		})
	}
}

// BenchmarkGetParallel2 is BenchmarkGet from two goroutines; ns/op is per
// Get of either.
func BenchmarkGetParallel2(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			warm(b, e)
			key := make([]byte, benchKeySize)
			for i := 0; i < benchLoadKeys; i += 7 {
				if _, _, err := e.Get(benchKey(key, uint64(i)), interfaces.MaxTs); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			errs := make(chan error, 2)
			b.ReportAllocs()
			b.ResetTimer()
			for g := range 2 {
				go func() {
					rng := rand.New(rand.NewPCG(5, uint64(g)))
					key := make([]byte, benchKeySize)
					for next.Add(1) <= int64(b.N) {
						benchKey(key, rng.Uint64N(benchLoadKeys))
						if _, _, err := e.Get(key, interfaces.MaxTs); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileSize reports the size of the file holding the loaded keys
// (1,000,000 of 16-byte keys and 100-byte values, 110 MiB of data, loaded
// in random order in batches of 1,000): after the final Flush, and after
// Compact.
func BenchmarkFileSize(b *testing.B) {
	for _, v := range []benchVariant{{"plain", true, false}, {"snappy", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			var st interfaces.StorageStats
			for i := 0; i < b.N; i++ {
				var err error
				if st, err = e.Stats(); err != nil {
					b.Fatal(err)
				}
			}
			sizes := loadedSizes[fmt.Sprintf("%v", v.codec)]
			b.ReportMetric(float64(sizes[0])/(1<<20), "MiB-flushed")
			b.ReportMetric(float64(sizes[1])/(1<<20), "MiB-compacted")
			b.ReportMetric(float64(sizes[1])/benchLoadKeys, "B/key")
			b.ReportMetric(float64(st.Metrics["btree.height"]), "height")
		})
	}
}

func BenchmarkScan100(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			warm(b, e)
			rng := rand.New(rand.NewPCG(7, 8))
			key := make([]byte, benchKeySize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for ok := it.Seek(benchKey(key, rng.Uint64N(benchLoadKeys))); ok && n < 100; ok = it.Next() {
					n++
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkScanFull(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
				if err != nil {
					b.Fatal(err)
				}
				for ok := it.First(); ok; ok = it.Next() {
					n++
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

// benchmarkApply applies b.N random keys in batches of batch entries, one
// ts per batch, flushing in the background as the write buffer fills; ns/op
// is per key.
func benchmarkApply(b *testing.B, batch int, codec bool) {
	e := openBench(b, b.TempDir(), benchVariant{mmap: true, codec: codec})
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
			entries[j] = interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: benchValue(uint64(i + j))}
		}
		if err := e.Apply(entries[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func BenchmarkApplyBatch1000(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchmarkApply(b, 1000, false) })
	b.Run("snappy", func(b *testing.B) { benchmarkApply(b, 1000, true) })
}

func BenchmarkApplySingle(b *testing.B) { benchmarkApply(b, 1, false) }

// BenchmarkPutFlush applies one entry and flushes it, each op: the cost of
// a commit (two fsyncs) carrying one version into a tree of 1,000,000.
func BenchmarkPutFlush(b *testing.B) {
	for _, v := range []benchVariant{{"plain", true, false}, {"snappy", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			rng := rand.New(rand.NewPCG(13, 14))
			ts, err := e.DurableTs()
			if err != nil {
				b.Fatal(err)
			}
			key := make([]byte, benchKeySize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts++
				k := rng.Uint64N(benchLoadKeys)
				en := interfaces.Entry{Key: benchKey(key, k), Ts: ts, Kind: interfaces.KindSet, Value: benchValue(k + ts)}
				if err := e.Apply([]interfaces.Entry{en}); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFlush measures a Flush of a write buffer of 100,000 random keys
// into a tree of 1,000,000; ns/op is per flush.
func BenchmarkFlush(b *testing.B) {
	for _, v := range []benchVariant{{"plain", true, false}, {"snappy", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			rng := rand.New(rand.NewPCG(9, 10))
			ts, err := e.DurableTs()
			if err != nil {
				b.Fatal(err)
			}
			entries := make([]interfaces.Entry, 1000)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := 0; j < 100; j++ {
					ts++
					for k := range entries {
						i := rng.Uint64N(benchLoadKeys)
						entries[k] = interfaces.Entry{Key: benchKey(make([]byte, benchKeySize), i), Ts: ts, Kind: interfaces.KindSet, Value: benchValue(i + ts)}
						// Keys drawn twice in one batch would share a ts.
						entries[k].Key[15] ^= byte(k)
						entries[k].Key[14] ^= byte(k >> 8)
					}
					if err := e.Apply(entries); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if _, err := e.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	// The model tests make an engine per rapid check: keep their number
	// moderate unless -rapid.checks says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !set {
		n := "100"
		if testing.Short() {
			n = "30"
		}
		_ = f.Value.Set(n)
	}
	code := m.Run()
	for _, dir := range loaded {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// BenchmarkSeek opens an iterator, seeks to a random key and closes it:
// the fixed cost of a short scan.
func BenchmarkSeek(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			e := loadedEngine(b, v)
			warm(b, e)
			rng := rand.New(rand.NewPCG(7, 8))
			key := make([]byte, benchKeySize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
				if err != nil {
					b.Fatal(err)
				}
				if !it.Seek(benchKey(key, rng.Uint64N(benchLoadKeys))) {
					b.Fatal("seek past the end")
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
