package btree_test

import (
	"bytes"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestCorruptEveryPage flips a byte in every page of a small database — in
// the header, in the middle and at the end of each page — and checks that
// the damage is reported as a *interfaces.CorruptionError naming the file
// and an offset, by New or Check or the read that meets it, and that no
// read ever returns a wrong answer: every value returned is the model's,
// and every walk that ends without an error yields exactly the model's
// versions. A flipped meta page makes the engine open the other, older
// meta: its reads must then match the model at that older durable ts.
func TestCorruptEveryPage(t *testing.T) {
	for _, v := range crashVariants {
		t.Run(v.name, func(t *testing.T) {
			mem := vfs.NewMem()
			e, m, pageSize := corruptSetup(t, mem, v)
			require.NoError(t, e.Close())
			size := fileSize(t, mem)
			pages := size / int64(pageSize)
			t.Logf("%d pages of %d bytes", pages, pageSize)
			reported := 0
			for p := int64(0); p < pages; p++ {
				for _, off := range []int64{5, int64(pageSize) / 2, int64(pageSize) - 1} {
					clone := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
					flipByte(t, clone, filepath.Join("db", btree.DataName), p*int64(pageSize)+off)
					deps := v.deps()
					deps.FS = clone
					opts := v.opts
					opts.Dir = "db"
					if corruptReads(t, opts, deps, m, fmt.Sprintf("page %d offset %d", p, off)) {
						reported++
					}
				}
			}
			// Most pages are reachable: most flips must be noticed.
			require.Greater(t, reported, int(pages))
		})
	}
}

// TestCorruptMappedPages runs a shorter version on the OS file system, where
// pages are read from a memory map and, when uncompressed, searched in it.
func TestCorruptMappedPages(t *testing.T) {
	dir := t.TempDir()
	v := crashVariants[0]
	e, m, pageSize := corruptSetupOn(t, vfs.Default, filepath.Join(dir, "orig"), v)
	require.NoError(t, e.Close())
	data, err := os.ReadFile(filepath.Join(dir, "orig", btree.DataName))
	require.NoError(t, err)
	for p := 2; p < len(data)/pageSize; p++ {
		work := filepath.Join(dir, fmt.Sprintf("p%d", p))
		require.NoError(t, os.MkdirAll(work, 0o755))
		bad := bytes.Clone(data)
		bad[p*pageSize+pageSize/2] ^= 0x40
		require.NoError(t, os.WriteFile(filepath.Join(work, btree.DataName), bad, 0o644))
		opts := v.opts
		opts.Dir = work
		corruptReads(t, opts, btree.Deps{FS: vfs.Default}, m, fmt.Sprintf("mapped page %d", p))
		require.NoError(t, os.RemoveAll(work))
	}
}

func corruptSetup(t *testing.T, fs vfs.FS, v crashVariant) (*btree.Engine, *model, int) {
	return corruptSetupOn(t, fs, "db", v)
}

func corruptSetupOn(t *testing.T, fs vfs.FS, dir string, v crashVariant) (*btree.Engine, *model, int) {
	t.Helper()
	opts := v.opts
	opts.Dir = dir
	deps := v.deps()
	deps.FS = fs
	e, err := btree.New(opts, deps)
	require.NoError(t, err)
	m := newModel()
	w := newWorkload(11, 200)
	for i := range 5 {
		b := w.batch(50)
		require.NoError(t, e.Apply(b))
		m.apply(b)
		if i != 2 {
			_, err := e.Flush()
			require.NoError(t, err)
		}
	}
	return e, m, opts.PageSize
}

func fileSize(t *testing.T, fs vfs.FS) int64 {
	fi, err := fs.Stat(filepath.Join("db", btree.DataName))
	require.NoError(t, err)
	return fi.Size()
}

func flipByte(t *testing.T, fs vfs.FS, name string, off int64) {
	t.Helper()
	f, err := fs.OpenReadWrite(name)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// requireCorruption checks that err is, or joins, a *CorruptionError with
// a file and an offset.
func requireCorruption(t *testing.T, err error, what string) {
	t.Helper()
	var ce *interfaces.CorruptionError
	require.True(t, errors.As(err, &ce), "%s: %v is not a *CorruptionError", what, err)
	require.NotEmpty(t, ce.File, "%s: %v names no file", what, err)
	require.GreaterOrEqual(t, ce.Offset, int64(0), "%s: %v names no offset", what, err)
}

// corruptReads opens the damaged database and reads everything, and
// reports whether the damage was noticed.
func corruptReads(t *testing.T, opts btree.Options, deps btree.Deps, m *model, what string) (noticed bool) {
	t.Helper()
	e, err := btree.New(opts, deps)
	if err != nil {
		requireCorruption(t, err, what+": New")
		return true
	}
	defer e.Close()
	if err := e.Check(); err != nil {
		requireCorruption(t, err, what+": Check")
		noticed = true
	}
	d, err := e.DurableTs()
	require.NoError(t, err)
	for _, k := range m.sortedKeys() {
		want, ok := m.visible(k, interfaces.MaxTs, d)
		v, ts, err := e.Get([]byte(k), interfaces.MaxTs)
		switch {
		case err != nil && !errors.Is(err, interfaces.ErrNotFound):
			requireCorruption(t, err, what+": Get")
			noticed = true
		case ok && err != nil:
			t.Fatalf("%s: Get(%q) says not found; want %q at %d", what, k, want.value, want.ts)
		case !ok && err == nil:
			t.Fatalf("%s: Get(%q) = %q at %d; want not found", what, k, v, ts)
		case ok && (ts != want.ts || string(v) != want.value):
			t.Fatalf("%s: Get(%q) = %d bytes at %d; want %d bytes at %d", what, k, len(v), ts, len(want.value), want.ts)
		}
	}
	required, _ := m.expect(d, 0)
	for _, rev := range []bool{false, true} {
		it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true, Reverse: rev})
		require.NoError(t, err)
		var got []item
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, item{key: string(it.Key()), version: version{ts: it.Ts(), kind: it.Kind(), value: string(it.Value())}})
		}
		if err := it.Close(); err != nil {
			requireCorruption(t, err, what+": walk")
			noticed = true
			continue
		}
		want := required
		if rev {
			want = make([]item, len(required))
			for i := range required {
				want[i] = required[len(required)-1-i]
			}
		}
		require.Equal(t, len(want), len(got), "%s: a walk that ended without an error (reverse %v) has the wrong length", what, rev)
		for i := range want {
			require.Equal(t, want[i], got[i], "%s: walk (reverse %v) at %d", what, rev, i)
		}
	}
	return noticed
}

// TestStalePages replaces pages with what they held a few commits earlier —
// a lost write, or a page rolled back on purpose. Such a page has a valid
// checksum, its own id, and the right type; only the generation its
// pointer records tells it apart, and the engine must report it as
// corruption rather than read old data.
func TestStalePages(t *testing.T) {
	for _, v := range crashVariants {
		t.Run(v.name, func(t *testing.T) {
			mem := vfs.NewMem()
			e, m, pageSize := corruptSetup(t, mem, v)
			old := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			// Rewrite most leaves, reusing pages freed earlier.
			w := newWorkload(12, 200)
			w.ts = 1000
			for range 3 {
				b := w.batch(150)
				require.NoError(t, e.Apply(b))
				m.apply(b)
				_, err := e.Flush()
				require.NoError(t, err)
			}
			require.NoError(t, e.Close())
			oldData := readAll(t, old)
			newData := readAll(t, mem)
			stale := 0
			for p := 2; p*pageSize < min(len(oldData), len(newData)); p++ {
				o, n := oldData[p*pageSize:(p+1)*pageSize], newData[p*pageSize:(p+1)*pageSize]
				if bytes.Equal(o, n) {
					continue
				}
				stale++
				clone := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
				f, err := clone.OpenReadWrite(filepath.Join("db", btree.DataName))
				require.NoError(t, err)
				_, err = f.WriteAt(o, int64(p*pageSize))
				require.NoError(t, err)
				require.NoError(t, f.Close())
				deps := v.deps()
				deps.FS = clone
				opts := v.opts
				opts.Dir = "db"
				corruptReads(t, opts, deps, m, fmt.Sprintf("stale page %d", p))
			}
			require.Greater(t, stale, 5, "the later flushes must have reused pages")
		})
	}
}

func readAll(t *testing.T, fs vfs.FS) []byte {
	f, err := fs.Open(filepath.Join("db", btree.DataName))
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

// TestStaleRootLeaf puts back a root leaf's page as an earlier commit wrote
// it, at the same page id, with the same type and a valid checksum: only
// the generation in the meta's root pointer tells the two apart.
func TestStaleRootLeaf(t *testing.T) {
	mem := vfs.NewMem()
	e := openEngine(t, mem, btree.Options{PageSize: btree.MinPageSize}, btree.Deps{})
	apply := func(ts uint64, value string) {
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: ts, Kind: interfaces.KindSet, Value: []byte(value)}}))
		_, err := e.Flush()
		require.NoError(t, err)
	}
	apply(1, "first")
	old := readAll(t, mem)
	apply(2, "second") // the leaf moves to another page
	apply(3, "third")  // and back to the first one, freed meanwhile
	cur := readAll(t, mem)
	require.NoError(t, e.Close())
	const ps = btree.MinPageSize
	same := -1
	for p := 2; (p+1)*ps <= min(len(old), len(cur)); p++ {
		if old[p*ps+4] == cur[p*ps+4] && !bytes.Equal(old[p*ps:(p+1)*ps], cur[p*ps:(p+1)*ps]) {
			same = p
		}
	}
	require.GreaterOrEqual(t, same, 2, "the third flush reuses the first flush's leaf page")
	f, err := mem.OpenReadWrite(filepath.Join("db", btree.DataName))
	require.NoError(t, err)
	_, err = f.WriteAt(old[same*ps:(same+1)*ps], int64(same*ps))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	e2, err := btree.New(btree.Options{Dir: "db"}, btree.Deps{FS: mem})
	require.NoError(t, err)
	defer e2.Close()
	_, _, err = e2.Get([]byte("k"), interfaces.MaxTs)
	requireCorruption(t, err, "Get of a stale root leaf")
	require.ErrorContains(t, err, "generation")
	requireCorruption(t, e2.Check(), "Check of a stale root leaf")
}
