package sstable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

const (
	benchEntries  = 1_000_000
	benchKeyLen   = 16
	benchValueLen = 100
)

// benchKey returns the i-th benchmark key: 16 bytes, ordered by i.
func benchKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

// setBenchKey writes the i-th benchmark key into k, which stays in the CPU
// cache: random keys fetched from a large slice would add two cache misses
// per operation to what is measured.
func setBenchKey(k *[benchKeyLen]byte, i int) {
	copy(k[:3], "key")
	for j := benchKeyLen - 1; j >= 3; j-- {
		k[j] = byte('0' + i%10)
		i /= 10
	}
}

// benchTable is a 1M-entry table (16-byte keys, 100-byte values, one
// version each) built once per block size.
type benchTable struct {
	data []byte
	meta Meta
}

var (
	benchTablesMu sync.Mutex
	benchTables   = map[[2]int]*benchTable{}
)

func getBenchTable(b *testing.B, blockSize int) *benchTable {
	return getBenchTableRI(b, blockSize, DefaultRestartInterval)
}

func getBenchTableRI(b *testing.B, blockSize, restartInterval int) *benchTable {
	benchTablesMu.Lock()
	defer benchTablesMu.Unlock()
	if bt := benchTables[[2]int{blockSize, restartInterval}]; bt != nil {
		return bt
	}
	rng := rand.New(rand.NewPCG(1, uint64(blockSize)))
	f := newMemFile("bench.sst", nil)
	w := NewWriter(f, WriterOptions{BlockSize: blockSize, RestartInterval: restartInterval})
	bt := &benchTable{}
	val := make([]byte, benchValueLen)
	for i := range benchEntries {
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		if err := w.Add(base.MakeInternalKey(benchKey(i), uint64(1+i%1000), base.KindSet), val); err != nil {
			b.Fatal(err)
		}
	}
	m, err := w.Finish()
	if err != nil {
		b.Fatal(err)
	}
	bt.data, bt.meta = f.data, m
	benchTables[[2]int{blockSize, restartInterval}] = bt
	return bt
}

// openBench opens bt with a warm cache (every data block cached).
func openBench(b *testing.B, bt *benchTable, cache interfaces.Cache) *Reader {
	r, err := Open(newMemFile("bench.sst", bt.data), int64(len(bt.data)), ReaderOptions{Cache: cache, FileNum: 1})
	if err != nil {
		b.Fatal(err)
	}
	if cache != nil {
		it := r.NewIter(IterOptions{})
		for ok := it.First(); ok; ok = it.Next() {
		}
		if err := it.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

var benchBlockSizes = []int{4 << 10, 16 << 10}

// cpuMeter reports CPU nanoseconds per operation of the benchmark's own
// thread (see threadCPU).
type cpuMeter struct {
	b     *testing.B
	start time.Duration
	ops   int
}

func startCPU(b *testing.B) *cpuMeter {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	return &cpuMeter{b: b, start: threadCPU()}
}

func (m *cpuMeter) stop() {
	if m.ops > 0 {
		m.b.ReportMetric(float64(threadCPU()-m.start)/float64(m.ops), "cpu-ns/op")
	}
}

func BenchmarkWriterAdd(b *testing.B) {
	val := make([]byte, benchValueLen)
	for i := range val {
		val[i] = byte(i * 7)
	}
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	b.SetBytes(benchKeyLen + benchValueLen)
	b.ReportAllocs()
	f := newMemFile("w.sst", nil)
	w := NewWriter(f, WriterOptions{})
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		cpu.ops++
		if i == len(keys) {
			// A new table every 64k entries keeps the file (and keys)
			// small; Finish is part of the cost.
			if _, err := w.Finish(); err != nil {
				b.Fatal(err)
			}
			f = newMemFile("w.sst", f.data[:0])
			w = NewWriter(f, WriterOptions{})
			i = 0
		}
		if err := w.Add(base.MakeInternalKey(keys[i], 1, base.KindSet), val); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop()
}

func BenchmarkGet(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			bt := getBenchTable(b, bs)
			r := openBench(b, bt, newTestCache())
			defer r.Close()
			rng := rand.New(rand.NewPCG(7, 7))
			var key [benchKeyLen]byte
			dst := make([]byte, 0, 256)
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				setBenchKey(&key, rng.IntN(benchEntries))
				_, _, _, ok, err := r.Get(key[:], interfaces.MaxTs, dst[:0])
				if !ok || err != nil {
					b.Fatal("missing key", err)
				}
			}
			cpu.stop()
		})
	}
}

func BenchmarkGetAbsent(b *testing.B) {
	bt := getBenchTable(b, DefaultBlockSize)
	r := openBench(b, bt, newTestCache())
	defer r.Close()
	absent := make([][]byte, 1<<16)
	for i := range absent {
		absent[i] = fmt.Appendf(nil, "key%013dx", i*15)
	}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		cpu.ops++
		if _, _, _, ok, _ := r.Get(absent[i&(len(absent)-1)], interfaces.MaxTs, nil); ok {
			b.Fatal("found an absent key")
		}
	}
	cpu.stop()
}

// BenchmarkGetCold measures Get through the cache-miss path: every block
// read from the (in-memory) file, checksummed and validated.
func BenchmarkGetCold(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			bt := getBenchTable(b, bs)
			r := openBench(b, bt, nil)
			defer r.Close()
			rng := rand.New(rand.NewPCG(8, 8))
			var key [benchKeyLen]byte
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				setBenchKey(&key, rng.IntN(benchEntries))
				if _, _, _, ok, err := r.Get(key[:], interfaces.MaxTs, nil); !ok || err != nil {
					b.Fatal("missing key", err)
				}
			}
			cpu.stop()
		})
	}
}

func BenchmarkIterNext(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			r := openBench(b, getBenchTable(b, bs), newTestCache())
			defer r.Close()
			it := r.NewIter(IterOptions{})
			it.First()
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				if !it.Next() {
					it.First()
				}
			}
			cpu.stop()
		})
	}
}

func BenchmarkIterPrev(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			r := openBench(b, getBenchTable(b, bs), newTestCache())
			defer r.Close()
			it := r.NewIter(IterOptions{})
			it.Last()
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				if !it.Prev() {
					it.Last()
				}
			}
			cpu.stop()
		})
	}
}

// BenchmarkScanNoCache scans with NoCacheFill and no cached blocks, as a
// compaction does: every block read and checksummed.
func BenchmarkScanNoCache(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			r := openBench(b, getBenchTable(b, bs), nil)
			defer r.Close()
			it := r.NewIter(IterOptions{NoCacheFill: true})
			it.First()
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				if !it.Next() {
					it.First()
				}
			}
			cpu.stop()
		})
	}
}

func BenchmarkSeekGE(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			bt := getBenchTable(b, bs)
			r := openBench(b, bt, newTestCache())
			defer r.Close()
			it := r.NewIter(IterOptions{})
			rng := rand.New(rand.NewPCG(9, 9))
			var key [benchKeyLen]byte
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				setBenchKey(&key, rng.IntN(benchEntries))
				k := base.InternalKey{UserKey: key[:], Trailer: base.SeekTrailer(interfaces.MaxTs)}
				if !it.SeekGE(k) {
					b.Fatal("seek failed")
				}
			}
			cpu.stop()
		})
	}
}

// BenchmarkShortScan seeks and reads 10 entries, a typical range read.
func BenchmarkShortScan(b *testing.B) {
	for _, bs := range benchBlockSizes {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) {
			bt := getBenchTable(b, bs)
			r := openBench(b, bt, newTestCache())
			defer r.Close()
			it := r.NewIter(IterOptions{})
			rng := rand.New(rand.NewPCG(9, 10))
			var key [benchKeyLen]byte
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				cpu.ops++
				setBenchKey(&key, rng.IntN(benchEntries-10))
				k := base.InternalKey{UserKey: key[:], Trailer: base.SeekTrailer(interfaces.MaxTs)}
				it.SeekGE(k)
				for range 9 {
					it.Next()
				}
			}
			cpu.stop()
		})
	}
}
