package btree

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/vfs"
)

// TestFreeListSnapshotSizes writes free-list snapshots of every size around
// the point where one more page is needed. The snapshot's own pages leave
// the set it encodes, which can make the encoding a page shorter than
// planned; the commit must still succeed and the set must read back.
func TestFreeListSnapshotSizes(t *testing.T) {
	for n := 900; n <= 1010; n++ {
		fs := vfs.NewMem()
		e, err := New(Options{Dir: "db", PageSize: MinPageSize}, Deps{FS: fs})
		require.NoError(t, err)
		e.commitMu.Lock()
		// Pages 2..n+6 at the end of the file; n of them freed, the last
		// ones kept so the free run does not end the file.
		t1 := e.beginLocked()
		ids := t1.alloc(n + 5)
		zero := make([]byte, e.p.pageSize)
		for _, id := range ids {
			require.NoError(t, t1.w.write(id, zero))
		}
		t1.free(ids[:n]...)
		v, err := t1.commit(0, 0)
		require.NoError(t, err)
		e.installLocked(v, 0)
		t2 := e.beginLocked()
		t2.forceSnapshot = true
		v, err = t2.commit(0, 0)
		require.NoError(t, err, "snapshot of %d free pages", n)
		e.installLocked(v, 0)
		want := e.fl.persisted()
		e.commitMu.Unlock()
		require.NoError(t, e.Close())

		e, err = New(Options{Dir: "db"}, Deps{FS: fs})
		require.NoError(t, err, "reopen after a snapshot of %d free pages", n)
		require.Equal(t, want, e.fl.persisted(), "free list of %d pages read back", n)
		require.NoError(t, e.Close())
	}
}
