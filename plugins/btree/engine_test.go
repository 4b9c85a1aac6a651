package btree_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opts btree.Options
		ok   bool
	}{
		{"defaults", btree.Options{Dir: "d"}, true},
		{"no dir", btree.Options{}, false},
		{"smallest page", btree.Options{Dir: "d", PageSize: btree.MinPageSize}, true},
		{"largest page", btree.Options{Dir: "d", PageSize: btree.MaxPageSize}, true},
		{"page not a power of two", btree.Options{Dir: "d", PageSize: 5000}, false},
		{"page too small", btree.Options{Dir: "d", PageSize: 512}, false},
		{"page too large", btree.Options{Dir: "d", PageSize: 2 * btree.MaxPageSize}, false},
		{"buffer too small", btree.Options{Dir: "d", WriteBufferSize: btree.MinWriteBufferSize - 1}, false},
		{"negative frozen buffers", btree.Options{Dir: "d", MaxFrozenBuffers: -1}, false},
		{"too many frozen buffers", btree.Options{Dir: "d", MaxFrozenBuffers: btree.MaxMaxFrozenBuffers + 1}, false},
		{"negative compact batch", btree.Options{Dir: "d", CompactBatch: -1}, false},
		{"shrink ratio above 1", btree.Options{Dir: "d", ShrinkRatio: 1.5}, false},
		{"shrink ratio negative", btree.Options{Dir: "d", ShrinkRatio: -0.5}, false},
		{"no private cache", btree.Options{Dir: "d", CacheSize: -1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			err := o.EnsureDefaults().Validate()
			if c.ok {
				require.NoError(t, err)
				e, err := btree.New(c.opts, btree.Deps{FS: vfs.NewMem()})
				require.NoError(t, err)
				require.NoError(t, e.Close())
				return
			}
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
			_, err = btree.New(c.opts, btree.Deps{FS: vfs.NewMem()})
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
		})
	}
	o := (&btree.Options{}).EnsureDefaults()
	require.Equal(t, btree.DefaultPageSize, o.PageSize)
	require.Equal(t, int64(btree.DefaultWriteBufferSize), o.WriteBufferSize)
}

func TestLockHeldWhileOpen(t *testing.T) {
	fs := vfs.NewMem()
	e, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs})
	require.NoError(t, err)
	_, err = btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs})
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, e.Close())
	e, err = btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs})
	require.NoError(t, err)
	require.NoError(t, e.Close())
}

// TestNewDirectorySurvivesCrash: a database made in directories that did
// not exist is found again after a crash that keeps nothing unsynced.
func TestNewDirectorySurvivesCrash(t *testing.T) {
	fs := vfs.NewMem()
	dir := filepath.Join("a", "b", "db")
	e, err := btree.New(btree.Options{Dir: dir}, btree.Deps{FS: fs})
	require.NoError(t, err)
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}))
	_, err = e.Flush()
	require.NoError(t, err)
	clone := fs.CrashClone(vfs.CrashOptions{})
	require.NoError(t, e.Close())
	e2, err := btree.New(btree.Options{Dir: dir}, btree.Deps{FS: clone})
	require.NoError(t, err)
	defer e2.Close()
	v, ts, err := e2.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, uint64(1), ts)
}

// TestPageSizeIsTheFiles: a file keeps the page size it was made with.
func TestPageSizeIsTheFiles(t *testing.T) {
	fs := vfs.NewMem()
	e := openEngine(t, fs, btree.Options{PageSize: 16 << 10}, btree.Deps{})
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	e2 := openEngine(t, fs, btree.Options{PageSize: btree.MinPageSize}, btree.Deps{})
	st, err := e2.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(16<<10), st.DiskBytes/st.Metrics["btree.pages"])
	v, _, err := e2.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

func TestCipherMismatch(t *testing.T) {
	fs := vfs.NewMem()
	e := openEngine(t, fs, btree.Options{}, btree.Deps{Cipher: newTestCipher(1)})
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("secret")}}))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	_, err = btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs})
	require.ErrorIs(t, err, interfaces.ErrIncompatible, "an encrypted file without a cipher")
	// Another key: pages fail to open, as corruption naming the page.
	e2, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs, Cipher: newTestCipher(2)})
	require.NoError(t, err, "the metas are not sealed; the free list is empty")
	_, _, err = e2.Get([]byte("k"), interfaces.MaxTs)
	requireCorruption(t, err, "Get with another key")
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.NoError(t, e2.Close())

	plain := vfs.NewMem()
	e3 := openEngine(t, plain, btree.Options{}, btree.Deps{})
	require.NoError(t, e3.Close())
	_, err = btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: plain, Cipher: newTestCipher(1)})
	require.ErrorIs(t, err, interfaces.ErrIncompatible, "a plain file with a cipher")
}

func TestCodecNeededToRead(t *testing.T) {
	fs := vfs.NewMem()
	e := openEngine(t, fs, btree.Options{}, btree.Deps{Codec: newTestCodec()})
	var es []interfaces.Entry
	for i := range 200 {
		es = append(es, interfaces.Entry{Key: []byte(fmt.Sprintf("key%04d", i)), Ts: 1, Kind: interfaces.KindSet, Value: bytes.Repeat([]byte("abc"), 20)})
	}
	require.NoError(t, e.Apply(es))
	_, err := e.Flush()
	require.NoError(t, err)
	require.NoError(t, e.Close())
	// Without the codec, compressed leaves cannot be read: incompatible,
	// not corrupt.
	e2, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: fs})
	require.NoError(t, err)
	_, _, err = e2.Get([]byte("key0001"), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	require.NoError(t, e2.Close())
	// With it among the readable codecs, they can; new leaves are written
	// uncompressed.
	e3 := openEngine(t, fs, btree.Options{}, btree.Deps{Codecs: []interfaces.Codec{newTestCodec()}})
	v, _, err := e3.Get([]byte("key0001"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("abc"), 20), v)
}

func TestDuplicateVersionInOneApply(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{}, btree.Deps{})
	err := e.Apply([]interfaces.Entry{
		{Key: []byte("a"), Ts: 5, Kind: interfaces.KindSet},
		{Key: []byte("b"), Ts: 5, Kind: interfaces.KindSet},
		{Key: []byte("a"), Ts: 5, Kind: interfaces.KindDelete},
	})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	_, _, err = e.Get([]byte("b"), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrNotFound, "nothing of a rejected Apply is applied")
	// One key at several ts in one call is fine.
	require.NoError(t, e.Apply([]interfaces.Entry{
		{Key: []byte("a"), Ts: 5, Kind: interfaces.KindSet, Value: []byte("5")},
		{Key: []byte("a"), Ts: 6, Kind: interfaces.KindSet, Value: []byte("6")},
	}))
	v, ts, err := e.Get([]byte("a"), 5)
	require.NoError(t, err)
	require.Equal(t, "5", string(v))
	require.Equal(t, uint64(5), ts)
}

// TestLargeKeysAndValues stores keys near MaxKeySize (node images that
// need a chain of pages) and values from one byte to several pages, at the
// smallest page size, through flushes, compaction and a reopen.
func TestLargeKeysAndValues(t *testing.T) {
	fs := vfs.NewMem()
	e := openEngine(t, fs, btree.Options{PageSize: btree.MinPageSize}, btree.Deps{Codec: newTestCodec()})
	m := newModel()
	var es []interfaces.Entry
	for i := range 12 {
		key := bytes.Repeat([]byte{byte('a' + i)}, 1+i*5000)
		value := bytes.Repeat([]byte{byte(i), 1, 2, 3, 4, 5, 6}, 1+i*700)
		es = append(es, interfaces.Entry{Key: key, Ts: 1, Kind: interfaces.KindSet, Value: value})
	}
	es = append(es, interfaces.Entry{Key: bytes.Repeat([]byte{'z'}, interfaces.MaxKeySize), Ts: 1, Kind: interfaces.KindSet, Value: []byte("x")})
	require.NoError(t, e.Apply(es))
	m.apply(es)
	_, err := e.Flush()
	require.NoError(t, err)
	checkState(t, e, m, interfaces.MaxTs, 0)
	require.NoError(t, e.Check())
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: es[5].Key, Ts: 2, Kind: interfaces.KindDelete}}))
	m.apply([]interfaces.Entry{{Key: es[5].Key, Ts: 2, Kind: interfaces.KindDelete}})
	require.NoError(t, e.SetDiscardTs(2))
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	require.NoError(t, e.Check())
	checkState(t, e, m, interfaces.MaxTs, 2)
	require.NoError(t, e.Close())
	e2 := openEngine(t, fs, btree.Options{}, btree.Deps{Codec: newTestCodec()})
	checkState(t, e2, m, interfaces.MaxTs, 2)
}

// TestFreeListIsNotRewrittenPerCommit: with thousands of free pages, a
// commit that changes a few of them writes a few pages, not the list.
func TestFreeListIsNotRewrittenPerCommit(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{PageSize: btree.MinPageSize, ShrinkRatio: 1}, btree.Deps{})
	var es []interfaces.Entry
	for i := range 60000 {
		es = append(es, interfaces.Entry{Key: []byte(fmt.Sprintf("k%06d", i)), Ts: 1, Kind: interfaces.KindSet, Value: []byte("value")})
	}
	require.NoError(t, e.Apply(es))
	_, err := e.Flush()
	require.NoError(t, err)
	// Rewrite every leaf twice: the first tree's pages become free.
	for ts := uint64(2); ts <= 3; ts++ {
		for i := range es {
			es[i].Ts = ts
		}
		require.NoError(t, e.Apply(es))
		_, err = e.Flush()
		require.NoError(t, err)
	}
	st, err := e.Stats()
	require.NoError(t, err)
	free := st.Metrics["btree.free_pages"] + st.Metrics["btree.pending_pages"]
	require.Greater(t, free, int64(2000))
	before := st.Metrics["btree.pages_written"]
	const commits = 20
	for i := range commits {
		ts := uint64(10 + i)
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k000100"), Ts: ts, Kind: interfaces.KindSet, Value: []byte("x")}}))
		_, err := e.Flush()
		require.NoError(t, err)
	}
	st, err = e.Stats()
	require.NoError(t, err)
	perCommit := float64(st.Metrics["btree.pages_written"]-before) / commits
	t.Logf("%d free pages; %.1f pages written per single-key commit", free, perCommit)
	// A leaf, the path above it (height 2 or 3), a free-list delta, and
	// now and then a snapshot of the list (a few pages here, amortised over
	// the commits since the last one). Writing the whole list, as bbolt
	// does, would take more than that alone.
	require.Less(t, perCommit, 8.0)
}

func TestUseAfterCloseAndFailStop(t *testing.T) {
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, nil)
	e, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: efs})
	require.NoError(t, err)
	require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("a"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("1")}}))
	efs.SetInjector(vfs.FailNth(1, vfs.OpSync, "", true))
	_, err = e.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, err, vfs.ErrInjected)
	// Writes are refused; reads keep working, from the write buffer.
	require.ErrorIs(t, e.Apply([]interfaces.Entry{{Key: []byte("b"), Ts: 2, Kind: interfaces.KindSet}}), interfaces.ErrFailStopped)
	_, err = e.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	v, _, err := e.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	efs.SetInjector(nil)
	require.NoError(t, e.Close())
	require.True(t, errors.Is(e.Close(), interfaces.ErrClosed))
}

func TestWriteStallsAndBackgroundFlush(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{WriteBufferSize: btree.MinWriteBufferSize, MaxFrozenBuffers: 1}, btree.Deps{})
	m := newModel()
	w := newWorkload(5, 5000)
	for range 200 {
		b := w.batch(100)
		require.NoError(t, e.Apply(b))
		m.apply(b)
	}
	st, err := e.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Metrics["btree.flushes"], "full buffers are flushed in the background")
	require.Less(t, st.MemBytes, int64(4*btree.MinWriteBufferSize), "buffered memory stays bounded")
	checkState(t, e, m, interfaces.MaxTs, 0)
	d, err := e.DurableTs()
	require.NoError(t, err)
	require.Positive(t, d, "background flushes make data durable")
}

// TestIteratorSkipsHotKeys scans past keys with many versions in the write
// buffer and in the tree: the iterator seeks past a key's older versions
// after a few steps, and must land exactly on the next key, at the
// snapshot and in every source.
func TestIteratorSkipsHotKeys(t *testing.T) {
	e := openEngine(t, vfs.NewMem(), btree.Options{}, btree.Deps{})
	ts := uint64(0)
	put := func(k string, v string) {
		ts++
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)}}))
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		put(k, k+"0")
	}
	// Versions of b and c in the tree, then more in the buffer.
	for i := 1; i <= 30; i++ {
		put("b", fmt.Sprintf("b%d", i))
		put("c", fmt.Sprintf("c%d", i))
	}
	_, err := e.Flush()
	require.NoError(t, err)
	for i := 31; i <= 60; i++ {
		put("b", fmt.Sprintf("b%d", i))
	}
	snap := ts
	put("c", "c-after-snapshot")
	it, err := e.NewIterator(interfaces.IterOptions{ReadTs: snap})
	require.NoError(t, err)
	defer it.Close()
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	require.NoError(t, it.Err())
	require.Equal(t, []string{"a=a0", "b=b60", "c=c30", "d=d0"}, got)
}
