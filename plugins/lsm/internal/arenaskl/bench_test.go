package arenaskl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

const (
	benchKeySize   = 16
	benchValueSize = 100
	benchArena     = 64 << 20
	benchEntries   = 1 << 20
)

// randomKeys returns n random keys of benchKeySize bytes, backed by one
// buffer.
func randomKeys(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, n*benchKeySize)
	keys := make([][]byte, n)
	for i := range keys {
		k := buf[i*benchKeySize : (i+1)*benchKeySize : (i+1)*benchKeySize]
		binary.LittleEndian.PutUint64(k, rng.Uint64())
		binary.LittleEndian.PutUint64(k[8:], rng.Uint64())
		keys[i] = k
	}
	return keys
}

// decimalKeys returns the keys 0 to n-1 in random order, written as
// db_bench writes them: zero-padded decimal, benchKeySize digits, so that
// every key of a million shares its first 8 (indeed 10) bytes.
func decimalKeys(n int, seed uint64) [][]byte {
	buf := make([]byte, 0, n*benchKeySize)
	keys := make([][]byte, n)
	for i, v := range rand.New(rand.NewPCG(seed, seed)).Perm(n) {
		buf = fmt.Appendf(buf, "%0*d", benchKeySize, v)
		keys[i] = buf[len(buf)-benchKeySize : len(buf) : len(buf)]
	}
	return keys
}

// probes returns the keys shuffled into one new buffer, so that a
// benchmark walking them in order reads its search keys sequentially and
// measures only the lookups' own cache misses.
func probes(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	buf := make([]byte, 0, len(keys)*benchKeySize)
	for i, j := range rand.New(rand.NewPCG(5, 6)).Perm(len(keys)) {
		buf = append(buf, keys[j]...)
		out[i] = buf[len(buf)-len(keys[j]):]
	}
	return out
}

// BenchmarkAdd inserts 16-byte keys with 100-byte values into a 64 MiB
// arena, starting over (timer stopped) whenever it fills up, so the list
// holds 0 to ~400K entries, ~200K on average.
func BenchmarkAdd(b *testing.B) {
	val := make([]byte, benchValueSize)
	run := func(b *testing.B, keys [][]byte) {
		l := New(benchArena)
		b.ReportAllocs()
		b.SetBytes(benchKeySize + benchValueSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// A ts per Add keeps keys unique when the pool wraps.
			k := base.MakeInternalKey(keys[i%len(keys)], uint64(i+1), base.KindSet)
			if err := l.Add(k, val); err != nil {
				if err != ErrArenaFull {
					b.Fatal(err)
				}
				b.StopTimer()
				l.Reset()
				b.StartTimer()
				if err := l.Add(k, val); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("random", func(b *testing.B) { run(b, randomKeys(benchEntries, 1)) })
	b.Run("decimal", func(b *testing.B) { run(b, decimalKeys(benchEntries, 1)) })
	b.Run("ascending", func(b *testing.B) {
		keys := randomKeys(benchEntries, 1)
		slices.SortFunc(keys, bytes.Compare)
		run(b, keys)
	})
	// One hot user key, a new version per Add: each sorts just before the
	// previous one, which the splice cache does not catch.
	b.Run("versions", func(b *testing.B) { run(b, [][]byte{randomKeys(1, 2)[0]}) })
}

var benchLists = map[int]*Skiplist{}

// sharedList returns a list of n random 16-byte keys (randomKeys(n, 7))
// with 100-byte values, built once per test binary: 1M entries take about
// 170 MB of arena.
func sharedList(b *testing.B, n int) (*Skiplist, [][]byte) {
	keys := randomKeys(n, 7)
	if l := benchLists[n]; l != nil {
		return l, keys
	}
	l := New(n * (EntrySize(benchKeySize, benchValueSize) + nodeAlign))
	val := make([]byte, benchValueSize)
	for i, k := range keys {
		if err := l.Add(base.MakeInternalKey(k, uint64(i+1), base.KindSet), val); err != nil {
			b.Fatal(err)
		}
	}
	benchLists[n] = l
	return l, keys
}

// benchSizes are the list sizes read benchmarks run on: cache-resident
// (160 KB and 1.6 MB of arena), a full 64 MiB memtable, and 1M entries
// (170 MB).
var benchSizes = []struct {
	name string
	n    int
}{{"1K", 1_000}, {"10K", 10_000}, {"400K", 400_000}, {"1M", benchEntries}}

// BenchmarkSeekGE seeks at random: "hit" is the engine's point lookup of a
// present key (SeekGE to the key at SeekTrailer(MaxTs)), "miss" a key that
// is absent.
func BenchmarkSeekGE(b *testing.B) {
	for _, size := range benchSizes {
		l, keys := sharedList(b, size.n)
		hits, misses := probes(keys), randomKeys(size.n, 99)
		b.Run(size.name+"/hit", func(b *testing.B) {
			var it Iterator
			it.Init(l)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := hits[i%len(hits)]
				if !it.SeekGE(base.InternalKey{UserKey: k, Trailer: base.SeekTrailer(interfaces.MaxTs)}) {
					b.Fatal("not found")
				}
			}
		})
		b.Run(size.name+"/miss", func(b *testing.B) {
			var it Iterator
			it.Init(l)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it.SeekGE(base.InternalKey{UserKey: misses[i%len(misses)], Trailer: base.SeekTrailer(interfaces.MaxTs)})
			}
		})
	}
}

// BenchmarkNext and BenchmarkPrev step through a list whose nodes sit in
// the arena in insertion (random) order, so on the big lists each step is
// a likely cache miss.
func BenchmarkNext(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			l, _ := sharedList(b, size.n)
			var it Iterator
			it.Init(l)
			it.First()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !it.Next() {
					it.First()
				}
			}
		})
	}
}

func BenchmarkPrev(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			l, _ := sharedList(b, size.n)
			var it Iterator
			it.Init(l)
			it.Last()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !it.Prev() {
					it.Last()
				}
			}
		})
	}
}

// BenchmarkPrevBySearch is what Prev would cost without backward links:
// a SeekLT to the current key from the top of the list.
func BenchmarkPrevBySearch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			l, _ := sharedList(b, size.n)
			var it Iterator
			it.Init(l)
			it.Last()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !it.SeekLT(it.Key()) {
					it.Last()
				}
			}
		})
	}
}

// BenchmarkReadWhileWriting runs point lookups from every P while one
// goroutine keeps adding to the same list.
func BenchmarkReadWhileWriting(b *testing.B) {
	keys := randomKeys(benchEntries, 11)
	l := New(2 * benchEntries * (EntrySize(benchKeySize, benchValueSize) + nodeAlign))
	val := make([]byte, benchValueSize)
	for i, k := range keys[:benchEntries/2] {
		if err := l.Add(base.MakeInternalKey(k, uint64(i+1), base.KindSet), val); err != nil {
			b.Fatal(err)
		}
	}
	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := benchEntries / 2; !stop.Load(); i++ {
			k := base.MakeInternalKey(keys[i%len(keys)], uint64(i+1), base.KindSet)
			if l.Add(k, val) != nil {
				return
			}
			writes.Add(1)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var it Iterator
		it.Init(l)
		i := rand.IntN(len(keys))
		for pb.Next() {
			i = (i + 7919) % (benchEntries / 2)
			if !it.SeekGE(base.InternalKey{UserKey: keys[i], Trailer: base.SeekTrailer(interfaces.MaxTs)}) {
				b.Error("not found")
				return
			}
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
	b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
}

// Baselines: a Go map (unordered; the floor for an insert) and binary
// search over a sorted slice (the floor for an ordered read) on the same
// keys.

func BenchmarkBaselineMapInsert(b *testing.B) {
	keys := randomKeys(benchEntries, 1)
	val := make([]byte, benchValueSize)
	const perMap = 400_000 // about what a 64 MiB arena holds
	m := make(map[string][]byte)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(m) == perMap {
			b.StopTimer()
			m = make(map[string][]byte)
			b.StartTimer()
		}
		m[string(keys[i%len(keys)])] = append([]byte(nil), val...)
	}
}

func BenchmarkBaselineSortedSliceSeek(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			keys := randomKeys(size.n, 7)
			hits := probes(keys)
			sorted := make([]base.InternalKey, len(keys))
			for i, k := range keys {
				sorted[i] = base.MakeInternalKey(k, uint64(i+1), base.KindSet)
			}
			slices.SortFunc(sorted, base.Compare)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := base.InternalKey{UserKey: hits[i%len(hits)], Trailer: base.SeekTrailer(interfaces.MaxTs)}
				j, _ := slices.BinarySearchFunc(sorted, k, base.Compare)
				if j == len(sorted) {
					b.Fatal("not found")
				}
			}
		})
	}
}
