package memory_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

const (
	benchKeys      = 100_000
	benchValueSize = 100
)

func benchKey(i uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, i*0x9e3779b97f4a7c15) // scattered, unique
	binary.BigEndian.PutUint64(k[8:], i)
	return k
}

// loadedEngine returns an engine on fs in dir holding benchKeys keys, one
// version each.
func loadedEngine(b *testing.B, fs vfs.FS, dir string) *memory.Engine {
	b.Helper()
	e, err := memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, benchValueSize)
	batch := make([]interfaces.Entry, 0, 1000)
	for i := uint64(0); i < benchKeys; i++ {
		batch = append(batch, interfaces.Entry{Key: benchKey(i), Ts: i/1000 + 1, Kind: interfaces.KindSet, Value: value})
		if len(batch) == cap(batch) {
			if err := e.Apply(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return e
}

// BenchmarkApply1000 applies batches of 1,000 entries with random keys and
// 100-byte values; ns/op and allocs/op are per batch.
func BenchmarkApply1000(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, benchValueSize)
	batch := make([]interfaces.Entry, 1000)
	var e *memory.Engine
	ts := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%200 == 0 {
			// Keep the tree at a realistic size rather than growing
			// without bound: a fresh engine every 200,000 versions.
			b.StopTimer()
			if e != nil {
				_ = e.Close()
			}
			var err error
			if e, err = memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: vfs.NewMem()}); err != nil {
				b.Fatal(err)
			}
			ts = 0
			b.StartTimer()
		}
		ts++
		for j := range batch {
			batch[j] = interfaces.Entry{Key: benchKey(rng.Uint64()), Ts: ts, Kind: interfaces.KindSet, Value: value}
		}
		if err := e.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = e.Close()
}

// BenchmarkGet reads random present keys from 100,000.
func BenchmarkGet(b *testing.B) {
	e := loadedEngine(b, vfs.NewMem(), "db")
	defer e.Close()
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = benchKey(uint64(i) * 24)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := e.Get(keys[i%len(keys)], interfaces.MaxTs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkNext(b *testing.B, opts interfaces.IterOptions) {
	e := loadedEngine(b, vfs.NewMem(), "db")
	defer e.Close()
	it, err := e.NewIterator(opts)
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

// BenchmarkIterNext steps a forward iterator over 100,000 keys; per Next.
func BenchmarkIterNext(b *testing.B) {
	benchmarkNext(b, interfaces.IterOptions{ReadTs: interfaces.MaxTs})
}

// BenchmarkIterNextReverse is BenchmarkIterNext going backward.
func BenchmarkIterNextReverse(b *testing.B) {
	benchmarkNext(b, interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: true})
}

// BenchmarkFlush writes a whole snapshot of 100,000 versions (about 13 MB)
// to the operating system's file system, fsync included; per snapshot.
func BenchmarkFlush(b *testing.B) {
	e := loadedEngine(b, vfs.Default, b.TempDir())
	defer e.Close()
	ts := uint64(benchKeys/1000 + 1)
	value := make([]byte, benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// One new version, so every Flush has something to write.
		ts++
		if err := e.Apply([]interfaces.Entry{{Key: benchKey(0), Ts: ts, Kind: interfaces.KindSet, Value: value}}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
