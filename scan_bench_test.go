package lightning_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lightningdb/lightning"
)

// The scan benchmarks reproduce the comparison harness's scan workloads
// (bench/runner.go scanFull and scanShort) through the public API, so a
// profile of them is a profile of what the harness measures:
//
//	go test -run '^$' -bench 'Scan/btree' -cpuprofile cpu.out .
//
// The database is loaded as the harness loads it: 1,000,000 keys, the
// record index in decimal zero-padded to 16 bytes (db_bench's "%016d"),
// written in a random order in batches of 1,000, with 100-byte values that
// compress to about half, the shipped codec and a 256 MiB cache, SyncNone.
// Then, as the harness does, the database is closed (which flushes the
// engine), reopened and compacted, closed and reopened, so reads find every
// key in the engine's files.
//
// Sub-benchmarks, per engine:
//   - seek100: Seek to a random key, then 100 Next, as scan-100 does
//     (ns/op is per scan), with a warm cache.
//   - full-warm: First, then Next to the end (ns/op is per scan; keys/s is
//     reported), with every block already cached.
//   - full-cold: the same over a freshly opened database, whose cache is
//     empty: the harness's scan-full runs right after the reopen, so it
//     pays for reading and decoding every block once. Only the scan is
//     timed, not the reopen.

const (
	scanBenchKeys     = 1_000_000
	scanBenchKeyLen   = 16
	scanBenchValueLen = 100
	scanBenchBatch    = 1000
	scanBenchLength   = 100
	scanBenchCache    = 256 << 20
)

// scanBenchKey appends the key of record i: i in decimal, zero-padded.
func scanBenchKey(dst []byte, i uint64) []byte {
	start := len(dst)
	for range scanBenchKeyLen {
		dst = append(dst, '0')
	}
	for p := len(dst) - 1; p >= start && i > 0; p-- {
		dst[p] = byte('0' + i%10)
		i /= 10
	}
	return dst
}

// scanBenchValues is the pool values are cut from, as the harness cuts
// them: each 100-byte piece is 50 random printable bytes written twice.
var scanBenchValues = func() []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	pool := make([]byte, 0, 1<<20)
	piece := make([]byte, scanBenchValueLen/2)
	for len(pool)+scanBenchValueLen <= 1<<20 {
		for i := range piece {
			piece[i] = byte(' ' + rng.IntN(95))
		}
		pool = append(pool, piece...)
		pool = append(pool, piece...)
	}
	return pool
}()

func scanBenchValue(i uint64) []byte {
	pieces := uint64(len(scanBenchValues) / scanBenchValueLen)
	off := (i % pieces) * scanBenchValueLen
	return scanBenchValues[off : off+scanBenchValueLen : off+scanBenchValueLen]
}

func openScanBench(b *testing.B, dir, engine string) *lightning.DB {
	b.Helper()
	db, err := lightning.Open(dir, lightning.WithEngine(engine), lightning.WithSync(lightning.SyncNone),
		lightning.WithCacheSize(scanBenchCache))
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func closeScanBench(b *testing.B, db *lightning.DB) {
	b.Helper()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// loadScanBench fills dir as the harness does and leaves it closed.
func loadScanBench(b *testing.B, dir, engine string) {
	b.Helper()
	db := openScanBench(b, dir, engine)
	order := rand.New(rand.NewPCG(1, 2)).Perm(scanBenchKeys)
	key := make([]byte, 0, scanBenchKeyLen)
	for i := 0; i < len(order); i += scanBenchBatch {
		batch := db.NewBatch()
		for j := i; j < min(i+scanBenchBatch, len(order)); j++ {
			key = scanBenchKey(key[:0], uint64(order[j]))
			if err := batch.Put(key, scanBenchValue(uint64(j))); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	closeScanBench(b, db)
	db = openScanBench(b, dir, engine)
	if err := db.Compact(nil, nil); err != nil {
		b.Fatal(err)
	}
	closeScanBench(b, db)
}

// fullScan scans every key and fails the benchmark unless it saw exactly
// the loaded keys, in order, with values of the loaded size.
func fullScan(b *testing.B, db *lightning.DB) {
	it, err := db.NewIterator(lightning.IterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var want []byte
	for ok := it.First(); ok; ok = it.Next() {
		if n%4096 == 0 {
			want = scanBenchKey(want[:0], uint64(n))
			if !bytes.Equal(it.Key(), want) {
				b.Fatalf("key %d is %q, want %q", n, it.Key(), want)
			}
		}
		if len(it.Value()) != scanBenchValueLen {
			b.Fatalf("key %q: value of %d bytes", it.Key(), len(it.Value()))
		}
		n++
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		b.Fatal(err)
	}
	if n != scanBenchKeys {
		b.Fatalf("full scan saw %d keys, want %d", n, scanBenchKeys)
	}
}

func BenchmarkScan(b *testing.B) {
	for _, engine := range []string{"btree", "lsm"} {
		b.Run(engine, func(b *testing.B) {
			dir := b.TempDir()
			loadScanBench(b, dir, engine)

			b.Run("seek100", func(b *testing.B) {
				db := openScanBench(b, dir, engine)
				defer closeScanBench(b, db)
				fullScan(b, db) // warm the cache, as scan-full does first
				rng := rand.New(rand.NewPCG(5, 6))
				key := make([]byte, 0, scanBenchKeyLen)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					start := rng.Uint64N(scanBenchKeys)
					key = scanBenchKey(key[:0], start)
					it, err := db.NewIterator(lightning.IterOptions{})
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for ok := it.Seek(key); ok && n < scanBenchLength; ok = it.Next() {
						n++
					}
					if err := errors.Join(it.Err(), it.Close()); err != nil {
						b.Fatal(err)
					}
					if want := min(scanBenchLength, scanBenchKeys-start); uint64(n) != want {
						b.Fatalf("scan from %q saw %d keys, want %d", key, n, want)
					}
				}
			})

			b.Run("full-warm", func(b *testing.B) {
				db := openScanBench(b, dir, engine)
				defer closeScanBench(b, db)
				fullScan(b, db)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					fullScan(b, db)
				}
				b.ReportMetric(float64(b.N)*scanBenchKeys/b.Elapsed().Seconds(), "keys/s")
			})

			b.Run("full-cold", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					b.StopTimer()
					db := openScanBench(b, dir, engine)
					b.StartTimer()
					fullScan(b, db)
					b.StopTimer()
					closeScanBench(b, db)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.N)*scanBenchKeys/b.Elapsed().Seconds(), "keys/s")
			})
		})
	}
}
