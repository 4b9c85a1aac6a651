package core_test

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
)

var bankDuration = flag.Duration("bank.duration", 2*time.Second,
	"how long the bank test moves money (CI uses the default; soak with e.g. -bank.duration=10m)")

const (
	bankAccounts = 1000
	bankInitial  = 1000
)

func account(i int) []byte { return []byte(fmt.Sprintf("acct/%04d", i)) }

func balance(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }

func amount(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// runBank runs the bank invariant on db: 16 writers move money between
// random accounts in transactions while readers sum every account in a
// snapshot, again and again; the total must never change. Writers mix
// snapshot isolation and serializable, optimistic reads and GetForUpdate.
func runBank(t *testing.T, db *core.DB, d time.Duration) {
	b := db.NewBatch()
	for i := 0; i < bankAccounts; i++ {
		require.NoError(t, b.Put(account(i), amount(bankInitial)))
	}
	require.NoError(t, db.Apply(b))
	const total = bankAccounts * bankInitial

	deadline := time.Now().Add(d)
	var (
		wg                 sync.WaitGroup
		transfers, retries atomic.Int64
		sums               atomic.Int64
		failed             atomic.Bool
		isolations         = []core.Isolation{core.SnapshotIsolation, core.Serializable}
		pessimisticWriters = 4
		optimisticWriters  = 12
		readers            = 2
		errorf             = func(format string, args ...any) { failed.Store(true); t.Errorf(format, args...) }
	)
	transfer := func(rng *rand.Rand, locking bool, iso core.Isolation) error {
		from, to := rng.IntN(bankAccounts), rng.IntN(bankAccounts)
		if from == to {
			return nil
		}
		if locking && from > to {
			// Lock in one order so that these writers rarely deadlock;
			// deadlocks with the optimistic ones are still possible and
			// are retried like conflicts.
			from, to = to, from
		}
		tx, err := db.Begin(core.TxnOptions{Isolation: iso})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		get := tx.Get
		if locking {
			get = tx.GetForUpdate
		}
		fv, err := get(account(from))
		if err != nil {
			return err
		}
		tv, err := get(account(to))
		if err != nil {
			return err
		}
		n := rng.Int64N(10)
		if err := tx.Put(account(from), amount(balance(fv)-n)); err != nil {
			return err
		}
		if err := tx.Put(account(to), amount(balance(tv)+n)); err != nil {
			return err
		}
		return tx.Commit()
	}
	for w := 0; w < pessimisticWriters+optimisticWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			locking := w < pessimisticWriters
			iso := isolations[w%2]
			for time.Now().Before(deadline) && !failed.Load() {
				err := transfer(rng, locking, iso)
				switch {
				case err == nil:
					transfers.Add(1)
				case errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrDeadlock), errors.Is(err, core.ErrLockTimeout):
					retries.Add(1)
				default:
					errorf("transfer: %v", err)
					return
				}
			}
		}(w)
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for time.Now().Before(deadline) && !failed.Load() {
				var sum int64
				var n int
				err := db.View(func(tx *core.Txn) error {
					it, err := tx.NewIterator(core.IterOptions{Prefix: []byte("acct/"), Reverse: r == 1})
					if err != nil {
						return err
					}
					for ok := it.First(); ok; ok = it.Next() {
						sum += balance(it.Value())
						n++
					}
					return it.Close()
				})
				if err != nil {
					errorf("sum: %v", err)
					return
				}
				if sum != total || n != bankAccounts {
					errorf("snapshot sums to %d over %d accounts, want %d over %d", sum, n, total, bankAccounts)
					return
				}
				sums.Add(1)
			}
		}(r)
	}
	wg.Wait()
	t.Logf("bank: %d transfers, %d retried, %d consistent sums in %v", transfers.Load(), retries.Load(), sums.Load(), d)
	require.Positive(t, transfers.Load())
	require.Positive(t, sums.Load())

	// The final state sums up too, and survives a flush.
	require.NoError(t, db.Flush())
	var sum int64
	for i := 0; i < bankAccounts; i++ {
		v, err := db.Get(account(i))
		require.NoError(t, err)
		sum += balance(v)
	}
	require.Equal(t, int64(total), sum)
}

func TestBankInvariant(t *testing.T) {
	d := *bankDuration
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	db, _ := openMem(t, func(o *core.Options) { o.Sync = core.SyncNone; o.GCInterval = 50 * time.Millisecond })
	runBank(t, db, d)
}
