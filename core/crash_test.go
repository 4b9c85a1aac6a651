package core_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/vfs"
)

// crashOp is one step of the crash workload; apply performs it on db and
// model is what it does to the expected state.
type crashOp struct {
	name  string
	apply func(db *core.DB) error
	model func(m map[string]string)
}

// crashWorkload is a fixed sequence of commits of every kind, with a flush
// (a checkpoint) in the middle so that recovery starts from both an empty
// engine and a durable one.
func crashWorkload() []crashOp {
	var ops []crashOp
	put := func(k, v string) {
		ops = append(ops, crashOp{"put " + k,
			func(db *core.DB) error { return db.Put([]byte(k), []byte(v)) },
			func(m map[string]string) { m[k] = v }})
	}
	del := func(k string) {
		ops = append(ops, crashOp{"delete " + k,
			func(db *core.DB) error { return db.Delete([]byte(k)) },
			func(m map[string]string) { delete(m, k) }})
	}
	batch := func(i int) {
		ops = append(ops, crashOp{fmt.Sprintf("batch %d", i),
			func(db *core.DB) error {
				b := db.NewBatch()
				for j := 0; j < 5; j++ {
					_ = b.Put([]byte(fmt.Sprintf("b%d-%d", i, j)), []byte(fmt.Sprint(i)))
				}
				_ = b.Delete([]byte(fmt.Sprintf("k%d", i)))
				return db.Apply(b)
			},
			func(m map[string]string) {
				for j := 0; j < 5; j++ {
					m[fmt.Sprintf("b%d-%d", i, j)] = fmt.Sprint(i)
				}
				delete(m, fmt.Sprintf("k%d", i))
			}})
	}
	txn := func(i int) {
		ops = append(ops, crashOp{fmt.Sprintf("txn %d", i),
			func(db *core.DB) error {
				return db.Update(func(tx *core.Txn) error {
					for j := 0; j < 3; j++ {
						if err := tx.Put([]byte(fmt.Sprintf("t%d-%d", i, j)), []byte("t")); err != nil {
							return err
						}
					}
					return tx.Delete([]byte(fmt.Sprintf("b%d-0", i-1)))
				})
			},
			func(m map[string]string) {
				for j := 0; j < 3; j++ {
					m[fmt.Sprintf("t%d-%d", i, j)] = "t"
				}
				delete(m, fmt.Sprintf("b%d-0", i-1))
			}})
	}
	flush := func() {
		ops = append(ops, crashOp{"flush", func(db *core.DB) error { return db.Flush() }, func(map[string]string) {}})
	}
	for i := 0; i < 6; i++ {
		put(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
		batch(i)
		txn(i + 1)
		if i == 2 {
			flush()
		}
		if i%2 == 1 {
			del(fmt.Sprintf("k%d", i-1))
		}
	}
	return ops
}

// states returns the expected state after each prefix of ops.
func states(ops []crashOp) []map[string]string {
	out := []map[string]string{{}}
	for _, op := range ops {
		m := maps.Clone(out[len(out)-1])
		op.model(m)
		out = append(out, m)
	}
	return out
}

// dump reads the whole visible state of db.
func dump(t testing.TB, db *core.DB) map[string]string {
	t.Helper()
	it, err := db.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	defer it.Close()
	m := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	require.NoError(t, it.Err())
	return m
}

// runCrashWorkload opens a DB on fs and runs ops, stopping at the first
// failure. It returns how many ops were acknowledged.
func runCrashWorkload(fs vfs.FS, ops []crashOp) int {
	opts := memOptions(fs)
	opts.Sync = core.SyncAlways
	opts.WALSegmentSize = 64 << 10
	db, err := core.Open(testDir, opts)
	if err != nil {
		return 0
	}
	defer db.Close()
	acked := 0
	for _, op := range ops {
		if err := op.apply(db); err != nil {
			if op.name == "flush" && !errors.Is(err, core.ErrFailStopped) {
				// A failed checkpoint loses nothing: the WAL still has
				// everything. Commits go on until the disk refuses them.
				acked++
				continue
			}
			break
		}
		acked++
	}
	return acked
}

// TestCrashAtEveryIOPoint crashes the workload after each of its I/O
// operations in turn, with 0%, 50% and 100% of unsynced writes surviving,
// and checks that recovery yields a prefix of the commits that holds every
// acknowledged (synced) one.
func TestCrashAtEveryIOPoint(t *testing.T) {
	ops := crashWorkload()
	want := states(ops)

	counter := vfs.NewErrorFS(vfs.NewMem(), nil)
	require.Equal(t, len(ops), runCrashWorkload(counter, ops), "the workload runs clean without faults")
	total := counter.Ops()
	require.Greater(t, total, int64(50))

	step := int64(1)
	if testing.Short() {
		step = 7
	}
	for n := int64(1); n <= total; n += step {
		for _, keep := range []float64{0, 0.5, 1} {
			mem := vfs.NewMem()
			efs := vfs.NewErrorFS(mem, vfs.FailNth(n, vfs.OpAll, "", true))
			acked := runCrashWorkload(efs, ops)
			clone := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: rand.New(rand.NewPCG(uint64(n), 7))})

			db, err := core.Open(testDir, memOptions(clone))
			require.NoError(t, err, "reopen after a crash at I/O %d of %d (keep %.1f, %d acked)", n, total, keep, acked)
			got := dump(t, db)
			require.NoError(t, db.Close())
			if mapsEqual(got, want[acked]) || (acked < len(ops) && mapsEqual(got, want[acked+1])) {
				continue
			}
			// A failed checkpoint was counted as acknowledged; the
			// commits after it may be missing only if they were not.
			t.Fatalf("crash at I/O %d of %d (keep %.1f): %d ops acknowledged, recovered state matches no allowed prefix:\n%v\nwant %v",
				n, total, keep, acked, got, want[acked])
		}
	}
}

func mapsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }
