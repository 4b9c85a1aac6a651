package lsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// corruptionDB builds a small database on a MemFS with tables in L0 and
// deeper levels, versions and tombstones, and returns the closed FS and
// the model of what it holds.
func corruptionDB(t *testing.T, cipher interfaces.Cipher) (*vfs.MemFS, *model) {
	fs := vfs.NewMem()
	opts := modelOptions()
	opts.DisableAutoCompactions = true
	opts.BloomBitsPerKey = 10
	e, err := New(opts, Deps{FS: fs, Cipher: cipher})
	require.NoError(t, err)
	m := newModel()
	ts := uint64(0)
	for round := range 4 {
		var es []interfaces.Entry
		ts++
		for i := range 40 {
			k := fmt.Sprintf("key%03d", (i*7+round*3)%60)
			if i%9 == 4 {
				es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindDelete})
			} else {
				es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(fmt.Sprintf("%s@%d-%040d", k, ts, i))})
			}
		}
		require.NoError(t, e.Apply(es))
		m.apply(es)
		_, err := e.Flush()
		require.NoError(t, err)
		if round == 1 {
			require.NoError(t, e.Compact(interfaces.KeyRange{}))
		}
	}
	st, err := e.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Metrics["lsm.l0.files"])
	require.Positive(t, st.Metrics["lsm.level.1.files"])
	require.NoError(t, e.Check())
	require.NoError(t, e.Close())
	return fs, m
}

// flipByte xors one byte of the file at path.
func flipByte(t *testing.T, fs vfs.FS, path string, off int64, mask byte) {
	f, err := fs.OpenReadWrite(path)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= mask
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// requireCorruptionIn checks that err holds a *CorruptionError naming
// path.
func requireCorruptionIn(t *testing.T, err error, path string, what string) {
	t.Helper()
	require.Error(t, err, what)
	require.True(t, interfaces.IsCorruption(err), "%s: %v", what, err)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce, what)
	found := false
	for e := err; e != nil; {
		if errors.As(e, &ce) && ce.File == path {
			found = true
			break
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				if errors.As(x, &ce) && ce.File == path {
					found = true
				}
			}
			break
		}
		e = errors.Unwrap(e)
	}
	require.True(t, found, "%s: no corruption names %s: %v", what, path, err)
}

// readAll reads the database every way: Get of every key of the model, and
// whole walks in both directions with all versions. Each read returns what
// the model says or a corruption error, never a wrong answer or a panic. It
// reports whether any read met corruption.
func readAll(t *testing.T, e *Engine, m *model, what string) (detected bool) {
	t.Helper()
	for _, k := range m.sortedKeys() {
		v, ts, err := e.Get([]byte(k), interfaces.MaxTs)
		want, ok := m.get(k, interfaces.MaxTs)
		switch {
		case err != nil && interfaces.IsCorruption(err):
			detected = true
		case !ok:
			require.ErrorIs(t, err, interfaces.ErrNotFound, "%s: Get(%q)", what, k)
		default:
			require.NoError(t, err, "%s: Get(%q)", what, k)
			require.Equal(t, want.value, string(v), "%s: Get(%q)", what, k)
			require.Equal(t, want.ts, ts, "%s: Get(%q)", what, k)
		}
	}
	for _, reverse := range []bool{false, true} {
		opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true, Reverse: reverse}
		want, _ := m.expect(opts)
		it, err := e.NewIterator(opts)
		require.NoError(t, err)
		var got []modelVersion
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, modelVersion{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
		}
		if err := it.Close(); err != nil {
			require.True(t, interfaces.IsCorruption(err), "%s: iterator: %v", what, err)
			detected = true
			// What came before the error is right, in order.
			require.True(t, len(got) <= len(want) && slices.Equal(got, want[:len(got)]), "%s: walk before the error:\ngot  %s\nwant %s", what, fmtVersions(got), fmtVersions(want))
			continue
		}
		require.Equal(t, fmtVersions(want), fmtVersions(got), "%s: walk reverse=%v", what, reverse)
	}
	return detected
}

// TestCorruptTables flips bytes in every table of an open engine (as rot
// on disk would) and checks that Check reports a CorruptionError naming
// the table, and that reads return the right answer or a corruption error
// — at least one of them an error — never a wrong answer or a panic.
func TestCorruptTables(t *testing.T) {
	for _, c := range []struct {
		name   string
		cipher interfaces.Cipher
	}{{"plain", nil}, {"sealed", newTestCipher(4)}} {
		t.Run(c.name, func(t *testing.T) {
			fs, m := corruptionDB(t, c.cipher)
			opts := modelOptions()
			opts.DisableAutoCompactions = true
			e, err := New(opts, Deps{FS: fs, Cipher: c.cipher})
			require.NoError(t, err)
			defer e.Close()
			require.False(t, readAll(t, e, m, "intact"))
			var tables []*fileMeta
			for l := range e.current.levels {
				tables = append(tables, e.current.levels[l]...)
			}
			require.NotEmpty(t, tables)
			for _, f := range tables {
				path := filepath.Join("db", tableName(f.num))
				// Every byte of the footer and metadata end of the table,
				// and a stride through the data blocks.
				stride := int64(7)
				if testing.Short() {
					stride = 31
				}
				for off := int64(0); off < int64(f.size); off++ {
					if off%stride != 0 && off < int64(f.size)-96 {
						continue
					}
					what := fmt.Sprintf("%s byte %d of %d", path, off, f.size)
					flipByte(t, fs, path, off, 0x20)
					// Drop the open reader, so the table's metadata is read
					// again as a fresh open would.
					e.tc.evict(f.num)
					requireCorruptionIn(t, e.Check(), path, what)
					require.True(t, readAll(t, e, m, what), "%s: no read noticed", what)
					flipByte(t, fs, path, off, 0x20)
					e.tc.evict(f.num)
				}
			}
			require.NoError(t, e.Check())
			require.False(t, readAll(t, e, m, "restored"))
		})
	}
}

// TestCorruptManifest flips every byte of the manifest and of CURRENT: the
// open engine's Check reports it, and opening a copy of the damaged
// database fails with a CorruptionError naming the file.
func TestCorruptManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		cipher interfaces.Cipher
	}{{"plain", nil}, {"sealed", newTestCipher(4)}} {
		t.Run(c.name, func(t *testing.T) {
			fs, m := corruptionDB(t, c.cipher)
			opts := modelOptions()
			opts.DisableAutoCompactions = true
			e, err := New(opts, Deps{FS: fs, Cipher: c.cipher})
			require.NoError(t, err)
			defer e.Close()
			mpath := e.manifest.path
			for _, path := range []string{mpath, filepath.Join("db", currentName)} {
				fi, err := fs.Stat(path)
				require.NoError(t, err)
				for off := range fi.Size() {
					what := fmt.Sprintf("%s byte %d", path, off)
					flipByte(t, fs, path, off, 0x01)
					requireCorruptionIn(t, e.Check(), path, what)
					clone := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
					e2, err := New(opts, Deps{FS: clone, Cipher: c.cipher})
					if err == nil {
						_ = e2.Close()
					}
					requireCorruptionIn(t, err, path, what)
					flipByte(t, fs, path, off, 0x01)
				}
			}
			require.NoError(t, e.Check())
			require.False(t, readAll(t, e, m, "restored"))
		})
	}
}
