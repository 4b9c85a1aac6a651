package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Default is the operating system's file system.
var Default FS = NewOS()

// NewOS returns an FS backed by the operating system's files. Errors about
// a path are the os package's own (*fs.PathError, *os.LinkError), so
// errors.Is(err, fs.ErrNotExist) and friends work as with os.
//
// Lock takes the operating system's lock (flock, or fcntl where there is
// no flock, or LockFileEx on Windows) and also records the path in one
// table for the whole process, shared by every FS NewOS returns: a second
// Lock of a path in the same process fails even where the OS lock would
// not (fcntl locks belong to the process, so a second one would succeed —
// and releasing either would release both).
//
// The returned FS also implements Mapper and WriteMapper (mmap on unix).
func NewOS() FS { return osFS{} }

// osFS is stateless: the lock table is the process's, in osLocks.
type osFS struct{}

// osLocks holds the absolute paths locked through any OS FS in this
// process.
var osLocks = struct {
	mu    sync.Mutex
	paths map[string]struct{} // guarded by mu
}{paths: make(map[string]struct{})}

var _ FS = osFS{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	// os.Open succeeds on a directory, but a File is a regular file: refuse
	// here, as Create and OpenReadWrite (which ask for write access) do.
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if fi.IsDir() {
		_ = f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &osFile{f: f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// Writes go at the end. O_APPEND would do that, but it makes os.File
	// refuse WriteAt, so move the position instead; WriteAt (pwrite) and
	// Truncate leave it alone.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) RemoveAll(name string) error { return os.RemoveAll(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

func (osFS) SyncDir(dir string) error { return syncDir(dir) }

func (osFS) Lock(name string) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	osLocks.mu.Lock()
	defer osLocks.mu.Unlock()
	if _, held := osLocks.paths[abs]; held {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	osLocks.paths[abs] = struct{}{}
	return &osLock{abs: abs, f: f}, nil
}

// osLock is a held Lock. Closing the file releases the operating system's
// lock; Close also drops the path from the process's table.
type osLock struct {
	abs  string
	once sync.Once
	f    *os.File
}

func (l *osLock) Close() error {
	var err error = &fs.PathError{Op: "unlock", Path: l.f.Name(), Err: fs.ErrClosed}
	l.once.Do(func() {
		// Release the OS lock before the table entry, so another Lock in
		// this process never finds the path free while the OS holds it.
		err = l.f.Close()
		osLocks.mu.Lock()
		delete(osLocks.paths, l.abs)
		osLocks.mu.Unlock()
	})
	return err
}

// osFile is a File on an *os.File. Write uses the descriptor's own
// position, and ReadAt/WriteAt use pread/pwrite, which do not move it —
// exactly the contract's position semantics.
type osFile struct {
	f *os.File
}

var _ File = (*osFile)(nil)

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f *osFile) Write(p []byte) (int, error)              { return f.f.Write(p) }
func (f *osFile) Close() error                             { return f.f.Close() }
func (f *osFile) Truncate(size int64) error                { return f.f.Truncate(size) }
func (f *osFile) Name() string                             { return f.f.Name() }

func (f *osFile) Sync() error {
	if err := datasync(f.f); err != nil {
		return &fs.PathError{Op: "sync", Path: f.f.Name(), Err: err}
	}
	return nil
}

func (f *osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Mapper is implemented by an FS that can map a file's bytes into memory,
// so an engine can read an immutable file without copying. The OS FS
// implements it with a read-only shared mmap on unix platforms; elsewhere
// its Map returns an error matching errors.ErrUnsupported, and callers fall
// back to ReadAt.
type Mapper interface {
	// Map maps the whole of f, as large as it is now, read-only. f must
	// have been opened by the same FS. data stays valid until unmap is
	// called, even after f is closed; writing to data faults, and the
	// mapped region must not be truncated while mapped (reading a page
	// past the new end faults). unmap must be called exactly once. An
	// empty file maps to an empty slice.
	Map(f File) (data []byte, unmap func() error, err error)
}

// WriteMapper is implemented by an FS that can map a file for writing, so
// that an appender (the WAL) stores records with a copy instead of a write
// call each. The OS FS implements it with a read-write shared mmap on unix
// platforms; elsewhere MapWrite returns an error matching
// errors.ErrUnsupported, and callers fall back to WriteAt.
type WriteMapper interface {
	// MapWrite maps the first size bytes of f read-write and shared. f
	// must have been opened for writing by the same FS and be at least
	// size bytes long. A store into data lands in the file's page cache
	// directly: it survives the process exiting or being killed, as a
	// completed write call does, ReadAt sees it, and f.Sync makes it
	// durable. A store can fault (on unix, SIGBUS) where the file system
	// cannot back the page — a sparse region on a full disk — or past the
	// file's end if it was truncated: callers store with
	// debug.SetPanicOnFault and turn the fault into an error. data stays
	// valid until unmap is called; unmap must be called exactly once,
	// before f is truncated below size.
	MapWrite(f File, size int64) (data []byte, unmap func() error, err error)
}

// WritePopulator is implemented by a WriteMapper that can fault in the
// pages of a write mapping before anything is stored into them, so that
// the stores themselves do not stop on a page fault each (on a sparse
// file, each fault also reserves the page's block). The OS FS implements
// it on Linux with madvise(MADV_POPULATE_WRITE) (kernel 5.14 or later);
// elsewhere, and on older kernels, PopulateWrite returns an error.
type WritePopulator interface {
	// PopulateWrite faults in the pages of data, which must lie within a
	// mapping that MapWrite returned and that is not yet unmapped, as if
	// each were written to, without changing the bytes. data must start
	// on a page boundary. The pages count as written (dirty) and reach
	// the file like stored ones, holding the zeros of a sparse region
	// until stores replace them. An error (no support, no space to back
	// a page) changes nothing visible; stores into the pages then fault
	// as they would have.
	PopulateWrite(data []byte) error
}

func (osFS) PopulateWrite(data []byte) error { return populateWrite(data) }

func (osFS) MapWrite(f File, size int64) ([]byte, func() error, error) {
	of, ok := f.(*osFile)
	if !ok {
		return nil, nil, fmt.Errorf("lightning/vfs: map %s for writing: file not opened by the OS FS: %w", f.Name(), errors.ErrUnsupported)
	}
	if size <= 0 || size != int64(int(size)) {
		return nil, nil, &fs.PathError{Op: "mmap", Path: of.Name(), Err: errTooLarge}
	}
	have, err := of.Size()
	if err != nil {
		return nil, nil, err
	}
	if have < size {
		return nil, nil, &fs.PathError{Op: "mmap", Path: of.Name(),
			Err: fmt.Errorf("file of %d bytes is shorter than the %d to map: %w", have, size, fs.ErrInvalid)}
	}
	data, unmap, err := mmapFileWritable(of.f, int(size))
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: of.Name(), Err: err}
	}
	return data, unmapOnce(of.Name(), unmap), nil
}

func (osFS) Map(f File) ([]byte, func() error, error) {
	of, ok := f.(*osFile)
	if !ok {
		return nil, nil, fmt.Errorf("lightning/vfs: map %s: file not opened by the OS FS: %w", f.Name(), errors.ErrUnsupported)
	}
	size, err := of.Size()
	if err != nil {
		return nil, nil, err
	}
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size != int64(int(size)) {
		return nil, nil, &fs.PathError{Op: "mmap", Path: of.Name(), Err: errTooLarge}
	}
	data, unmap, err := mmapFile(of.f, int(size))
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: of.Name(), Err: err}
	}
	return data, unmapOnce(of.Name(), unmap), nil
}

// unmapOnce wraps unmap so that only its first call unmaps: a second
// munmap of the range could unmap whatever was mapped there since, so
// every later call is an error instead.
func unmapOnce(name string, unmap func() error) func() error {
	var once sync.Once
	return func() error {
		var err error = &fs.PathError{Op: "munmap", Path: name, Err: fs.ErrClosed}
		once.Do(func() {
			if err = unmap(); err != nil {
				err = &fs.PathError{Op: "munmap", Path: name, Err: err}
			}
		})
		return err
	}
}
