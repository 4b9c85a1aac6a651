package btree_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestCloseCutsUncommittedTail checks that Close truncates the data file to
// the last commit's page count: pages an interrupted flush wrote past it
// (here written by hand, as a flush cut short by Close leaves them) must
// not stay in the directory, and the tree reads back whole.
func TestCloseCutsUncommittedTail(t *testing.T) {
	mem := vfs.NewMem()
	opts := btree.Options{Dir: "db"}
	e, err := btree.New(opts, btree.Deps{FS: mem})
	require.NoError(t, err)
	w := newWorkload(7, 500)
	m := newModel()
	for range 20 {
		b := w.batch(50)
		require.NoError(t, e.Apply(b))
		m.apply(b)
	}
	durable, err := e.Flush()
	require.NoError(t, err)
	st, err := e.Stats()
	require.NoError(t, err)
	committed := st.DiskBytes

	path := filepath.Join("db", btree.DataName)
	f, err := mem.OpenReadWrite(path)
	require.NoError(t, err)
	stray := make([]byte, 3*btree.DefaultPageSize)
	for i := range stray {
		stray[i] = 0xa5
	}
	_, err = f.WriteAt(stray, committed)
	require.NoError(t, err)
	size, err := f.Size()
	require.NoError(t, err)
	require.Equal(t, committed+int64(len(stray)), size)

	require.NoError(t, e.Close())
	size, err = f.Size()
	require.NoError(t, err)
	require.Equal(t, committed, size, "Close must cut the pages past the last commit")
	require.NoError(t, f.Close())

	e2 := openEngine(t, mem, opts, btree.Deps{})
	require.NoError(t, e2.Check())
	checkState(t, e2, m, durable, 0)
}
