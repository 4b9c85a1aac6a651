package core_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

func TestPutGetDelete(t *testing.T) {
	db, _ := openMem(t)
	_, err := db.Get([]byte("a"))
	require.ErrorIs(t, err, core.ErrNotFound)

	require.NoError(t, db.Put([]byte("a"), []byte("1")))
	require.NoError(t, db.Put([]byte(""), []byte("empty key")))
	require.NoError(t, db.Put([]byte("b"), nil))
	v, err := db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	v, err = db.Get(nil)
	require.NoError(t, err)
	require.Equal(t, "empty key", string(v))
	v, err = db.Get([]byte("b"))
	require.NoError(t, err)
	require.Empty(t, v)

	// The value is the caller's: changing it changes nothing stored.
	v, _ = db.Get([]byte("a"))
	v[0] = 'X'
	v, _ = db.Get([]byte("a"))
	require.Equal(t, "1", string(v))

	require.NoError(t, db.Put([]byte("a"), []byte("2")))
	v, _ = db.Get([]byte("a"))
	require.Equal(t, "2", string(v))
	require.NoError(t, db.Delete([]byte("a")))
	_, err = db.Get([]byte("a"))
	require.ErrorIs(t, err, core.ErrNotFound)
	require.NoError(t, db.Delete([]byte("never")), "deleting an absent key is not an error")
}

func TestBatchAtomicAndLastWriteWins(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("gone"), []byte("x")))
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("k"), []byte("first")))
	require.NoError(t, b.Put([]byte("j"), []byte("j")))
	require.NoError(t, b.Put([]byte("k"), []byte("second")))
	require.NoError(t, b.Delete([]byte("gone")))
	require.Equal(t, 4, b.Len())
	before := db.VisibleTs()
	require.NoError(t, db.Apply(b))
	require.Equal(t, before+1, db.VisibleTs(), "a batch is one commit")

	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "second", string(v))
	_, err = db.Get([]byte("gone"))
	require.ErrorIs(t, err, core.ErrNotFound)

	// Many duplicates in a big batch go through the hashing dedup.
	b.Reset()
	for i := 0; i < 200; i++ {
		require.NoError(t, b.Put(key(i%50), []byte(fmt.Sprint(i))))
	}
	require.NoError(t, db.Apply(b))
	for i := 150; i < 200; i++ {
		v, err := db.Get(key(i % 50))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(v))
	}
	require.NoError(t, db.Apply(db.NewBatch()), "an empty batch is a no-op")
}

func TestLimitsAndBadInput(t *testing.T) {
	db, _ := openMem(t, func(o *core.Options) { o.MaxTxnEntries = 3; o.MaxTxnBytes = 1 << 20 })
	big := make([]byte, interfaces.MaxKeySize+1)
	huge := make([]byte, interfaces.MaxValueSize+1)
	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"oversized key Put", func() error { return db.Put(big, nil) }, core.ErrInvalidArgument},
		{"oversized value Put", func() error { return db.Put([]byte("k"), huge) }, core.ErrInvalidArgument},
		{"oversized key Get", func() error { _, err := db.Get(big); return err }, core.ErrInvalidArgument},
		{"oversized key Delete", func() error { return db.Delete(big) }, core.ErrInvalidArgument},
		{"batch with an oversized key refuses to apply", func() error {
			b := db.NewBatch()
			_ = b.Put([]byte("ok"), []byte("1"))
			_ = b.Put(big, nil)
			return db.Apply(b)
		}, core.ErrInvalidArgument},
		{"batch past the entry limit", func() error {
			b := db.NewBatch()
			for i := 0; i < 4; i++ {
				_ = b.Put(key(i), nil)
			}
			return db.Apply(b)
		}, core.ErrTxnTooLarge},
		{"txn past the entry limit", func() error {
			return db.Update(func(tx *core.Txn) error {
				for i := 0; i < 4; i++ {
					if err := tx.Put(key(i), nil); err != nil {
						return err
					}
				}
				return nil
			})
		}, core.ErrTxnTooLarge},
		{"txn past the byte limit", func() error {
			return db.Update(func(tx *core.Txn) error {
				return tx.Put([]byte("k"), make([]byte, 2<<20))
			})
		}, core.ErrTxnTooLarge},
		{"write in a read-only txn", func() error {
			return db.View(func(tx *core.Txn) error { return tx.Put([]byte("k"), nil) })
		}, core.ErrReadOnly},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, c.op(), c.want)
		})
	}
	// Nothing of the refused writes landed.
	for i := 0; i < 4; i++ {
		_, err := db.Get(key(i))
		require.ErrorIs(t, err, core.ErrNotFound)
	}
	_, err := db.Get([]byte("ok"))
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestMaximumSizes(t *testing.T) {
	db, fs := openMem(t)
	k := bytes.Repeat([]byte{0xAB}, interfaces.MaxKeySize)
	v := bytes.Repeat([]byte{0xCD}, interfaces.MaxValueSize)
	require.NoError(t, db.Put(k, v))
	require.NoError(t, db.Close())
	db, err := core.Open(testDir, memOptions(fs))
	require.NoError(t, err)
	defer db.Close()
	got, err := db.Get(k)
	require.NoError(t, err)
	require.True(t, bytes.Equal(v, got))
}

func TestUseAfterClose(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	tx, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	ops := map[string]func() error{
		"Put":      func() error { return db.Put([]byte("k"), nil) },
		"Delete":   func() error { return db.Delete([]byte("k")) },
		"Get":      func() error { _, err := db.Get([]byte("k")); return err },
		"Apply":    func() error { b := db.NewBatch(); _ = b.Put([]byte("x"), nil); return db.Apply(b) },
		"Update":   func() error { return db.Update(func(*core.Txn) error { return nil }) },
		"View":     func() error { return db.View(func(*core.Txn) error { return nil }) },
		"Iterator": func() error { _, err := db.NewIterator(core.IterOptions{}); return err },
		"Snapshot": func() error { _, err := db.Snapshot(); return err },
		"Sync":     db.Sync,
		"Flush":    db.Flush,
		"Check":    db.Check,
		"TxnCommit": func() error {
			_ = tx.Put([]byte("t"), nil)
			return tx.Commit()
		},
	}
	for name, op := range ops {
		require.ErrorIs(t, op(), core.ErrClosed, name)
	}
	require.NoError(t, db.Close(), "a second Close is harmless")
}

func TestTxnAfterCommit(t *testing.T) {
	db, _ := openMem(t)
	tx, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("k"), []byte("v")))
	require.NoError(t, tx.Commit())
	require.ErrorIs(t, tx.Put([]byte("k"), nil), core.ErrTxnDone)
	_, err = tx.Get([]byte("k"))
	require.ErrorIs(t, err, core.ErrTxnDone)
	require.ErrorIs(t, tx.Commit(), core.ErrTxnDone)
	_, err = tx.NewIterator(core.IterOptions{})
	require.ErrorIs(t, err, core.ErrTxnDone)
	tx.Rollback() // no-op
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

func TestReopenKeepsEverything(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush=%v", flush), func(t *testing.T) {
			fs := vfs.NewMem()
			db, err := core.Open(testDir, memOptions(fs))
			require.NoError(t, err)
			for i := 0; i < 100; i++ {
				require.NoError(t, db.Put(key(i), []byte(fmt.Sprint(i))))
			}
			if flush {
				require.NoError(t, db.Flush())
			}
			for i := 0; i < 100; i += 3 {
				require.NoError(t, db.Delete(key(i)))
			}
			ts := db.VisibleTs()
			require.NoError(t, db.Close())

			db, err = core.Open(testDir, memOptions(fs))
			require.NoError(t, err)
			defer db.Close()
			require.Equal(t, ts, db.VisibleTs(), "the clock resumes where it stopped")
			for i := 0; i < 100; i++ {
				v, err := db.Get(key(i))
				if i%3 == 0 {
					require.ErrorIs(t, err, core.ErrNotFound)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, fmt.Sprint(i), string(v))
			}
			require.NoError(t, db.Put([]byte("after"), nil))
			require.Equal(t, ts+1, db.VisibleTs())
		})
	}
}

func TestIdentityRefusesOtherEngineAndForeignDirs(t *testing.T) {
	fs := vfs.NewMem()
	db, err := core.Open(testDir, memOptions(fs))
	require.NoError(t, err)
	require.NoError(t, db.Close())

	opts := memOptions(fs)
	opts.StorageName = "lsm"
	_, err = core.Open(testDir, opts)
	require.ErrorIs(t, err, core.ErrIncompatible)
	require.Contains(t, err.Error(), `created with engine "memory"`)

	// A directory with files but no identity is not ours.
	require.NoError(t, fs.MkdirAll("other", 0o755))
	f, err := fs.Create("other/file.txt")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = core.Open("other", memOptions(fs))
	require.ErrorIs(t, err, core.ErrIncompatible)

	// A damaged identity file is corruption, named.
	f, err = fs.OpenReadWrite(testDir + "/LIGHTNING")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("X"), 60)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = core.Open(testDir, memOptions(fs))
	require.True(t, core.IsCorruption(err), "%v", err)
	require.Contains(t, err.Error(), "LIGHTNING")
}

func TestOpenTwiceIsLocked(t *testing.T) {
	db, fs := openMem(t)
	_, err := core.Open(testDir, memOptions(fs))
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, db.Put([]byte("still"), []byte("works")))
}

func TestIteratorDirectionsBoundsAndPrefix(t *testing.T) {
	db, _ := openMem(t)
	keys := []string{"a", "ab", "abc", "b", "ba", "c", "c\xff", "c\xff\xff", "d"}
	for _, k := range keys {
		require.NoError(t, db.Put([]byte(k), []byte("v"+k)))
	}
	cases := []struct {
		name string
		opts core.IterOptions
		want []string
	}{
		{"all", core.IterOptions{}, keys},
		{"bounds", core.IterOptions{LowerBound: []byte("ab"), UpperBound: []byte("c")}, []string{"ab", "abc", "b", "ba"}},
		{"prefix", core.IterOptions{Prefix: []byte("a")}, []string{"a", "ab", "abc"}},
		{"prefix 0xff", core.IterOptions{Prefix: []byte("c\xff")}, []string{"c\xff", "c\xff\xff"}},
		{"prefix and bound", core.IterOptions{Prefix: []byte("a"), LowerBound: []byte("ab"), UpperBound: []byte("abc")}, []string{"ab"}},
		{"empty", core.IterOptions{LowerBound: []byte("x")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it, err := db.NewIterator(c.opts)
			require.NoError(t, err)
			got, _ := scan(t, it)
			require.Equal(t, c.want, got)
			require.NoError(t, it.Close())

			rev := c.opts
			rev.Reverse = true
			it, err = db.NewIterator(rev)
			require.NoError(t, err)
			got, _ = scan(t, it)
			require.Equal(t, reversed(c.want), got)
			require.NoError(t, it.Close())
		})
	}

	it, err := db.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	defer it.Close()
	require.True(t, it.Seek([]byte("aa")))
	require.Equal(t, "ab", string(it.Key()))
	require.Equal(t, "vab", string(it.Value()))
	require.True(t, it.Prev(), "turn around")
	require.Equal(t, "a", string(it.Key()))
	require.False(t, it.Prev())
	require.True(t, it.Next(), "Next after running off the start goes to the first key")
	require.Equal(t, "a", string(it.Key()))
	require.True(t, it.Next())
	require.Equal(t, "ab", string(it.Key()))
	require.True(t, it.SeekLT([]byte("c")))
	require.Equal(t, "ba", string(it.Key()))
	require.True(t, it.Next())
	require.Equal(t, "c", string(it.Key()))
	require.True(t, it.Last())
	require.Equal(t, "d", string(it.Key()))
	require.False(t, it.Seek([]byte("e")))

	r, err := db.NewIterator(core.IterOptions{Reverse: true})
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Seek([]byte("bb")), "reverse Seek finds the last key <= target")
	require.Equal(t, "ba", string(r.Key()))
	require.True(t, r.Next())
	require.Equal(t, "b", string(r.Key()))
	require.True(t, r.SeekLT([]byte("b")), "reverse SeekLT finds the first key > target")
	require.Equal(t, "ba", string(r.Key()))
}

func reversed(s []string) []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestIteratorIsASnapshot(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 10; i++ {
		require.NoError(t, db.Put(key(i), []byte("old")))
	}
	it, err := db.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	defer it.Close()
	// Writes after the iterator was made are invisible to it, in both
	// directions and after turning around (which opens a new engine
	// iterator at the same ts).
	for i := 0; i < 20; i++ {
		require.NoError(t, db.Put(key(i), []byte("new")))
	}
	require.NoError(t, db.Delete(key(0)))
	keys, values := scan(t, it)
	require.Len(t, keys, 10)
	for _, v := range values {
		require.Equal(t, "old", v)
	}
	require.True(t, it.Last())
	require.Equal(t, string(key(9)), string(it.Key()))
	require.True(t, it.Prev())
	require.Equal(t, "old", string(it.Value()))
}

func TestSnapshot(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("k"), []byte("1")))
	snap, err := db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("2")))
	require.NoError(t, db.Put([]byte("k2"), []byte("x")))
	v, err := snap.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	_, err = snap.Get([]byte("k2"))
	require.ErrorIs(t, err, core.ErrNotFound)
	it, err := snap.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	keys, _ := scan(t, it)
	require.Equal(t, []string{"k"}, keys)
	require.NoError(t, it.Close())
	require.NoError(t, snap.Close())
	require.ErrorIs(t, snap.Close(), core.ErrClosed)
	_, err = snap.Get([]byte("k"))
	require.ErrorIs(t, err, core.ErrClosed)
}

// TestCommitLatencySampled: the first commit and every 8th after it are
// timed, whatever kind they are.
func TestCommitLatencySampled(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 17; i++ {
		if i%2 == 0 {
			require.NoError(t, db.Put(key(i), []byte("v")))
		} else {
			b := db.NewBatch()
			require.NoError(t, b.Put(key(i), nil))
			require.NoError(t, db.Apply(b))
		}
	}
	st := db.Stats()
	require.Equal(t, int64(17), st.Commits)
	require.Equal(t, int64(3), st.CommitLatencySamples, "commits 1, 9 and 17")
	require.Positive(t, st.CommitLatencyP99)
}

func TestStatsCount(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 5; i++ {
		require.NoError(t, db.Put(key(i), nil))
	}
	_, _ = db.Get(key(1))
	_ = db.Delete(key(1))
	st := db.Stats()
	require.Equal(t, int64(5), st.Puts)
	require.Equal(t, int64(1), st.Deletes)
	require.Equal(t, int64(1), st.Gets)
	require.Equal(t, int64(6), st.Commits)
	require.GreaterOrEqual(t, st.CommitGroups, int64(1))
	require.Equal(t, uint64(6), st.VisibleTs)
	require.Positive(t, st.WAL.BytesWritten)
	require.Positive(t, st.CommitLatencyP50)
	require.False(t, st.FailStopped)
	require.Equal(t, "memory", db.Storage().Describe().Name)
}

func TestCheckHealthy(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 50; i++ {
		require.NoError(t, db.Put(key(i), []byte(strings.Repeat("v", i))))
	}
	require.NoError(t, db.Flush())
	require.NoError(t, db.Check())
	require.False(t, errors.Is(db.Check(), core.ErrCorrupt))
}

func TestFlushReleasesTheWholeLog(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Put(key(i), make([]byte, 1000)))
	}
	require.Greater(t, db.Stats().WAL.LiveBytes, int64(100_000))
	require.NoError(t, db.Flush())
	st := db.Stats()
	require.Equal(t, 1, st.WAL.Segments, "only the fresh active segment is left")
	require.Less(t, st.WAL.LiveBytes, int64(1000), "the flushed records are released")
	require.NoError(t, db.Flush(), "a second flush with nothing new is harmless")
	require.Equal(t, 1, db.Stats().WAL.Segments)
}

func TestCompactReleasesTheLog(t *testing.T) {
	fs := vfs.NewMem()
	opts := lsmOptions(fs)
	db, err := core.Open(testDir, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for i := 0; i < 200; i++ {
		require.NoError(t, db.Put(key(i), make([]byte, 1000)))
	}
	require.Greater(t, db.Stats().WAL.LiveBytes, int64(200_000))
	// GCInterval is an hour here: only Compact itself can release the log.
	require.NoError(t, db.Compact(nil, nil))
	st := db.Stats()
	require.Equal(t, 1, st.WAL.Segments, "only the fresh active segment is left")
	require.Less(t, st.WAL.LiveBytes, int64(1000), "the compacted records are released")
	for i := 0; i < 200; i++ {
		_, err := db.Get(key(i))
		require.NoError(t, err)
	}
}

func TestCloseFlushesAndReleasesTheLog(t *testing.T) {
	for _, c := range []struct {
		name string
		opts func(vfs.FS) core.Options
	}{{"memory", memOptions}, {"lsm", lsmOptions}} {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			db, err := core.Open(testDir, c.opts(fs))
			require.NoError(t, err)
			for i := 0; i < 100; i++ {
				require.NoError(t, db.Put(key(i), make([]byte, 1000)))
			}
			require.NoError(t, db.Close())
			// Only the fresh, empty active segment is left of the log.
			names, err := fs.List(testDir + "/wal")
			require.NoError(t, err)
			require.Len(t, names, 1)
			f, err := fs.Open(testDir + "/wal/" + names[0])
			require.NoError(t, err)
			size, err := f.Size()
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.Less(t, size, int64(1000), "no record of the 100 commits is left in the log")

			db, err = core.Open(testDir, c.opts(fs))
			require.NoError(t, err)
			defer db.Close()
			require.Zero(t, db.Stats().RecoveredCommits, "nothing to replay")
			for i := 0; i < 100; i++ {
				_, err := db.Get(key(i))
				require.NoError(t, err)
			}
		})
	}
}
