package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// OpKind is a kind of FS or File operation. Kinds are bits, so a set of
// kinds (an injector's filter) is an OpKind too.
type OpKind uint32

// The operation kinds. File.Size is an OpStat, releasing a Lock is an
// OpClose, and File.Name is no operation at all.
const (
	OpCreate        OpKind = 1 << iota // FS.Create
	OpOpen                             // FS.Open
	OpOpenReadWrite                    // FS.OpenReadWrite
	OpRead                             // File.ReadAt
	OpWrite                            // File.Write and File.WriteAt
	OpSync                             // File.Sync
	OpTruncate                         // File.Truncate
	OpClose                            // File.Close, and Close of a Lock
	OpRemove                           // FS.Remove
	OpRemoveAll                        // FS.RemoveAll
	OpRename                           // FS.Rename
	OpMkdir                            // FS.MkdirAll
	OpList                             // FS.List
	OpStat                             // FS.Stat and File.Size
	OpLock                             // FS.Lock
	OpSyncDir                          // FS.SyncDir

	// OpAll is every kind.
	OpAll OpKind = OpSyncDir<<1 - 1
	// OpAllWrites is every kind that can change what is stored or what is
	// durable: the ones that create, write, truncate, sync, remove or
	// rename, and Lock, which creates its file.
	OpAllWrites = OpCreate | OpOpenReadWrite | OpWrite | OpSync | OpTruncate |
		OpRemove | OpRemoveAll | OpRename | OpMkdir | OpLock | OpSyncDir
)

var opKindNames = [...]string{
	"create", "open", "openrw", "read", "write", "sync", "truncate", "close",
	"remove", "removeall", "rename", "mkdir", "list", "stat", "lock", "syncdir",
}

// String names the kinds in k, joined by "|".
func (k OpKind) String() string {
	if k == 0 {
		return "none"
	}
	if k == OpAll {
		return "all"
	}
	var names []string
	for rest := k; rest != 0; rest &= rest - 1 {
		i := bits.TrailingZeros32(uint32(rest))
		if i < len(opKindNames) {
			names = append(names, opKindNames[i])
		} else {
			names = append(names, fmt.Sprintf("OpKind(%#x)", uint32(1)<<i))
		}
	}
	return strings.Join(names, "|")
}

// Op describes one operation, as an ErrorFS shows it to its Injector.
type Op struct {
	// Kind is the operation's kind: exactly one bit.
	Kind OpKind
	// Path is the path named, or the Name of the File operated on; for a
	// Rename, the old name.
	Path string
	// NewPath is a Rename's new name, and empty for every other kind.
	NewPath string
	// Offset is the offset of a ReadAt or WriteAt, -1 for a Write (which
	// writes at the file's write position), and the new size of a
	// Truncate; 0 otherwise.
	Offset int64
	// Length is the number of bytes a read or write asks for; 0 otherwise.
	Length int
}

// String describes op for test failure messages.
func (op Op) String() string {
	var b strings.Builder
	b.WriteString(op.Kind.String())
	b.WriteByte(' ')
	b.WriteString(op.Path)
	if op.NewPath != "" {
		b.WriteString(" -> " + op.NewPath)
	}
	switch op.Kind {
	case OpRead, OpWrite:
		fmt.Fprintf(&b, " @%d+%d", op.Offset, op.Length)
	case OpTruncate:
		fmt.Fprintf(&b, " to %d", op.Offset)
	}
	return b.String()
}

// pathForError is what an injected *fs.PathError names.
func (op Op) pathForError() string {
	if op.NewPath != "" {
		return op.Path + " -> " + op.NewPath
	}
	return op.Path
}

// Injector decides which operations of an ErrorFS fail. MaybeError is
// called before each operation, possibly from many goroutines at once; it
// returns nil to let the operation run, or the error to fail it with.
//
// A *TornWriteError returned for an OpWrite tears the write: the first
// Keep bytes are written and the write then fails. For any other kind it
// fails the operation like any error.
//
// The ErrorFS makes every error an injector returns match ErrInjected,
// wrapping it if need be, and wraps it in a *fs.PathError naming the
// operation and path.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// TornWriteError is the error of a torn write: the write put its first
// Keep bytes (clamped to its length) and then failed. It matches
// ErrInjected.
type TornWriteError struct {
	Keep int
}

func (e *TornWriteError) Error() string {
	return fmt.Sprintf("lightning/vfs: injected torn write after %d bytes", e.Keep)
}

// Is makes a torn write match ErrInjected.
func (e *TornWriteError) Is(target error) bool { return target == ErrInjected }

// Nth is an Injector that counts the operations matching its filter and
// fails the nth of them (1-based), and, if forever, every later one too.
// It is safe for concurrent use; configure it (WithTornWrite) before
// handing it to an ErrorFS.
type Nth struct {
	n          int64
	kinds      OpKind
	pathSubstr string
	forever    bool

	// count is the number of matching operations seen.
	count atomic.Int64
	// fired is the number of operations failed.
	fired atomic.Int64

	// torn says the nth operation, if a write, is torn, not failed whole.
	torn bool
	// mu guards rng, which is not safe for concurrent use.
	mu  sync.Mutex
	rng *rand.Rand
}

// FailNth returns an Injector that fails the nth (1-based) operation whose
// kind is in kinds and whose path (or, for a Rename, either path) contains
// pathSubstr ("" matches every path), with ErrInjected. With forever, every
// later matching operation fails too, so FailNth(n, OpAll, "", true) is a
// crash after operation n-1: nothing from the nth operation on reaches the
// FS. n < 1 never fails.
func FailNth(n int64, kinds OpKind, pathSubstr string, forever bool) *Nth {
	return &Nth{n: n, kinds: kinds, pathSubstr: pathSubstr, forever: forever}
}

// TornWriteNth returns an Injector that tears the nth (1-based) write
// (Write or WriteAt) to a path containing pathSubstr: it writes a prefix
// shorter than the write and fails. Later writes run normally. See
// WithTornWrite for the prefix's length.
func TornWriteNth(n int64, pathSubstr string, rng *rand.Rand) *Nth {
	return FailNth(n, OpWrite, pathSubstr, false).WithTornWrite(rng)
}

// WithTornWrite makes the nth matching operation, if it is a write of at
// least one byte, a torn write instead of a failure: it writes a prefix
// drawn uniformly from [0, length) with rng, or half the write (rounded
// down) if rng is nil, and then fails with a *TornWriteError. Operations
// failed after the nth (forever) fail whole, as a crash would leave them.
// It returns i, and must be called before i is in use.
func (i *Nth) WithTornWrite(rng *rand.Rand) *Nth {
	i.torn = true
	i.rng = rng
	return i
}

// MaybeError implements Injector.
func (i *Nth) MaybeError(op Op) error {
	if op.Kind&i.kinds == 0 || i.n < 1 {
		return nil
	}
	if i.pathSubstr != "" && !strings.Contains(op.Path, i.pathSubstr) && !strings.Contains(op.NewPath, i.pathSubstr) {
		return nil
	}
	c := i.count.Add(1)
	switch {
	case c == i.n:
		i.fired.Add(1)
		if i.torn && op.Kind == OpWrite && op.Length > 0 {
			return &TornWriteError{Keep: i.tornLength(op.Length)}
		}
		return ErrInjected
	case c > i.n && i.forever:
		i.fired.Add(1)
		return ErrInjected
	}
	return nil
}

func (i *Nth) tornLength(n int) int {
	if i.rng == nil {
		return n / 2
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rng.IntN(n)
}

// Count returns how many matching operations i has seen.
func (i *Nth) Count() int64 { return i.count.Load() }

// Fired returns how many operations i has failed.
func (i *Nth) Fired() int64 { return i.fired.Load() }

// ErrorFS wraps an FS, and the Files and Locks it returns, so that each
// operation first asks an Injector whether to fail. An injected failure
// does not reach the wrapped FS, with two exceptions: a torn write writes
// its prefix, and a Close (of a File or a Lock) always closes the wrapped
// one before returning the injected error, as close(2) releases the
// descriptor even when it fails — tests would otherwise leak files and
// locks.
//
// ErrorFS does not implement Mapper, even over an FS that does, so every
// read goes through ReadAt where a failure can be injected.
//
// ErrorFS is safe for concurrent use.
type ErrorFS struct {
	fs FS
	// inj holds the current Injector; nil or a nil Injector injects
	// nothing. An atomic pointer lets SetInjector switch it while
	// operations run.
	inj atomic.Pointer[injectorBox]
	// ops counts the operations seen.
	ops atomic.Int64
}

type injectorBox struct{ inj Injector }

var _ FS = (*ErrorFS)(nil)

// NewErrorFS returns an ErrorFS over fs that asks inj (which may be nil,
// injecting nothing) before each operation.
func NewErrorFS(fs FS, inj Injector) *ErrorFS {
	e := &ErrorFS{fs: fs}
	e.SetInjector(inj)
	return e
}

// SetInjector atomically replaces the Injector; nil injects nothing.
// Operations already past their check are not affected.
func (e *ErrorFS) SetInjector(inj Injector) {
	e.inj.Store(&injectorBox{inj: inj})
}

// Ops returns the number of operations seen so far, failed ones included.
// A test runs a workload once with no injector to count its operations,
// then reruns it with FailNth(n, OpAll, "", true) for each n up to that
// count.
func (e *ErrorFS) Ops() int64 { return e.ops.Load() }

// Unwrap returns the wrapped FS.
func (e *ErrorFS) Unwrap() FS { return e.fs }

// check counts op and asks the injector about it, returning the injected
// error wrapped for the caller, or nil.
func (e *ErrorFS) check(op Op) error {
	e.ops.Add(1)
	box := e.inj.Load()
	if box == nil || box.inj == nil {
		return nil
	}
	err := box.inj.MaybeError(op)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrInjected) {
		err = fmt.Errorf("%w: %w", ErrInjected, err)
	}
	return &fs.PathError{Op: op.Kind.String(), Path: op.pathForError(), Err: err}
}

func (e *ErrorFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errorFile{e: e, f: f}, nil
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.check(Op{Kind: OpCreate, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.Create(name))
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.check(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.Open(name))
}

// OpenReadWrite implements FS.
func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if err := e.check(Op{Kind: OpOpenReadWrite, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.OpenReadWrite(name))
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

// RemoveAll implements FS.
func (e *ErrorFS) RemoveAll(name string) error {
	if err := e.check(Op{Kind: OpRemoveAll, Path: name}); err != nil {
		return err
	}
	return e.fs.RemoveAll(name)
}

// Rename implements FS.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.check(Op{Kind: OpRename, Path: oldname, NewPath: newname}); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(Op{Kind: OpMkdir, Path: dir}); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) {
	if err := e.check(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if err := e.check(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

// Lock implements FS.
func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if err := e.check(Op{Kind: OpLock, Path: name}); err != nil {
		return nil, err
	}
	c, err := e.fs.Lock(name)
	if err != nil {
		return nil, err
	}
	return &errorLock{e: e, c: c, name: name}, nil
}

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.check(Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

// errorLock is a Lock taken through an ErrorFS.
type errorLock struct {
	e    *ErrorFS
	c    io.Closer
	name string
}

func (l *errorLock) Close() error {
	injected := l.e.check(Op{Kind: OpClose, Path: l.name})
	err := l.c.Close()
	if injected != nil {
		return injected
	}
	return err
}

// errorFile is a File opened through an ErrorFS.
type errorFile struct {
	e *ErrorFS
	f File
}

var _ File = (*errorFile)(nil)

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.e.check(Op{Kind: OpRead, Path: f.f.Name(), Offset: off, Length: len(p)}); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.e.check(Op{Kind: OpWrite, Path: f.f.Name(), Offset: off, Length: len(p)}); err != nil {
		return tear(err, p, func(q []byte) (int, error) { return f.f.WriteAt(q, off) })
	}
	return f.f.WriteAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.e.check(Op{Kind: OpWrite, Path: f.f.Name(), Offset: -1, Length: len(p)}); err != nil {
		return tear(err, p, f.f.Write)
	}
	return f.f.Write(p)
}

// tear handles an injected write failure: if it is a *TornWriteError, it
// writes the prefix it asks for with write. Either way it returns the
// bytes written and the injected error (or the write's own, if the prefix
// fails).
func tear(injected error, p []byte, write func([]byte) (int, error)) (int, error) {
	var torn *TornWriteError
	if !errors.As(injected, &torn) {
		return 0, injected
	}
	keep := min(max(torn.Keep, 0), len(p))
	if keep == 0 {
		return 0, injected
	}
	n, err := write(p[:keep])
	if err != nil {
		return n, err
	}
	return n, injected
}

func (f *errorFile) Sync() error {
	if err := f.e.check(Op{Kind: OpSync, Path: f.f.Name()}); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.e.check(Op{Kind: OpTruncate, Path: f.f.Name(), Offset: size}); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Size() (int64, error) {
	if err := f.e.check(Op{Kind: OpStat, Path: f.f.Name()}); err != nil {
		return 0, err
	}
	return f.f.Size()
}

func (f *errorFile) Name() string { return f.f.Name() }

func (f *errorFile) Close() error {
	injected := f.e.check(Op{Kind: OpClose, Path: f.f.Name()})
	err := f.f.Close()
	if injected != nil {
		return injected
	}
	return err
}
