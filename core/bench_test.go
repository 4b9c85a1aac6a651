package core_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

// The core's overhead: each operation through core.DB on the memory engine
// beside the same operation on the engine alone (BenchmarkEngine*).

func benchKey(i int) []byte {
	return binary.BigEndian.AppendUint64([]byte("bench/"), uint64(i)*0x9E3779B97F4A7C15)
}

var benchValue = make([]byte, 100)

func benchDB(b *testing.B, sync core.SyncMode, fs vfs.FS) *core.DB {
	b.Helper()
	opts := memOptions(fs)
	opts.Sync = sync
	opts.Codec = nil
	opts.CheckpointBytes = 1 << 40
	db, err := core.Open(testDir, opts)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func benchEngine(b *testing.B) interfaces.Storage {
	b.Helper()
	e, err := memory.New(memory.Options{Dir: "engine"}, memory.Deps{FS: vfs.NewMem()})
	require.NoError(b, err)
	b.Cleanup(func() { _ = e.Close() })
	return e
}

func BenchmarkPut(b *testing.B) {
	db := benchDB(b, core.SyncNone, vfs.NewMem())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := db.Put(benchKey(i), benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnginePut(b *testing.B) {
	e := benchEngine(b)
	b.ReportAllocs()
	entry := make([]interfaces.Entry, 1)
	for i := 0; b.Loop(); i++ {
		entry[0] = interfaces.Entry{Key: benchKey(i), Ts: uint64(i + 1), Kind: interfaces.KindSet, Value: benchValue}
		if err := e.Apply(entry); err != nil {
			b.Fatal(err)
		}
	}
}

const benchKeys = 100_000

func BenchmarkGet(b *testing.B) {
	db := benchDB(b, core.SyncNone, vfs.NewMem())
	batch := db.NewBatch()
	for i := 0; i < benchKeys; i++ {
		require.NoError(b, batch.Put(benchKey(i), benchValue))
	}
	require.NoError(b, db.Apply(batch))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := db.Get(benchKey(i % benchKeys)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEngineGet(b *testing.B) {
	e := benchEngine(b)
	entries := make([]interfaces.Entry, benchKeys)
	for i := range entries {
		entries[i] = interfaces.Entry{Key: benchKey(i), Ts: 1, Kind: interfaces.KindSet, Value: benchValue}
	}
	require.NoError(b, e.Apply(entries))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := e.Get(benchKey(i%benchKeys), 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatch1000(b *testing.B) {
	db := benchDB(b, core.SyncNone, vfs.NewMem())
	batch := db.NewBatch()
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		batch.Reset()
		for i := 0; i < 1000; i++ {
			_ = batch.Put(benchKey(n*1000+i), benchValue)
		}
		if err := db.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkEngineBatch1000(b *testing.B) {
	e := benchEngine(b)
	entries := make([]interfaces.Entry, 1000)
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		for i := range entries {
			entries[i] = interfaces.Entry{Key: benchKey(n*1000 + i), Ts: uint64(n + 1), Kind: interfaces.KindSet, Value: benchValue}
		}
		if err := e.Apply(entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkTxn is a read-modify-write transaction of three keys.
func BenchmarkTxn(b *testing.B) {
	db := benchDB(b, core.SyncNone, vfs.NewMem())
	for i := 0; i < 1000; i++ {
		require.NoError(b, db.Put(benchKey(i), benchValue))
	}
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		err := db.Update(func(tx *core.Txn) error {
			for j := 0; j < 3; j++ {
				k := benchKey((n*3 + j) % 1000)
				if _, err := tx.Get(k); err != nil {
					return err
				}
				if err := tx.Put(k, benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupCommit measures SyncAlways commits per second with 1, 4, 16
// and 64 writers on the real file system, on the default (LSM) engine: every
// commit is fsynced before it returns, so the throughput beyond one writer is
// what group commit buys.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			opts := lsmOptions(vfs.Default)
			opts.Sync = core.SyncAlways
			opts.CheckpointBytes = 1 << 40
			db, err := core.Open(dir, opts)
			require.NoError(b, err)
			defer db.Close()
			start := time.Now()
			before := db.Stats()
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if err := db.Put(benchKey(w*per+i), benchValue); err != nil {
							b.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.StopTimer()
			after := db.Stats()
			commits := float64(writers * per)
			b.ReportMetric(commits/time.Since(start).Seconds(), "commits/s")
			if groups := after.CommitGroups - before.CommitGroups; groups > 0 {
				b.ReportMetric(float64(after.Commits-before.Commits)/float64(groups), "commits/group")
			}
		})
	}
}
