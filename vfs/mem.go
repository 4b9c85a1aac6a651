package vfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemFS is an in-memory FS that remembers what a crash would keep, for
// tests: CrashClone returns the file system a machine crash would leave
// behind. It follows the package's durability model strictly — nothing is
// durable that the model does not promise — so code that forgets a Sync or
// a SyncDir loses data in a crash test.
//
// Files are inodes: a name maps to an inode, Rename moves the name, and an
// open File keeps working on its inode after its name is renamed, replaced
// or removed, as on POSIX. Paths are cleaned; relative and absolute paths
// share one root ("db/x" and "/db/x" are the same file), and a path that
// climbs above the root ("../x") is invalid. Permissions are not modelled.
// Every byte is held in memory, holes included, and a file's unsynced
// writes are held twice (the file, and the log a crash replays) until its
// next Sync.
//
// Errors are *fs.PathError (*os.LinkError for Rename), matching fs.ErrNotExist,
// fs.ErrClosed and fs.ErrInvalid where the os package's would.
//
// MemFS is safe for concurrent use, including concurrent ReadAt and WriteAt
// on one file and a CrashClone while I/O is in flight.
type MemFS struct {
	// mu guards the namespace: every directory inode's children, durable
	// and names fields, and locks. Lock order: mu, then io, then an
	// inode's mu.
	mu sync.RWMutex
	// io is held shared by every change to a file's data (WriteAt, Write,
	// Truncate, Sync, and Create's truncation) and exclusively by
	// CrashClone, so a clone copies every file at one instant: a write
	// synced before another began is never missing from a clone holding
	// the later one.
	io sync.RWMutex
	// root is the root directory. It always exists and is always durable.
	root *inode
	// locks holds the cleaned paths of the held Locks. Guarded by mu.
	locks map[string]struct{}
	// clock is the logical time behind ModTime; it ticks on every change.
	clock atomic.Int64
}

var _ FS = (*MemFS)(nil)

// NewMem returns an empty MemFS.
func NewMem() *MemFS {
	return &MemFS{root: newDirInode(), locks: make(map[string]struct{})}
}

// CrashOptions says what survives a CrashClone.
type CrashOptions struct {
	// KeepUnsynced is the probability, 0 to 1, that each unsynced change
	// survives: a write or truncation since its file's last Sync, or an
	// entry change (create, rename, remove, mkdir) since its directory's
	// last SyncDir. Each is kept or dropped independently, and the kept
	// ones are applied in their original order. 0 keeps nothing unsynced;
	// 1 keeps everything (the clone equals the original).
	KeepUnsynced float64
	// Rand draws the keep-or-drop decisions when 0 < KeepUnsynced < 1; nil
	// means a fixed seed, so a clone is deterministic either way. The
	// draws are made in a fixed order (directories depth first by name,
	// each directory's entry changes before its children), so the same
	// FS and the same seed give the same clone.
	Rand *rand.Rand
}

// inode is a file or a directory.
type inode struct {
	dir bool
	// modTime is the logical time of the last change.
	modTime atomic.Int64

	// Files. mu guards data, synced and pending; changing them also needs
	// MemFS.io held shared.
	mu sync.RWMutex
	// data is the file's current contents.
	data []byte
	// synced is the file's contents as of its last Sync.
	// INVARIANT: applying pending, in order, to a copy of synced gives data.
	synced []byte
	// pending holds the writes and truncations since the last Sync,
	// oldest first.
	pending []dataOp

	// Directories; guarded by MemFS.mu.
	// children maps each current entry's name to its inode.
	children map[string]*inode
	// durable is the entries as of the last SyncDir.
	durable map[string]*inode
	// names holds the entry changes since the last SyncDir, oldest first.
	// INVARIANT: applying names, in order, to a copy of durable gives
	// children.
	names []nameOp
}

func newDirInode() *inode {
	return &inode{dir: true, children: make(map[string]*inode), durable: make(map[string]*inode)}
}

// dataOp is one unsynced change to a file's contents.
type dataOp struct {
	truncate bool
	// off is the write's offset, or the new size of a truncation.
	off int64
	// data is a private copy of the bytes written.
	data []byte
}

// apply returns b with op applied. A write past the end grows b, and the
// gap reads as zeros.
func (op dataOp) apply(b []byte) []byte {
	if op.truncate {
		return resize(b, op.off)
	}
	if end := op.off + int64(len(op.data)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[op.off:], op.data)
	return b
}

// resize returns b with length n, zeroing any bytes it gains (capacity
// kept from an earlier shrink may hold old bytes).
func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	old := len(b)
	b = slices.Grow(b, int(n)-old)[:n]
	clear(b[old:])
	return b
}

// nameOp is one unsynced change to a directory's entries.
type nameOp struct {
	// name is the entry added or removed, or renamed from.
	name string
	// to is the new name of a rename within the directory, or "".
	to string
	// ino is the inode of an added or renamed entry; nil for a removal.
	ino *inode
}

func (op nameOp) apply(entries map[string]*inode) {
	switch {
	case op.to != "":
		delete(entries, op.name)
		entries[op.to] = op.ino
	case op.ino != nil:
		entries[op.name] = op.ino
	default:
		delete(entries, op.name)
	}
}

// addLocked, removeLocked and renameLocked change the entries of directory
// d and log the change; MemFS.mu must be held. A rename within one
// directory is one change, kept or lost whole in a crash; a rename across
// directories is a removal in one and an addition in the other, each
// durable with its own directory's SyncDir.
func (d *inode) addLocked(name string, n *inode, now int64) {
	d.children[name] = n
	d.names = append(d.names, nameOp{name: name, ino: n})
	d.modTime.Store(now)
}

func (d *inode) removeLocked(name string, now int64) {
	delete(d.children, name)
	d.names = append(d.names, nameOp{name: name})
	d.modTime.Store(now)
}

func (d *inode) renameLocked(from, to string, n *inode, now int64) {
	delete(d.children, from)
	d.children[to] = n
	d.names = append(d.names, nameOp{name: from, to: to, ino: n})
	d.modTime.Store(now)
}

// changeLocked applies op to file n's data and logs it as unsynced; n.mu
// and MemFS.io must be held.
func (n *inode) changeLocked(op dataOp, now int64) {
	n.data = op.apply(n.data)
	n.pending = append(n.pending, op)
	n.modTime.Store(now)
}

func (m *MemFS) tick() int64 { return m.clock.Add(1) }

// splitPath returns the components of name below the root; none for the
// root itself. ok is false for a path that climbs above the root.
func splitPath(name string) (parts []string, ok bool) {
	p := strings.TrimLeft(filepath.ToSlash(filepath.Clean(name)), "/")
	if p == "" || p == "." {
		return nil, true
	}
	parts = strings.Split(p, "/")
	// Clean leaves ".." only at the front of a relative path.
	if parts[0] == ".." {
		return nil, false
	}
	return parts, true
}

// lookupLocked returns the inode at parts: fs.ErrNotExist if an entry is
// missing, errNotDir if a file stands where a directory should. MemFS.mu
// must be held.
func (m *MemFS) lookupLocked(parts []string) (*inode, error) {
	n := m.root
	for _, p := range parts {
		if !n.dir {
			return nil, errNotDir
		}
		c, ok := n.children[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// lookupPathLocked resolves name, reporting failure as a *fs.PathError.
func (m *MemFS) lookupPathLocked(op, name string) (*inode, error) {
	parts, ok := splitPath(name)
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: errInvalidPath}
	}
	n, err := m.lookupLocked(parts)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// parentLocked resolves the directory holding name, and name's last
// component. The root has no parent: naming it is invalid.
func (m *MemFS) parentLocked(op, name string) (dir *inode, base string, err error) {
	parts, ok := splitPath(name)
	if !ok || len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: errInvalidPath}
	}
	d, err := m.lookupLocked(parts[:len(parts)-1])
	if err == nil && !d.dir {
		err = errNotDir
	}
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return d, parts[len(parts)-1], nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parentLocked("open", name)
	if err != nil {
		return nil, err
	}
	now := m.tick()
	n, ok := d.children[base]
	switch {
	case !ok:
		n = &inode{}
		d.addLocked(base, n, now)
	case n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	default:
		m.io.RLock()
		n.mu.Lock()
		n.changeLocked(dataOp{truncate: true, off: 0}, now)
		n.mu.Unlock()
		m.io.RUnlock()
	}
	return &memFile{fs: m, ino: n, name: name, writable: true}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookupPathLocked("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &memFile{fs: m, ino: n, name: name}, nil
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parentLocked("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := d.children[base]
	if !ok {
		n = &inode{}
		d.addLocked(base, n, m.tick())
		return &memFile{fs: m, ino: n, name: name, writable: true}, nil
	}
	if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	n.mu.RLock()
	end := int64(len(n.data))
	n.mu.RUnlock()
	return &memFile{fs: m, ino: n, name: name, writable: true, pos: end}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n, ok := d.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	d.removeLocked(base, m.tick())
	return nil
}

// RemoveAll implements FS. Every entry below name is removed from its own
// directory, deepest first, as rm -r does; in a crash each removal
// survives only as its directory's SyncDir says.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, ok := splitPath(name)
	if !ok || len(parts) == 0 {
		return &fs.PathError{Op: "removeall", Path: name, Err: errInvalidPath}
	}
	d, err := m.lookupLocked(parts[:len(parts)-1])
	if err != nil || !d.dir {
		// Nothing can exist below a missing directory or a file.
		return nil
	}
	base := parts[len(parts)-1]
	n, ok := d.children[base]
	if !ok {
		return nil
	}
	now := m.tick()
	removeTreeLocked(n, now)
	d.removeLocked(base, now)
	return nil
}

// removeTreeLocked removes everything below directory n.
func removeTreeLocked(n *inode, now int64) {
	if !n.dir {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(n.children)) {
		removeTreeLocked(n.children[name], now)
		n.removeLocked(name, now)
	}
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	oldParts, ok1 := splitPath(oldname)
	newParts, ok2 := splitPath(newname)
	if !ok1 || !ok2 || len(oldParts) == 0 || len(newParts) == 0 {
		return fail(errInvalidPath)
	}
	od, err := m.lookupLocked(oldParts[:len(oldParts)-1])
	if err == nil && !od.dir {
		err = errNotDir
	}
	if err != nil {
		return fail(err)
	}
	oldBase := oldParts[len(oldParts)-1]
	n, ok := od.children[oldBase]
	if !ok {
		return fail(fs.ErrNotExist)
	}
	nd, err := m.lookupLocked(newParts[:len(newParts)-1])
	if err == nil && !nd.dir {
		err = errNotDir
	}
	if err != nil {
		return fail(err)
	}
	newBase := newParts[len(newParts)-1]
	if od == nd && oldBase == newBase {
		return nil
	}
	if n.dir && len(newParts) > len(oldParts) && slices.Equal(newParts[:len(oldParts)], oldParts) {
		return fail(errMoveIntoSelf)
	}
	if target, ok := nd.children[newBase]; ok {
		switch {
		case target == n:
			// Two names of one inode (a crash can leave a file so): as
			// POSIX rename, do nothing.
			return nil
		case n.dir && !target.dir:
			return fail(errNotDir)
		case !n.dir && target.dir:
			return fail(errIsDir)
		case target.dir && len(target.children) > 0:
			return fail(errNotEmpty)
		}
	}
	now := m.tick()
	if od == nd {
		od.renameLocked(oldBase, newBase, n, now)
	} else {
		od.removeLocked(oldBase, now)
		nd.addLocked(newBase, n, now)
	}
	return nil
}

// MkdirAll implements FS. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, ok := splitPath(dir)
	if !ok {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: errInvalidPath}
	}
	n := m.root
	for _, p := range parts {
		c, ok := n.children[p]
		switch {
		case !ok:
			c = newDirInode()
			n.addLocked(p, c, m.tick())
		case !c.dir:
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		}
		n = c
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookupPathLocked("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: errNotDir}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS. ModTime is logical: it grows with every change to
// the FS, starting near the Unix epoch, and is not wall-clock time.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookupPathLocked("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(filepath.Base(name)), nil
}

func (n *inode) info(name string) os.FileInfo {
	fi := &memFileInfo{name: name, dir: n.dir, modTime: time.Unix(0, n.modTime.Load()).UTC()}
	if !n.dir {
		n.mu.RLock()
		fi.size = int64(len(n.data))
		n.mu.RUnlock()
	}
	return fi
}

// SyncDir implements FS: the current entries of dir become durable. The
// directory's own entry in its parent does not; that takes a SyncDir of
// the parent.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupPathLocked("syncdir", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: errNotDir}
	}
	n.durable = maps.Clone(n.children)
	n.names = nil
	return nil
}

// Lock implements FS. Locks live in this MemFS only; a CrashClone starts
// with none held.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parentLocked("lock", name)
	if err != nil {
		return nil, err
	}
	parts, _ := splitPath(name)
	key := strings.Join(parts, "/")
	if _, held := m.locks[key]; held {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	n, ok := d.children[base]
	switch {
	case !ok:
		d.addLocked(base, &inode{}, m.tick())
	case n.dir:
		return nil, &fs.PathError{Op: "lock", Path: name, Err: errIsDir}
	}
	m.locks[key] = struct{}{}
	return &memLock{fs: m, key: key, name: name}, nil
}

// memLock is a held Lock of a MemFS.
type memLock struct {
	fs       *MemFS
	key      string
	name     string
	released atomic.Bool
}

func (l *memLock) Close() error {
	if l.released.Swap(true) {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: fs.ErrClosed}
	}
	l.fs.mu.Lock()
	delete(l.fs.locks, l.key)
	l.fs.mu.Unlock()
	return nil
}

// CrashClone returns the file system a machine crash at this instant would
// leave: a new, fully independent MemFS (nothing is shared with m) with no
// locks held and no unsynced state. See CrashOptions for what survives;
// in short, with KeepUnsynced 0:
//
//   - a file holds the data of its last Sync (empty if never synced);
//   - a directory holds the entries of its last SyncDir: a name created
//     since is gone, a rename since is undone, a name removed since is
//     back (with its inode's durable data);
//   - a directory whose own entry is not durable is gone with everything
//     below it, even entries synced inside it.
//
// A rename across directories is a removal and an addition, each durable
// with its own directory, so a crash can leave a file under both names
// (two names of one inode) or under neither; rename within a directory to
// stay atomic. A directory that would appear twice keeps only its first
// name in depth-first order by name.
//
// CrashClone may run while m is in use: it waits for in-flight changes and
// holds new ones off while it copies. m is unchanged.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.io.Lock()
	defer m.io.Unlock()
	rng := opts.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(0x6c696768746e696e, 0x67))
	}
	c := &crasher{keep: opts.KeepUnsynced, rng: rng, files: make(map[*inode]*inode), dirs: map[*inode]bool{m.root: true}}
	clone := &MemFS{root: c.dir(m.root), locks: make(map[string]struct{})}
	clone.clock.Store(m.clock.Load())
	return clone
}

// crasher builds a crash image; MemFS.mu and MemFS.io are held.
type crasher struct {
	keep  float64
	rng   *rand.Rand
	files map[*inode]*inode // original file inode -> its crash copy
	dirs  map[*inode]bool   // directories already placed in the image
}

// survives decides whether one unsynced change survives.
func (c *crasher) survives() bool {
	switch {
	case c.keep >= 1:
		return true
	case !(c.keep > 0): // also NaN
		return false
	}
	return c.rng.Float64() < c.keep
}

func (c *crasher) dir(d *inode) *inode {
	entries := maps.Clone(d.durable)
	for _, op := range d.names {
		if c.survives() {
			op.apply(entries)
		}
	}
	out := newDirInode()
	out.modTime.Store(d.modTime.Load())
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		n := entries[name]
		if n.dir {
			if c.dirs[n] {
				continue
			}
			c.dirs[n] = true
			out.children[name] = c.dir(n)
			continue
		}
		out.children[name] = c.file(n)
	}
	out.durable = maps.Clone(out.children)
	return out
}

func (c *crasher) file(f *inode) *inode {
	if cp, ok := c.files[f]; ok {
		return cp
	}
	f.mu.RLock()
	data := bytes.Clone(f.synced)
	for _, op := range f.pending {
		if c.survives() {
			data = op.apply(data)
		}
	}
	f.mu.RUnlock()
	cp := &inode{data: data, synced: bytes.Clone(data)}
	cp.modTime.Store(f.modTime.Load())
	c.files[f] = cp
	return cp
}

// Size returns the total size of the files reachable by name, each inode
// counted once.
func (m *MemFS) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var total int64
	seen := make(map[*inode]bool)
	m.walkLocked(func(_ string, n *inode) {
		if n.dir || seen[n] {
			return
		}
		seen[n] = true
		n.mu.RLock()
		total += int64(len(n.data))
		n.mu.RUnlock()
	})
	return total
}

// String lists every directory and file, one a line in path order, with
// file sizes and what is not yet durable, e.g.
//
//	/db/
//	/db/000001.log 4096 (synced 1024, 3 unsynced ops)
//	/db/CURRENT 16
//	/tmp/ (2 unsynced entry changes)
func (m *MemFS) String() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var b strings.Builder
	m.walkLocked(func(path string, n *inode) {
		if n.dir {
			b.WriteString(path + "/")
			if len(n.names) > 0 {
				fmt.Fprintf(&b, " (%d unsynced entry changes)", len(n.names))
			}
			b.WriteByte('\n')
			return
		}
		n.mu.RLock()
		fmt.Fprintf(&b, "%s %d", path, len(n.data))
		if len(n.pending) > 0 {
			fmt.Fprintf(&b, " (synced %d, %d unsynced ops)", len(n.synced), len(n.pending))
		}
		n.mu.RUnlock()
		b.WriteByte('\n')
	})
	return b.String()
}

// walkLocked calls fn for every entry below the root, depth first in name
// order, with its path from the root ("/db/x"). The root itself is passed
// (as "") only when it has unsynced entry changes, which String shows.
func (m *MemFS) walkLocked(fn func(path string, n *inode)) {
	var walk func(prefix string, d *inode)
	walk = func(prefix string, d *inode) {
		for _, name := range slices.Sorted(maps.Keys(d.children)) {
			n := d.children[name]
			p := prefix + "/" + name
			fn(p, n)
			if n.dir {
				walk(p, n)
			}
		}
	}
	if len(m.root.names) > 0 {
		fn("", m.root)
	}
	walk("", m.root)
}

// memFile is an open File of a MemFS.
type memFile struct {
	fs       *MemFS
	ino      *inode
	name     string
	writable bool
	closed   atomic.Bool
	// pos is the position of the next Write; guarded by ino.mu.
	pos int64
}

var _ File = (*memFile)(nil)

// check returns the error for op on f if f is closed, or read-only and op
// writes.
func (f *memFile) check(op string, writes bool) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if writes && !f.writable {
		return &fs.PathError{Op: op, Path: f.name, Err: errReadOnly}
	}
	return nil
}

// checkRange rejects a write or truncation of [off, off+n) that is
// negative or past what an int can index.
func (f *memFile) checkRange(op string, off int64, n int) error {
	switch {
	case off < 0:
		return &fs.PathError{Op: op, Path: f.name, Err: errNegativeOffset}
	case off > math.MaxInt-int64(n):
		return &fs.PathError{Op: op, Path: f.name, Err: errTooLarge}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errNegativeOffset}
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.ino.mu.RLock()
	defer f.ino.mu.RUnlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if err := f.checkRange("write", off, len(p)); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.fs.io.RLock()
	defer f.fs.io.RUnlock()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	f.ino.changeLocked(dataOp{off: off, data: bytes.Clone(p)}, f.fs.tick())
	return len(p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	f.fs.io.RLock()
	defer f.fs.io.RUnlock()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if err := f.checkRange("write", f.pos, len(p)); err != nil {
		return 0, err
	}
	if len(p) > 0 {
		f.ino.changeLocked(dataOp{off: f.pos, data: bytes.Clone(p)}, f.fs.tick())
		f.pos += int64(len(p))
	}
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if err := f.checkRange("truncate", size, 0); err != nil {
		return err
	}
	f.fs.io.RLock()
	defer f.fs.io.RUnlock()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	f.ino.changeLocked(dataOp{truncate: true, off: size}, f.fs.tick())
	return nil
}

// Sync makes the inode's data durable, whoever wrote it: like fsync, it
// is about the file, not the handle, and works on a read-only handle.
func (f *memFile) Sync() error {
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.fs.io.RLock()
	defer f.fs.io.RUnlock()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	for _, op := range f.ino.pending {
		f.ino.synced = op.apply(f.ino.synced)
	}
	f.ino.pending = nil
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	f.ino.mu.RLock()
	defer f.ino.mu.RUnlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

// memFileInfo is what MemFS.Stat returns.
type memFileInfo struct {
	name    string
	size    int64
	dir     bool
	modTime time.Time
}

func (fi *memFileInfo) Name() string       { return fi.name }
func (fi *memFileInfo) Size() int64        { return fi.size }
func (fi *memFileInfo) ModTime() time.Time { return fi.modTime }
func (fi *memFileInfo) IsDir() bool        { return fi.dir }
func (fi *memFileInfo) Sys() any           { return nil }

func (fi *memFileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
