package btree_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestIteratorsPinTheirVersion opens iterators on the OS file system (pages
// read from a memory map), then deletes most keys, compacts (which moves
// pages and wants to truncate the file) and rewrites the rest, all while
// the iterators are half-way. They must still yield exactly their
// snapshot: no page they can reach is reused or cut off while they are
// open. Once they are closed, Compact shrinks the file.
func TestIteratorsPinTheirVersion(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, vfs.Default, btree.Options{Dir: dir, PageSize: btree.MinPageSize}, btree.Deps{})
	const n = 20000
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%06d", i)) }
	var es []interfaces.Entry
	for i := range n {
		es = append(es, interfaces.Entry{Key: key(i), Ts: 1, Kind: interfaces.KindSet, Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	require.NoError(t, e.Apply(es))
	_, err := e.Flush()
	require.NoError(t, err)
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, btree.DataName))
		require.NoError(t, err)
		return fi.Size()
	}
	loaded := size()

	fwd, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	rev, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: true})
	require.NoError(t, err)
	require.True(t, fwd.First())
	require.True(t, rev.First())
	for range n / 3 {
		require.True(t, fwd.Next())
		require.True(t, rev.Next())
	}

	var dels []interfaces.Entry
	for i := range n {
		if i%10 != 0 {
			dels = append(dels, interfaces.Entry{Key: key(i), Ts: 2, Kind: interfaces.KindDelete})
		}
	}
	require.NoError(t, e.Apply(dels))
	require.NoError(t, e.SetDiscardTs(2))
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	var sets []interfaces.Entry
	for i := 0; i < n; i += 10 {
		sets = append(sets, interfaces.Entry{Key: key(i), Ts: 3, Kind: interfaces.KindSet, Value: []byte("new")})
	}
	require.NoError(t, e.Apply(sets))
	_, err = e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	require.NoError(t, e.Check())

	// The iterators go on in their snapshot.
	i := n / 3
	for ok := true; ok; ok = fwd.Next() {
		require.Equal(t, string(key(i)), string(fwd.Key()))
		require.Equal(t, fmt.Sprintf("value-%d", i), string(fwd.Value()))
		i++
	}
	require.Equal(t, n, i)
	require.NoError(t, fwd.Close())
	i = n - 1 - n/3
	for ok := true; ok; ok = rev.Next() {
		require.Equal(t, string(key(i)), string(rev.Key()))
		i--
	}
	require.Equal(t, -1, i)
	require.NoError(t, rev.Close())

	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	require.NoError(t, e.Check())
	shrunk := size()
	t.Logf("%d KiB loaded, %d KiB after deleting 90%% and compacting", loaded>>10, shrunk>>10)
	require.Less(t, shrunk, loaded/3)
	v, ts, err := e.Get(key(10), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
	require.Equal(t, uint64(3), ts)
	_, _, err = e.Get(key(11), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrNotFound)
}
