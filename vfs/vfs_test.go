package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testingT is what the helpers need of a *testing.T or a *rapid.T.
type testingT interface {
	require.TestingT
	Helper()
}

// fsMaker makes a fresh FS for one test and the directory to work in.
type fsMaker func(t *testing.T) (FS, string)

// implementations lists every FS the shared suite runs against: the two
// real ones and an ErrorFS with no injector over each, which must be
// transparent.
func implementations() map[string]fsMaker {
	return map[string]fsMaker{
		"os":  func(t *testing.T) (FS, string) { return NewOS(), t.TempDir() },
		"mem": func(t *testing.T) (FS, string) { return NewMem(), "/data" },
		"errorfs-os": func(t *testing.T) (FS, string) {
			return NewErrorFS(NewOS(), nil), t.TempDir()
		},
		"errorfs-mem": func(t *testing.T) (FS, string) {
			return NewErrorFS(NewMem(), nil), "data"
		},
	}
}

// TestFS runs the behavioural suite against every implementation: what
// the FS and File contracts promise must hold for each alike.
func TestFS(t *testing.T) {
	for name, mk := range implementations() {
		t.Run(name, func(t *testing.T) {
			for _, tc := range fsSuite {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					fsys, dir := mk(t)
					require.NoError(t, fsys.MkdirAll(dir, 0o755))
					tc.run(t, fsys, dir)
				})
			}
		})
	}
}

var fsSuite = []struct {
	name string
	run  func(t *testing.T, fsys FS, dir string)
}{
	{"CreateWriteRead", testCreateWriteRead},
	{"WritePosition", testWritePosition},
	{"OpenReadWrite", testOpenReadWrite},
	{"CreateTruncatesExisting", testCreateTruncates},
	{"OpenReadOnly", testOpenReadOnly},
	{"Truncate", testTruncate},
	{"SyncAndSyncDir", testSync},
	{"Close", testClose},
	{"Remove", testRemove},
	{"RemoveOpenFile", testRemoveOpenFile},
	{"RemoveAll", testRemoveAll},
	{"Rename", testRename},
	{"RenameOverExisting", testRenameOverExisting},
	{"RenameOpenFile", testRenameOpenFile},
	{"RenameDir", testRenameDir},
	{"MkdirAll", testMkdirAll},
	{"List", testList},
	{"Stat", testStat},
	{"Lock", testLock},
	{"MissingParent", testMissingParent},
	{"ConcurrentReadWrite", testConcurrentReadWrite},
}

// writeFile creates name holding data, synced.
func writeFile(t testingT, fsys FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	n, err := f.Write(data)
	require.NoError(t, err)
	require.Equal(t, len(data), n)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// contents returns all of f.
func contents(t testingT, f File) []byte {
	t.Helper()
	size, err := f.Size()
	require.NoError(t, err)
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil {
		require.ErrorIs(t, err, io.EOF)
	}
	require.Equal(t, int(size), n)
	return buf
}

// readFile returns the contents of name.
func readFile(t testingT, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	return contents(t, f)
}

func requireNotExist(t testingT, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, fs.ErrNotExist, "%v", err)
}

func testCreateWriteRead(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	f, err := fsys.Create(name)
	require.NoError(t, err)
	require.Equal(t, name, f.Name())
	size, err := f.Size()
	require.NoError(t, err)
	require.Zero(t, size)

	_, err = f.Write([]byte("hello"))
	require.NoError(t, err)
	_, err = f.Write([]byte(" world"))
	require.NoError(t, err)
	require.Equal(t, []byte("hello world"), contents(t, f))

	buf := make([]byte, 5)
	n, err := f.ReadAt(buf, 6)
	require.NoError(t, err)
	require.Equal(t, "world", string(buf[:n]))

	// A read running past the end is short, with io.EOF.
	n, err = f.ReadAt(buf, 8)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "rld", string(buf[:n]))
	// A read at or past the end reads nothing, with io.EOF.
	n, err = f.ReadAt(buf, 11)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, n)
	n, err = f.ReadAt(buf, 100)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, n)
	// An empty read succeeds anywhere.
	n, err = f.ReadAt(nil, 100)
	require.NoError(t, err)
	require.Zero(t, n)
	// Negative offsets are refused.
	_, err = f.ReadAt(buf, -1)
	require.Error(t, err)
	_, err = f.WriteAt(buf, -1)
	require.Error(t, err)

	// WriteAt overwrites in place and extends, leaving zeros in the gap.
	_, err = f.WriteAt([]byte("W"), 6)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("!"), 13)
	require.NoError(t, err)
	require.Equal(t, []byte("hello World\x00\x00!"), contents(t, f))
	require.NoError(t, f.Close())

	require.Equal(t, []byte("hello World\x00\x00!"), readFile(t, fsys, name))
}

func testWritePosition(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	// WriteAt does not move the write position...
	_, err = f.WriteAt([]byte("XY"), 10)
	require.NoError(t, err)
	_, err = f.Write([]byte("d"))
	require.NoError(t, err)
	require.Equal(t, []byte("abcd\x00\x00\x00\x00\x00\x00XY"), contents(t, f))
	// ... nor does Truncate: the next Write lands at 4, past the new end,
	// leaving a hole.
	require.NoError(t, f.Truncate(2))
	_, err = f.Write([]byte("e"))
	require.NoError(t, err)
	require.Equal(t, []byte("ab\x00\x00e"), contents(t, f))
	require.NoError(t, f.Close())
}

func testOpenReadWrite(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	// Missing: created empty.
	f, err := fsys.OpenReadWrite(name)
	require.NoError(t, err)
	require.Empty(t, contents(t, f))
	_, err = f.Write([]byte("one"))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// Existing: not truncated, and Write appends.
	f, err = fsys.OpenReadWrite(name)
	require.NoError(t, err)
	require.Equal(t, []byte("one"), contents(t, f))
	_, err = f.Write([]byte("two"))
	require.NoError(t, err)
	// WriteAt still writes where it is told.
	_, err = f.WriteAt([]byte("O"), 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("3"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, []byte("Onetwo3"), readFile(t, fsys, name))
}

func testCreateTruncates(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fsys, name, []byte("old contents"))
	f, err := fsys.Create(name)
	require.NoError(t, err)
	require.Empty(t, contents(t, f))
	_, err = f.Write([]byte("new"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, []byte("new"), readFile(t, fsys, name))
}

func testOpenReadOnly(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	_, err := fsys.Open(name)
	requireNotExist(t, err)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)

	writeFile(t, fsys, name, []byte("data"))
	f, err := fsys.Open(name)
	require.NoError(t, err)
	require.Equal(t, []byte("data"), contents(t, f))
	_, err = f.Write([]byte("x"))
	require.Error(t, err)
	_, err = f.WriteAt([]byte("x"), 0)
	require.Error(t, err)
	require.Error(t, f.Truncate(0))
	// Sync of a read-only file is allowed (fsync needs no write access).
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.Equal(t, []byte("data"), readFile(t, fsys, name))

	// A directory is not a File.
	_, err = fsys.Open(dir)
	require.Error(t, err)
}

func testTruncate(t *testing.T, fsys FS, dir string) {
	f, err := fsys.Create(filepath.Join(dir, "f"))
	require.NoError(t, err)
	_, err = f.Write(bytes.Repeat([]byte{'a'}, 100))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(10))
	size, err := f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 10, size)
	// Growing again reads zeros, not the bytes cut off before.
	require.NoError(t, f.Truncate(50))
	want := append(bytes.Repeat([]byte{'a'}, 10), make([]byte, 40)...)
	require.Equal(t, want, contents(t, f))
	require.Error(t, f.Truncate(-1))
	require.NoError(t, f.Close())
}

func testSync(t *testing.T, fsys FS, dir string) {
	f, err := fsys.Create(filepath.Join(dir, "f"))
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // nothing written yet
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(dir))
	requireNotExist(t, fsys.SyncDir(filepath.Join(dir, "missing")))
}

func testClose(t *testing.T, fsys FS, dir string) {
	f, err := fsys.Create(filepath.Join(dir, "f"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.ErrorIs(t, f.Close(), fs.ErrClosed)
	_, err = f.Write([]byte("x"))
	require.ErrorIs(t, err, fs.ErrClosed)
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, fs.ErrClosed)
	_, err = f.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, fs.ErrClosed)
	require.ErrorIs(t, f.Sync(), fs.ErrClosed)
	require.ErrorIs(t, f.Truncate(0), fs.ErrClosed)
	_, err = f.Size()
	require.ErrorIs(t, err, fs.ErrClosed)
}

func testRemove(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fsys, name, []byte("x"))
	require.NoError(t, fsys.Remove(name))
	_, err := fsys.Stat(name)
	requireNotExist(t, err)
	requireNotExist(t, fsys.Remove(name))

	sub := filepath.Join(dir, "sub")
	require.NoError(t, fsys.MkdirAll(sub, 0o755))
	writeFile(t, fsys, filepath.Join(sub, "g"), []byte("y"))
	require.Error(t, fsys.Remove(sub), "a non-empty directory is not removed")
	require.NoError(t, fsys.Remove(filepath.Join(sub, "g")))
	require.NoError(t, fsys.Remove(sub))
	names, err := fsys.List(dir)
	require.NoError(t, err)
	require.Empty(t, names)
}

func testRemoveOpenFile(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fsys, name, []byte("before"))
	f, err := fsys.OpenReadWrite(name)
	require.NoError(t, err)
	require.NoError(t, fsys.Remove(name))
	_, err = fsys.Stat(name)
	requireNotExist(t, err)
	// The open handle still works on the removed file.
	_, err = f.Write([]byte(" after"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.Equal(t, []byte("before after"), contents(t, f))
	require.NoError(t, f.Close())
	// A new file of the same name is a different file.
	writeFile(t, fsys, name, []byte("new"))
	require.Equal(t, []byte("new"), readFile(t, fsys, name))
}

func testRemoveAll(t *testing.T, fsys FS, dir string) {
	top := filepath.Join(dir, "top")
	require.NoError(t, fsys.MkdirAll(filepath.Join(top, "a", "b"), 0o755))
	writeFile(t, fsys, filepath.Join(top, "a", "b", "f"), []byte("x"))
	writeFile(t, fsys, filepath.Join(top, "g"), []byte("y"))
	require.NoError(t, fsys.RemoveAll(top))
	_, err := fsys.Stat(top)
	requireNotExist(t, err)
	require.NoError(t, fsys.RemoveAll(top), "a missing path is not an error")
	require.NoError(t, fsys.RemoveAll(filepath.Join(dir, "missing", "deeper")))

	// RemoveAll of a file removes it.
	name := filepath.Join(dir, "f")
	writeFile(t, fsys, name, []byte("z"))
	require.NoError(t, fsys.RemoveAll(name))
	_, err = fsys.Stat(name)
	requireNotExist(t, err)
}

func testRename(t *testing.T, fsys FS, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, fsys, a, []byte("A"))
	require.NoError(t, fsys.Rename(a, b))
	_, err := fsys.Stat(a)
	requireNotExist(t, err)
	require.Equal(t, []byte("A"), readFile(t, fsys, b))

	err = fsys.Rename(a, b)
	requireNotExist(t, err)
	require.Equal(t, []byte("A"), readFile(t, fsys, b), "a failed rename changes nothing")

	// Rename to itself is a no-op.
	require.NoError(t, fsys.Rename(b, b))
	require.Equal(t, []byte("A"), readFile(t, fsys, b))

	// Across directories.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, fsys.MkdirAll(sub, 0o755))
	require.NoError(t, fsys.Rename(b, filepath.Join(sub, "c")))
	require.Equal(t, []byte("A"), readFile(t, fsys, filepath.Join(sub, "c")))

	// Into a missing directory.
	requireNotExist(t, fsys.Rename(filepath.Join(sub, "c"), filepath.Join(dir, "nodir", "c")))
}

func testRenameOverExisting(t *testing.T, fsys FS, dir string) {
	tmp, cur := filepath.Join(dir, "CURRENT.tmp"), filepath.Join(dir, "CURRENT")
	writeFile(t, fsys, cur, []byte("old"))
	old, err := fsys.Open(cur)
	require.NoError(t, err)
	writeFile(t, fsys, tmp, []byte("new"))
	require.NoError(t, fsys.Rename(tmp, cur))
	require.Equal(t, []byte("new"), readFile(t, fsys, cur))
	// A handle on the replaced file still reads it.
	require.Equal(t, []byte("old"), contents(t, old))
	require.NoError(t, old.Close())
	names, err := fsys.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"CURRENT"}, names)

	// A file cannot replace a directory.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, fsys.MkdirAll(sub, 0o755))
	require.Error(t, fsys.Rename(cur, sub))
}

func testRenameOpenFile(t *testing.T, fsys FS, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	f, err := fsys.Create(a)
	require.NoError(t, err)
	_, err = f.Write([]byte("one"))
	require.NoError(t, err)
	require.NoError(t, fsys.Rename(a, b))
	// The handle follows the file, not the name.
	_, err = f.Write([]byte("two"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, []byte("onetwo"), readFile(t, fsys, b))
}

func testRenameDir(t *testing.T, fsys FS, dir string) {
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	require.NoError(t, fsys.MkdirAll(filepath.Join(src, "inner"), 0o755))
	writeFile(t, fsys, filepath.Join(src, "inner", "f"), []byte("x"))
	require.NoError(t, fsys.Rename(src, dst))
	require.Equal(t, []byte("x"), readFile(t, fsys, filepath.Join(dst, "inner", "f")))
	_, err := fsys.Stat(src)
	requireNotExist(t, err)
	// A directory cannot move into itself.
	require.Error(t, fsys.Rename(dst, filepath.Join(dst, "inner", "loop")))
}

func testMkdirAll(t *testing.T, fsys FS, dir string) {
	deep := filepath.Join(dir, "a", "b", "c")
	require.NoError(t, fsys.MkdirAll(deep, 0o755))
	require.NoError(t, fsys.MkdirAll(deep, 0o755), "existing is fine")
	fi, err := fsys.Stat(deep)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	writeFile(t, fsys, filepath.Join(dir, "a", "f"), nil)
	require.Error(t, fsys.MkdirAll(filepath.Join(dir, "a", "f"), 0o755), "a file is in the way")
	require.Error(t, fsys.MkdirAll(filepath.Join(dir, "a", "f", "g"), 0o755), "a file is in the way")
}

func testList(t *testing.T, fsys FS, dir string) {
	names, err := fsys.List(dir)
	require.NoError(t, err)
	require.Empty(t, names)
	for _, n := range []string{"b", "a", "c10", "c2", "B"} {
		writeFile(t, fsys, filepath.Join(dir, n), nil)
	}
	require.NoError(t, fsys.MkdirAll(filepath.Join(dir, "d", "nested"), 0o755))
	names, err = fsys.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"B", "a", "b", "c10", "c2", "d"}, names)
	_, err = fsys.List(filepath.Join(dir, "missing"))
	requireNotExist(t, err)
}

func testStat(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fsys, name, []byte("12345"))
	fi, err := fsys.Stat(name)
	require.NoError(t, err)
	require.Equal(t, "f", fi.Name())
	require.EqualValues(t, 5, fi.Size())
	require.False(t, fi.IsDir())
	require.True(t, fi.Mode().IsRegular())

	f, err := fsys.OpenReadWrite(name)
	require.NoError(t, err)
	_, err = f.Write([]byte("678"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi2, err := fsys.Stat(name)
	require.NoError(t, err)
	require.EqualValues(t, 8, fi2.Size())
	require.False(t, fi2.ModTime().Before(fi.ModTime()), "ModTime never goes back")

	fi, err = fsys.Stat(dir)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.True(t, fi.Mode().IsDir())
	require.Equal(t, filepath.Base(dir), fi.Name())

	_, err = fsys.Stat(filepath.Join(dir, "missing"))
	requireNotExist(t, err)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
}

func testLock(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "LOCK")
	l, err := fsys.Lock(name)
	require.NoError(t, err)
	_, err = fsys.Stat(name)
	require.NoError(t, err, "Lock creates its file")

	_, err = fsys.Lock(name)
	require.ErrorIs(t, err, ErrLocked)
	// The same file by another spelling of its path is the same lock.
	_, err = fsys.Lock(filepath.Join(dir, ".", "LOCK"))
	require.ErrorIs(t, err, ErrLocked)
	// Another file is another lock.
	l2, err := fsys.Lock(filepath.Join(dir, "LOCK2"))
	require.NoError(t, err)
	require.NoError(t, l2.Close())

	require.NoError(t, l.Close())
	require.Error(t, l.Close(), "a lock is released once")
	l, err = fsys.Lock(name)
	require.NoError(t, err, "released by Close")
	require.NoError(t, l.Close())

	// Lock on an existing file keeps its contents.
	writeFile(t, fsys, name, []byte("pid"))
	l, err = fsys.Lock(name)
	require.NoError(t, err)
	require.Equal(t, []byte("pid"), readFile(t, fsys, name))
	require.NoError(t, l.Close())
}

func testMissingParent(t *testing.T, fsys FS, dir string) {
	name := filepath.Join(dir, "missing", "f")
	_, err := fsys.Create(name)
	requireNotExist(t, err)
	_, err = fsys.OpenReadWrite(name)
	requireNotExist(t, err)
	_, err = fsys.Lock(name)
	requireNotExist(t, err)
	requireNotExist(t, fsys.Remove(name))
}

// testConcurrentReadWrite runs writers on disjoint regions of one file and
// readers over all of it at once; under -race it checks the File's
// concurrency contract, and afterwards that no write was lost.
func testConcurrentReadWrite(t *testing.T, fsys FS, dir string) {
	const writers, rounds, block = 4, 50, 512
	f, err := fsys.Create(filepath.Join(dir, "f"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(writers*block))
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for r := range rounds {
				buf := bytes.Repeat([]byte{byte(w*rounds + r)}, block)
				if _, err := f.WriteAt(buf, int64(w*block)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, writers*block)
			for range rounds {
				if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
					errs <- err
					return
				}
				if _, err := f.Size(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got := contents(t, f)
	for w := range writers {
		require.Equal(t, bytes.Repeat([]byte{byte(w*rounds + rounds - 1)}, block), got[w*block:(w+1)*block], fmt.Sprint("writer ", w))
	}
	require.NoError(t, f.Close())
}

// TestDefault checks that Default is an OS FS, usable as is.
func TestDefault(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, Default, filepath.Join(dir, "f"), []byte("x"))
	data, err := os.ReadFile(filepath.Join(dir, "f"))
	require.NoError(t, err)
	require.Equal(t, []byte("x"), data)
}
