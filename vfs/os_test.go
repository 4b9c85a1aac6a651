package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// lockHelperEnv, when set to a path, makes the test binary a helper
// process that tries to Lock that path and prints what happened.
const lockHelperEnv = "LIGHTNING_VFS_LOCK_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		l, err := NewOS().Lock(path)
		switch {
		case errors.Is(err, ErrLocked):
			fmt.Print("locked")
		case err != nil:
			fmt.Print("error: ", err)
		default:
			fmt.Print("acquired")
			_ = l.Close()
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tryLockInChild runs a child process that tries to Lock path.
func tryLockInChild(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	out, err := cmd.Output()
	require.NoError(t, err)
	return string(out)
}

func TestOSLockAcrossProcesses(t *testing.T) {
	switch runtime.GOOS {
	case "plan9", "js", "wasip1", "ios", "android":
		t.Skip("no separate processes or no file locks here")
	}
	path := filepath.Join(t.TempDir(), "LOCK")
	l, err := NewOS().Lock(path)
	require.NoError(t, err)
	require.Equal(t, "locked", tryLockInChild(t, path))
	require.NoError(t, l.Close())
	require.Equal(t, "acquired", tryLockInChild(t, path))
}

// TestOSLockTwoFSValues locks one path through two FS values: they share
// the process's lock table.
func TestOSLockTwoFSValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	l, err := NewOS().Lock(path)
	require.NoError(t, err)
	_, err = NewOS().Lock(path)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l.Close())
	l, err = NewOS().Lock(path)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestOSLockFileExcludes checks the operating system's lock alone, below
// the process table: two open file descriptions of one file cannot both
// hold it (flock and LockFileEx; fcntl locks do not exclude within a
// process).
func TestOSLockFileExcludes(t *testing.T) {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "openbsd", "dragonfly", "windows":
	default:
		t.Skip("no lock that excludes within one process here")
	}
	path := filepath.Join(t.TempDir(), "LOCK")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	a, b := open(), open()
	require.NoError(t, lockFile(a))
	require.ErrorIs(t, lockFile(b), ErrLocked)
	require.NoError(t, a.Close())
	require.NoError(t, lockFile(b), "closing the holder releases the lock")
}

func TestOSLockRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	fsys := NewOS()
	l, err := fsys.Lock("LOCK")
	require.NoError(t, err)
	_, err = fsys.Lock(filepath.Join(dir, "LOCK"))
	require.ErrorIs(t, err, ErrLocked, "relative and absolute spellings are one lock")
	require.NoError(t, l.Close())
}

// TestOSMapWrite: stores into a write mapping reach the file (ReadAt and a
// fresh handle see them, with no write call), the mapping refuses a file
// shorter than asked and files of other file systems, and unmap runs once.
func TestOSMapWrite(t *testing.T) {
	fsys := NewOS()
	mapper, ok := fsys.(WriteMapper)
	require.True(t, ok, "the OS FS implements WriteMapper")
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f, err := fsys.Create(name)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(8192))
	data, unmap, err := mapper.MapWrite(f, 8192)
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		require.ErrorIs(t, err, errors.ErrUnsupported)
		return
	}
	require.NoError(t, err)
	require.Len(t, data, 8192)
	copy(data[5000:], "lightning")
	got := make([]byte, 9)
	_, err = f.ReadAt(got, 5000)
	require.NoError(t, err)
	require.Equal(t, "lightning", string(got), "ReadAt sees a store")
	require.NoError(t, f.Sync())
	g, err := fsys.Open(name)
	require.NoError(t, err)
	_, err = g.ReadAt(got, 5000)
	require.NoError(t, err)
	require.Equal(t, "lightning", string(got), "another handle sees a store")
	require.NoError(t, g.Close())
	require.NoError(t, unmap())
	require.Error(t, unmap(), "a second unmap is refused, not passed to munmap")

	_, _, err = mapper.MapWrite(f, 16384)
	require.ErrorIs(t, err, fs.ErrInvalid, "the file is shorter than the mapping")
	_, _, err = mapper.MapWrite(f, 0)
	require.Error(t, err)
	mf, err := NewMem().Create("f")
	require.NoError(t, err)
	_, _, err = mapper.MapWrite(mf, 10)
	require.ErrorIs(t, err, errors.ErrUnsupported)
}

// TestOSPopulateWrite: populating a write mapping changes no byte, of the
// mapping or the file, nor the file's size; stores after it land as
// before. Elsewhere than Linux it is unsupported.
func TestOSPopulateWrite(t *testing.T) {
	fsys := NewOS()
	p, ok := fsys.(WritePopulator)
	require.True(t, ok, "the OS FS implements WritePopulator")
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, p.PopulateWrite(make([]byte, 1)), errors.ErrUnsupported)
		return
	}
	page := os.Getpagesize()
	f, err := fsys.Create(filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	defer f.Close()
	size := 8 * page
	require.NoError(t, f.Truncate(int64(size)))
	data, unmap, err := fsys.(WriteMapper).MapWrite(f, int64(size))
	require.NoError(t, err)
	defer func() { require.NoError(t, unmap()) }()
	copy(data[page+10:], "before")

	require.NoError(t, p.PopulateWrite(data[page:size]))
	require.NoError(t, p.PopulateWrite(data[:0]), "an empty range is nothing to do")
	want := make([]byte, size)
	copy(want[page+10:], "before")
	require.Equal(t, want, data, "the mapping is unchanged")
	got := make([]byte, size)
	_, err = f.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, want, got, "the file is unchanged")
	n, err := f.Size()
	require.NoError(t, err)
	require.Equal(t, int64(size), n)

	copy(data[3*page:], "after")
	_, err = f.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, "after", string(got[3*page:3*page+5]), "a store into a populated page reaches the file")
	require.Error(t, p.PopulateWrite(data[10:page]), "a range off a page boundary is refused")
}

func TestOSMap(t *testing.T) {
	fsys := NewOS()
	mapper, ok := fsys.(Mapper)
	require.True(t, ok, "the OS FS implements Mapper")
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	want := bytes.Repeat([]byte("lightning"), 1000)
	writeFile(t, fsys, name, want)

	f, err := fsys.Open(name)
	require.NoError(t, err)
	data, unmap, err := mapper.Map(f)
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		require.ErrorIs(t, err, errors.ErrUnsupported)
		require.NoError(t, f.Close())
		return
	}
	require.NoError(t, err)
	require.NoError(t, f.Close(), "the mapping outlives the file")
	require.Equal(t, want, data)
	require.NoError(t, unmap())
	require.Error(t, unmap(), "a second unmap is refused, not passed to munmap")

	// An empty file maps to an empty slice.
	writeFile(t, fsys, filepath.Join(dir, "empty"), nil)
	f, err = fsys.Open(filepath.Join(dir, "empty"))
	require.NoError(t, err)
	data, unmap, err = mapper.Map(f)
	require.NoError(t, err)
	require.Empty(t, data)
	require.NoError(t, unmap())
	require.NoError(t, f.Close())

	// A file from another FS cannot be mapped.
	mf, err := NewMem().Create("f")
	require.NoError(t, err)
	_, _, err = mapper.Map(mf)
	require.ErrorIs(t, err, errors.ErrUnsupported)

	// A closed file cannot be mapped.
	f, err = fsys.Open(name)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, _, err = mapper.Map(f)
	require.ErrorIs(t, err, os.ErrClosed)
}

// TestOSSyncReachesDisk checks Sync, SyncDir and the data they flush with
// an independent reader: the os package.
func TestOSSyncReachesDisk(t *testing.T) {
	fsys := NewOS()
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte("durable"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, fsys.SyncDir(dir))
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, []byte("durable"), got)
	require.NoError(t, f.Close())
}
