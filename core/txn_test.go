package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
)

func TestReadYourWritesAndMergedIteration(t *testing.T) {
	db, _ := openMem(t)
	for _, k := range []string{"a", "c", "e", "g"} {
		require.NoError(t, db.Put([]byte(k), []byte("db-"+k)))
	}
	tx, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, tx.Put([]byte("b"), []byte("tx-b")))
	require.NoError(t, tx.Put([]byte("c"), []byte("tx-c")))
	require.NoError(t, tx.Delete([]byte("e")))
	require.NoError(t, tx.Put([]byte("h"), []byte("tx-h")))
	require.NoError(t, tx.Delete([]byte("zz"))) // absent anyway

	v, err := tx.Get([]byte("c"))
	require.NoError(t, err)
	require.Equal(t, "tx-c", string(v))
	_, err = tx.Get([]byte("e"))
	require.ErrorIs(t, err, core.ErrNotFound)
	_, err = db.Get([]byte("b"))
	require.ErrorIs(t, err, core.ErrNotFound, "uncommitted writes are invisible outside")

	want := []string{"a", "b", "c", "g", "h"}
	wantV := []string{"db-a", "tx-b", "tx-c", "db-g", "tx-h"}
	it, err := tx.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	keys, values := scan(t, it)
	require.Equal(t, want, keys)
	require.Equal(t, wantV, values)
	// Backwards, and turning around in the middle.
	require.True(t, it.Last())
	var back []string
	for ok := true; ok; ok = it.Prev() {
		back = append(back, string(it.Key()))
	}
	require.Equal(t, reversed(want), back)
	require.True(t, it.Seek([]byte("d")))
	require.Equal(t, "g", string(it.Key()), "the buffered delete of e is skipped")
	require.True(t, it.Prev())
	require.Equal(t, "c", string(it.Key()))
	require.Equal(t, "tx-c", string(it.Value()))
	require.NoError(t, it.Close())

	require.NoError(t, tx.Commit())
	v, err = db.Get([]byte("h"))
	require.NoError(t, err)
	require.Equal(t, "tx-h", string(v))
	_, err = db.Get([]byte("e"))
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestSnapshotIsolationWriteWriteConflict(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("k"), []byte("0")))
	t1, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	t2, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	require.NoError(t, t1.Put([]byte("k"), []byte("1")))
	require.NoError(t, t2.Put([]byte("k"), []byte("2")))
	require.NoError(t, t1.Commit())
	require.ErrorIs(t, t2.Commit(), core.ErrConflict)
	v, _ := db.Get([]byte("k"))
	require.Equal(t, "1", string(v))

	// A plain Put counts as a committed write too.
	t3, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	require.NoError(t, t3.Put([]byte("k"), []byte("3")))
	require.NoError(t, db.Put([]byte("k"), []byte("put")))
	require.ErrorIs(t, t3.Commit(), core.ErrConflict)
	require.Equal(t, int64(2), db.Stats().Conflicts)

	// Disjoint writes never conflict.
	t4, _ := db.Begin(core.TxnOptions{})
	t5, _ := db.Begin(core.TxnOptions{})
	require.NoError(t, t4.Put([]byte("x"), nil))
	require.NoError(t, t5.Put([]byte("y"), nil))
	require.NoError(t, t4.Commit())
	require.NoError(t, t5.Commit())
}

// The classic write skew: two doctors on call, each checks that the other
// is on call and goes off. Snapshot isolation lets both commit (no key is
// written twice); serializable refuses the second.
func TestWriteSkew(t *testing.T) {
	for _, c := range []struct {
		iso        core.Isolation
		secondErr  error
		iterate    bool
		onCallLeft int
	}{
		{core.SnapshotIsolation, nil, false, 0},
		{core.Serializable, core.ErrConflict, false, 1},
		{core.Serializable, core.ErrConflict, true, 1},
	} {
		name := map[core.Isolation]string{core.SnapshotIsolation: "SI", core.Serializable: "serializable"}[c.iso]
		if c.iterate {
			name += "/range-read"
		}
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			require.NoError(t, db.Put([]byte("doctor/alice"), []byte("on")))
			require.NoError(t, db.Put([]byte("doctor/bob"), []byte("on")))
			onCall := func(tx *core.Txn) int {
				n := 0
				if c.iterate {
					it, err := tx.NewIterator(core.IterOptions{Prefix: []byte("doctor/")})
					require.NoError(t, err)
					for ok := it.First(); ok; ok = it.Next() {
						if string(it.Value()) == "on" {
							n++
						}
					}
					require.NoError(t, it.Close())
					return n
				}
				for _, d := range []string{"doctor/alice", "doctor/bob"} {
					v, err := tx.Get([]byte(d))
					require.NoError(t, err)
					if string(v) == "on" {
						n++
					}
				}
				return n
			}
			t1, err := db.Begin(core.TxnOptions{Isolation: c.iso})
			require.NoError(t, err)
			t2, err := db.Begin(core.TxnOptions{Isolation: c.iso})
			require.NoError(t, err)
			require.Equal(t, 2, onCall(t1))
			require.Equal(t, 2, onCall(t2))
			require.NoError(t, t1.Put([]byte("doctor/alice"), []byte("off")))
			require.NoError(t, t2.Put([]byte("doctor/bob"), []byte("off")))
			require.NoError(t, t1.Commit())
			err = t2.Commit()
			if c.secondErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.secondErr)
			}
			var left int
			require.NoError(t, db.View(func(tx *core.Txn) error { left = onCall(tx); return nil }))
			require.Equal(t, c.onCallLeft, left)
		})
	}
}

func TestSerializableReadOnlyKeysDoNotConflictWithOldCommits(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	tx, err := db.Begin(core.TxnOptions{Isolation: core.Serializable})
	require.NoError(t, err)
	_, err = tx.Get([]byte("k"))
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("other"), nil))
	require.NoError(t, tx.Commit(), "a read of a key last written before the txn began is no conflict")
}

func TestGetForUpdateSerializesReadModifyWrite(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("counter"), []byte{0}))
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				err := db.Update(func(tx *core.Txn) error {
					v, err := tx.GetForUpdate([]byte("counter"))
					if err != nil {
						return err
					}
					return tx.Put([]byte("counter"), []byte{v[0] + 1})
				})
				if err != nil {
					t.Errorf("locked increment: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v, err := db.Get([]byte("counter"))
	require.NoError(t, err)
	require.Equal(t, byte(workers*rounds), v[0], "no lost update: every locked increment committed")
}

func TestDeadlockDetection(t *testing.T) {
	db, _ := openMem(t)
	t1, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	t2, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	_, err = t1.GetForUpdate([]byte("a"))
	require.ErrorIs(t, err, core.ErrNotFound, "absent keys can be locked")
	_, err = t2.GetForUpdate([]byte("b"))
	require.ErrorIs(t, err, core.ErrNotFound)

	got := make(chan error, 1)
	go func() {
		_, err := t1.GetForUpdate([]byte("b")) // waits for t2
		got <- err
	}()
	// Wait until t1 is really waiting, then close the cycle.
	require.Eventually(t, func() bool { return waiting(db) }, 5*time.Second, time.Millisecond)
	_, err = t2.GetForUpdate([]byte("a"))
	require.ErrorIs(t, err, core.ErrDeadlock, "t2 closes the cycle and is the victim")
	t2.Rollback()
	require.ErrorIs(t, <-got, core.ErrNotFound, "t1 gets the lock once the victim is gone")
	require.NoError(t, t1.Put([]byte("a"), []byte("1")))
	require.NoError(t, t1.Commit())
	require.Equal(t, int64(1), db.Stats().Deadlocks)
}

// waiting reports whether some lock request is waiting.
func waiting(db *core.DB) bool { return db.LockStats().Waiting > 0 }

func TestLockTimeoutAndContext(t *testing.T) {
	db, _ := openMem(t, func(o *core.Options) { o.LockTimeout = 30 * time.Millisecond })
	holder, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	defer holder.Rollback()
	_, _ = holder.GetForUpdate([]byte("k"))

	other, err := db.Begin(core.TxnOptions{})
	require.NoError(t, err)
	start := time.Now()
	_, err = other.GetForUpdate([]byte("k"))
	require.ErrorIs(t, err, core.ErrLockTimeout)
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	other.Rollback()

	ctx, cancel := context.WithCancel(context.Background())
	withCtx, err := db.Begin(core.TxnOptions{Context: ctx})
	require.NoError(t, err)
	defer withCtx.Rollback()
	cancel()
	_, err = withCtx.GetForUpdate([]byte("k"))
	require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, core.ErrLockTimeout), "%v", err)
	require.Equal(t, int64(1), db.Stats().LockTimeouts)
}

func TestReadOnlyTxnSeesSnapshot(t *testing.T) {
	db, _ := openMem(t)
	require.NoError(t, db.Put([]byte("k"), []byte("1")))
	err := db.View(func(tx *core.Txn) error {
		require.NoError(t, db.Put([]byte("k"), []byte("2")))
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		require.Equal(t, "1", string(v))
		_, err = tx.GetForUpdate([]byte("k"))
		require.ErrorIs(t, err, core.ErrReadOnly)
		return nil
	})
	require.NoError(t, err)
}

// Old versions are kept while a snapshot needs them and collected once it
// is gone.
func TestGarbageCollectionFollowsOldestReader(t *testing.T) {
	db, _ := openMem(t)
	for i := 0; i < 5; i++ {
		require.NoError(t, db.Put([]byte("k"), []byte{byte('0' + i)}))
	}
	snap, err := db.Snapshot()
	require.NoError(t, err)
	for i := 5; i < 10; i++ {
		require.NoError(t, db.Put([]byte("k"), []byte{byte('0' + i)}))
	}
	versions := func() int {
		it, err := db.Storage().NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
		require.NoError(t, err)
		defer it.Close()
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		return n
	}
	require.NoError(t, db.Compact(nil, nil))
	require.Equal(t, 6, versions(), "the snapshot's version and the five after it stay")
	v, err := snap.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "4", string(v))

	require.NoError(t, snap.Close())
	require.NoError(t, db.Compact(nil, nil))
	require.Equal(t, 1, versions(), "once no reader needs them, old versions go")
	v, err = db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "9", string(v))
}
