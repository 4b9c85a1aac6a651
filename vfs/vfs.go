// Package vfs is the file system beneath every file Lightning writes: the
// WAL, engine tables and pages, manifests, snapshots, key registries.
// Nothing in Lightning touches the os package for data files; it goes
// through an FS, so tests can swap the disk for one that crashes or fails
// on demand.
//
// Three implementations:
//
//   - Default (NewOS): the operating system's files.
//   - NewMem: an in-memory FS that tracks what has been synced, so a test
//     can take the state a crash would leave (CrashClone): only synced data,
//     or a random subset of unsynced writes, with files whose directory entry
//     was never synced forgotten.
//   - NewErrorFS: a wrapper that injects errors — the Nth operation of a
//     kind or on a path, once or forever, and torn writes.
//
// An FS may also implement Mapper, for zero-copy reads of immutable files;
// the OS FS does on unix. Callers type-assert and fall back to ReadAt.
//
// # Durability model
//
// Data written to a File is durable once File.Sync returns. The existence
// of a name — a Create, Rename or Remove, and a MkdirAll — is durable once
// SyncDir of the parent directory returns. Code that creates a file and
// needs it after a crash syncs the file, then its directory.
//
// Paths are joined with path/filepath; an FS accepts the paths its own
// operations produce.
//
// # Errors and concurrency
//
// Errors about a path are *fs.PathError (*os.LinkError for Rename), as the
// os package returns them, so errors.Is(err, fs.ErrNotExist) and
// errors.Is(err, fs.ErrClosed) hold on every implementation; a method
// called on a closed File fails with fs.ErrClosed. Every FS here is safe
// for concurrent use; File's own rule is on File.
package vfs

import (
	"errors"
	"io"
	"os"
)

// File is an open file. Reads and writes at explicit offsets may run
// concurrently; Write (at the end) is used by one goroutine at a time.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Write writes p at the file's write position and advances it. The
	// position starts at 0 after Create and at the end of the file after
	// OpenReadWrite; WriteAt and Truncate do not move it.
	Write(p []byte) (int, error)
	// Sync makes the file's data and size durable (fdatasync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Name returns the path the file was opened with.
	Name() string
}

// FS is a file system.
type FS interface {
	// Create creates name, or truncates it if it exists, opened for
	// reading and writing.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens name for reading and writing, creating it empty
	// if it does not exist; it never truncates.
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes name and everything below it; a missing name is
	// not an error.
	RemoveAll(name string) error
	// Rename renames oldname to newname, atomically replacing newname if
	// it exists.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// Lock takes an exclusive lock on the file name, creating it if need
	// be, so that two processes (or two DBs in one process) never open one
	// database. It returns ErrLocked if the lock is held. Closing the
	// returned Closer releases it.
	Lock(name string) (io.Closer, error)
	// SyncDir makes the creations, renames and removals of entries in dir
	// durable.
	SyncDir(dir string) error
}

// Errors.
var (
	// ErrLocked is returned by Lock when another holder has the lock.
	ErrLocked = errors.New("lightning/vfs: locked by another process or handle")
	// ErrInjected is the error an ErrorFS injects.
	ErrInjected = errors.New("lightning/vfs: injected error")
)
