package core_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/vfs"
)

// TestWriteAndSyncErrorsFailStop injects one WAL write or sync error at each
// point of a workload in turn. The failing commit must report it, the DB
// must refuse every later write (no retried fsync, no silent success) while
// reads keep working, and a reopen must recover a prefix holding every
// acknowledged commit.
func TestWriteAndSyncErrorsFailStop(t *testing.T) {
	ops := crashWorkload()
	want := states(ops)
	for _, kind := range []struct {
		name string
		op   vfs.OpKind
	}{{"write", vfs.OpWrite}, {"sync", vfs.OpSync}} {
		t.Run(kind.name, func(t *testing.T) {
			counter := vfs.NewErrorFS(vfs.NewMem(), nil)
			runCrashWorkload(counter, ops)
			for n := int64(1); ; n++ {
				mem := vfs.NewMem()
				inj := vfs.FailNth(n, kind.op, "/wal/", false)
				efs := vfs.NewErrorFS(mem, inj)
				opts := memOptions(efs)
				db, err := core.Open(testDir, opts)
				if err != nil {
					// The fault hit Open itself (creating the first
					// segment): Open must say so, and a retry works.
					require.True(t, inj.Fired() > 0)
					db, err = core.Open(testDir, memOptions(mem))
					require.NoError(t, err)
					require.NoError(t, db.Close())
					continue
				}
				acked, failedAt := 0, -1
				for i, op := range ops {
					if err := op.apply(db); err != nil {
						failedAt = i
						require.ErrorIs(t, err, core.ErrFailStopped, "op %q at fault %d", op.name, n)
						break
					}
					acked++
				}
				if inj.Fired() == 0 {
					err := db.Close()
					if inj.Fired() == 0 {
						require.NoError(t, err)
						break // past the last WAL write or sync of the workload
					}
					// The fault hit Close (its final sync or marker):
					// nothing acknowledged may be lost.
					db, err = core.Open(testDir, memOptions(mem))
					require.NoError(t, err)
					require.Equal(t, want[len(ops)], dump(t, db))
					require.NoError(t, db.Close())
					continue
				}
				require.NotEqual(t, -1, failedAt, "fault %d fired but no op failed", n)
				// Every later write is refused, though the disk works again.
				require.ErrorIs(t, db.Put([]byte("later"), nil), core.ErrFailStopped)
				require.ErrorIs(t, db.Sync(), core.ErrFailStopped)
				require.True(t, db.Stats().FailStopped)
				// Reads still work and see every acknowledged commit.
				require.Equal(t, want[acked], dump(t, db))
				_ = db.Close()

				db, err = core.Open(testDir, memOptions(mem))
				require.NoError(t, err, "reopen after fault %d", n)
				got := dump(t, db)
				require.True(t, mapsEqual(got, want[acked]) || mapsEqual(got, want[acked+1]),
					"fault %d: recovered %v, want the state after %d or %d ops", n, got, acked, acked+1)
				require.NoError(t, db.Put([]byte("after-recovery"), []byte("ok")), "writes work after reopen")
				require.NoError(t, db.Close())
			}
		})
	}
}
