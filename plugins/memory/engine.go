package memory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Name is the engine's name, as Describe reports it and as the core
// records it in a database.
const Name = "memory"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// File names inside Options.Dir.
const (
	// SnapshotName is the snapshot file: every durable version.
	SnapshotName = "SNAPSHOT"
	// snapshotTmpName is where Flush writes the next snapshot before
	// renaming it over SnapshotName.
	snapshotTmpName = "SNAPSHOT.tmp"
	// LockName is the file locked while an Engine has the directory open.
	LockName = "LOCK"
)

// state is one published version of the tree. It is immutable: a change
// makes a new state and publishes it with one atomic store, so a reader
// that loaded a state sees a consistent tree however long it keeps it.
type state struct {
	root *node
	// count is the number of versions in the tree.
	count int
	// bytes is the sum of the versions' key and value lengths.
	bytes int64
	// appliedTs is the highest ts applied, or loaded from the snapshot.
	// INVARIANT: every version in the tree has ts <= appliedTs.
	appliedTs uint64
}

// Engine is the in-memory Storage. See the package documentation.
type Engine struct {
	dir, snapPath, tmpPath string
	opts                   Options
	fs                     vfs.FS
	cipher                 interfaces.Cipher
	codec                  interfaces.Codec
	codecs                 map[interfaces.CodecID]interfaces.Codec
	log                    *slog.Logger
	lock                   io.Closer

	// cur is the published tree. Readers load it without locks.
	cur atomic.Pointer[state]

	// writeMu serialises the changes of the tree — Apply and each
	// removal batch of garbage collection — and Close. Lock order:
	// flushMu, then writeMu.
	writeMu sync.Mutex
	// gen numbers write sessions; a node belongs to the session that made
	// it. Guarded by writeMu (and used unguarded only in New).
	gen uint64

	// flushMu serialises the snapshot file's writers and readers: Flush,
	// Check's file verification, and Close.
	flushMu sync.Mutex

	// durableTs is the ts of the snapshot on disk.
	// INVARIANT: never decreases.
	durableTs atomic.Uint64
	// discardTs is the highest ts passed to SetDiscardTs (or recorded in
	// the snapshot).
	// INVARIANT: never decreases.
	discardTs atomic.Uint64
	// gcTs is the discard ts of the last collection over every key: a
	// Flush collects again only when discardTs has moved past it.
	gcTs atomic.Uint64
	// diskBytes is the size of the snapshot file.
	diskBytes atomic.Int64
	// failed holds the error that fail-stopped the engine: a snapshot was
	// renamed into place but its directory sync failed, so what is durable
	// is unknown until a reopen reads it back.
	failed atomic.Pointer[error]
	closed atomic.Bool

	flushes    atomic.Int64
	gcRuns     atomic.Int64
	gcDropped  atomic.Int64
	iterOpened atomic.Int64
}

var _ interfaces.Storage = (*Engine)(nil)

// New opens the engine stored in opts.Dir on deps.FS, creating the
// directory when it does not exist. It holds a lock on the directory's
// LOCK file until Close: a second New on the same directory (and file
// system) fails with an error matching vfs.ErrLocked.
//
// A damaged snapshot is a *interfaces.CorruptionError; a snapshot that
// needs a cipher or codec not given in deps, or was sealed while deps has
// no cipher (or the reverse), an error matching interfaces.ErrIncompatible.
func New(opts Options, deps Deps) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	codecs, err := deps.codecMap()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		dir:      opts.Dir,
		snapPath: filepath.Join(opts.Dir, SnapshotName),
		tmpPath:  filepath.Join(opts.Dir, snapshotTmpName),
		opts:     opts,
		fs:       deps.FS,
		cipher:   deps.Cipher,
		codec:    deps.Codec,
		codecs:   codecs,
		log:      deps.Logger.With("engine", Name, "dir", opts.Dir),
	}
	if err := vfs.MkdirAllDurable(e.fs, e.dir); err != nil {
		return nil, err
	}
	lock, err := e.fs.Lock(filepath.Join(e.dir, LockName))
	if err != nil {
		return nil, fmt.Errorf("lightning/memory: lock %s: %w", e.dir, err)
	}
	e.lock = lock
	if err := e.load(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	st := e.cur.Load()
	e.log.Debug("opened", "versions", st.count, "durable_ts", e.durableTs.Load(), "discard_ts", e.discardTs.Load())
	return e, nil
}

// load reads the snapshot, if there is one, into the tree.
func (e *Engine) load() error {
	// A leftover temporary snapshot is a Flush that never finished; the
	// snapshot it was to replace is still the durable one.
	if err := e.fs.Remove(e.tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lightning/memory: remove %s: %w", e.tmpPath, err)
	}
	f, err := e.fs.Open(e.snapPath)
	if errors.Is(err, fs.ErrNotExist) {
		e.cur.Store(&state{})
		return nil
	}
	if err != nil {
		return fmt.Errorf("lightning/memory: open snapshot: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("lightning/memory: size of %s: %w", e.snapPath, err)
	}
	var items []version
	var total int64
	info, err := readSnapshot(f, size, e.snapPath, e.cipher, e.codecs,
		func(key []byte, ts uint64, kind interfaces.EntryKind, value []byte) error {
			v := newVersion(key, ts, kind, value)
			items = append(items, v)
			total += int64(len(v.data))
			return nil
		})
	if err != nil {
		return fmt.Errorf("lightning/memory: load snapshot: %w", err)
	}
	e.gen++
	e.cur.Store(&state{
		root:      buildTree(items, e.gen),
		count:     len(items),
		bytes:     total,
		appliedTs: info.header.durableTs,
	})
	e.durableTs.Store(info.header.durableTs)
	e.discardTs.Store(info.header.discardTs)
	// The snapshot was written without the versions its discard ts let
	// go, so there is nothing to collect until discard ts moves.
	e.gcTs.Store(info.header.discardTs)
	e.diskBytes.Store(size)
	return nil
}

// Describe returns the engine's self-description.
func (e *Engine) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindStorage,
		Name:            Name,
		Version:         Version,
		ContractVersion: interfaces.StorageContractVersion,
		Capabilities: []interfaces.Capability{
			interfaces.CapDurable,
			interfaces.CapDiscard,
			interfaces.CapCompact,
			interfaces.CapCheck,
		},
	}
}

func (e *Engine) checkOpen(op string) error {
	if e.closed.Load() {
		return fmt.Errorf("lightning/memory: %s: %w", op, interfaces.ErrClosed)
	}
	return nil
}

// checkWritable is checkOpen for Apply and Flush, which also refuse to run
// on a fail-stopped engine.
func (e *Engine) checkWritable(op string) error {
	if err := e.checkOpen(op); err != nil {
		return err
	}
	if p := e.failed.Load(); p != nil {
		return fmt.Errorf("lightning/memory: %s: %w (after: %w)", op, interfaces.ErrFailStopped, *p)
	}
	return nil
}

// Apply adds entries as new versions, as interfaces.Storage.Apply says. It
// checks the contract's preconditions and returns an error matching
// interfaces.ErrInvalidArgument, having changed nothing, when one fails.
// The versions become visible all at once, when Apply returns.
func (e *Engine) Apply(entries []interfaces.Entry) error {
	if err := e.checkWritable("apply"); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	for i := range entries {
		if err := interfaces.ValidateEntry(entries, i); err != nil {
			return fmt.Errorf("lightning/memory: apply: %w", err)
		}
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.checkOpen("apply"); err != nil {
		return err
	}
	st := e.cur.Load()
	if entries[0].Ts <= st.appliedTs {
		return fmt.Errorf("lightning/memory: apply: ts %d is not above the applied ts %d: %w",
			entries[0].Ts, st.appliedTs, interfaces.ErrInvalidArgument)
	}
	e.gen++
	w := writer{gen: e.gen, root: st.root, count: st.count, bytes: st.bytes}
	for i := range entries {
		en := &entries[i]
		if !w.insert(newVersion(en.Key, en.Ts, en.Kind, en.Value)) {
			// Nothing was published: dropping w undoes the whole call.
			return fmt.Errorf("lightning/memory: apply: entry %d: (%q, %d) appears twice: %w",
				i, en.Key, en.Ts, interfaces.ErrInvalidArgument)
		}
	}
	e.cur.Store(&state{root: w.root, count: w.count, bytes: w.bytes, appliedTs: entries[len(entries)-1].Ts})
	return nil
}

// Get returns a copy of the value of key's newest version with ts <=
// readTs, and that version's ts.
func (e *Engine) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if err := e.checkOpen("get"); err != nil {
		return nil, 0, err
	}
	st := e.cur.Load()
	v := seekGE(st.root, key, readTs)
	if v == nil || v.kind != interfaces.KindSet || !bytes.Equal(v.key(), key) {
		// The sentinel itself: not finding a key is an answer, not a
		// failure, and wrapping it would cost an allocation per miss.
		return nil, 0, interfaces.ErrNotFound
	}
	src := v.value()
	value := make([]byte, len(src))
	copy(value, src)
	return value, v.ts, nil
}

// NewIterator returns an iterator over a snapshot of the tree. The
// snapshot is the published tree at the call, so the iterator holds no
// lock and never blocks Apply; it keeps the versions it can see in memory
// until it is closed. Bounds that cross (LowerBound > UpperBound) are an
// error matching interfaces.ErrInvalidArgument.
func (e *Engine) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if err := e.checkOpen("new iterator"); err != nil {
		return nil, err
	}
	if opts.LowerBound != nil && opts.UpperBound != nil && bytes.Compare(opts.LowerBound, opts.UpperBound) > 0 {
		return nil, fmt.Errorf("lightning/memory: new iterator: lower bound %q above upper bound %q: %w",
			opts.LowerBound, opts.UpperBound, interfaces.ErrInvalidArgument)
	}
	st := e.cur.Load()
	e.iterOpened.Add(1)
	return newIterator(e, st, opts), nil
}

// Flush writes the published tree to a new snapshot and returns its ts,
// as interfaces.Storage.Flush says. It writes nothing when nothing was
// applied since the last snapshot. Afterwards, when SetDiscardTs has moved
// since the last full collection, it drops the versions the discard ts
// allows from memory too.
//
// A failure before the new snapshot is renamed into place leaves the old
// one durable, and Flush may be retried. A failure of the directory sync
// after the rename fail-stops the engine: Apply and Flush then return
// interfaces.ErrFailStopped until it is reopened.
func (e *Engine) Flush() (uint64, error) {
	if err := e.checkWritable("flush"); err != nil {
		return 0, err
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err := e.checkWritable("flush"); err != nil {
		return 0, err
	}
	st := e.cur.Load()
	durable := e.durableTs.Load()
	discard := e.discardTs.Load()
	if st.appliedTs > durable {
		size, err := e.writeSnapshot(st, discard)
		if err != nil {
			return 0, err
		}
		durable = st.appliedTs
		e.durableTs.Store(durable)
		e.diskBytes.Store(size)
		e.flushes.Add(1)
	}
	if discard > e.gcTs.Load() {
		if _, err := e.collect(interfaces.KeyRange{}, discard); err != nil {
			// The snapshot is written; a collection that could not
			// finish (the engine is closing) costs only memory.
			e.log.Warn("collection after flush stopped", "err", err)
		}
	}
	return durable, nil
}

// writeSnapshot writes the versions of st that discard does not let go to
// a temporary file, syncs it, renames it over the snapshot and syncs the
// directory. It returns the snapshot's size.
func (e *Engine) writeSnapshot(st *state, discard uint64) (int64, error) {
	size, err := e.writeTemp(st, discard)
	if err != nil {
		if rerr := e.fs.Remove(e.tmpPath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			e.log.Warn("remove temporary snapshot", "err", rerr)
		}
		return 0, fmt.Errorf("lightning/memory: flush: %w", err)
	}
	if err := e.fs.Rename(e.tmpPath, e.snapPath); err != nil {
		if rerr := e.fs.Remove(e.tmpPath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			e.log.Warn("remove temporary snapshot", "err", rerr)
		}
		return 0, fmt.Errorf("lightning/memory: flush: rename snapshot: %w", err)
	}
	if err := e.fs.SyncDir(e.dir); err != nil {
		err = fmt.Errorf("lightning/memory: flush: sync %s: %w", e.dir, err)
		e.failed.Store(&err)
		e.log.Error("fail-stopped", "err", err)
		return 0, err
	}
	return size, nil
}

func (e *Engine) writeTemp(st *state, discard uint64) (size int64, err error) {
	f, err := e.fs.Create(e.tmpPath)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", e.tmpPath, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", e.tmpPath, cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	sw, err := newSnapshotWriter(bw, snapshotHeader{durableTs: st.appliedTs, discardTs: discard},
		e.cipher, e.codec, e.opts.BlockSize)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", e.tmpPath, err)
	}
	var c cursor
	gc := gcFilter{discard: discard}
	for c.first(st.root); c.valid(); c.next() {
		v := c.item()
		if gc.droppable(v) {
			continue
		}
		if err := sw.add(v); err != nil {
			return 0, fmt.Errorf("write %s: %w", e.tmpPath, err)
		}
	}
	if size, err = sw.finish(); err != nil {
		return 0, fmt.Errorf("write %s: %w", e.tmpPath, err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", e.tmpPath, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", e.tmpPath, err)
	}
	return size, nil
}

// DurableTs returns the ts of the snapshot on disk; 0 when there is none.
func (e *Engine) DurableTs() (uint64, error) {
	if err := e.checkOpen("durable ts"); err != nil {
		return 0, err
	}
	return e.durableTs.Load(), nil
}

// SetDiscardTs raises the discard ts; a lower ts is ignored. Nothing is
// dropped until the next Compact or Flush.
func (e *Engine) SetDiscardTs(ts uint64) error {
	if err := e.checkOpen("set discard ts"); err != nil {
		return err
	}
	for {
		cur := e.discardTs.Load()
		if ts <= cur || e.discardTs.CompareAndSwap(cur, ts) {
			return nil
		}
	}
}

// Compact drops from memory the versions in r that the discard ts lets go.
// It takes the write lock once per Options.CompactBatch versions dropped,
// so Apply waits at most for one batch. The snapshot on disk keeps the
// dropped versions until the next Flush.
func (e *Engine) Compact(r interfaces.KeyRange) error {
	if err := e.checkOpen("compact"); err != nil {
		return err
	}
	if r.Start != nil && r.End != nil && bytes.Compare(r.Start, r.End) > 0 {
		return fmt.Errorf("lightning/memory: compact: start %q above end %q: %w", r.Start, r.End, interfaces.ErrInvalidArgument)
	}
	// The range belongs to the caller, who may reuse it when Compact
	// returns; collect keeps only its own copies.
	r = interfaces.KeyRange{Start: cloneBytes(r.Start), End: cloneBytes(r.End)}
	_, err := e.collect(r, e.discardTs.Load())
	return err
}

// Stats returns figures about the engine. MemBytes is the approximate
// memory held by every version (the engine keeps all of them in memory,
// flushed or not): keys, values, and the tree around them.
func (e *Engine) Stats() (interfaces.StorageStats, error) {
	if err := e.checkOpen("stats"); err != nil {
		return interfaces.StorageStats{}, err
	}
	st := e.cur.Load()
	return interfaces.StorageStats{
		DiskBytes: e.diskBytes.Load(),
		MemBytes:  memBytes(st),
		AppliedTs: st.appliedTs,
		DurableTs: e.durableTs.Load(),
		DiscardTs: e.discardTs.Load(),
		Metrics: map[string]int64{
			"memory.versions":         int64(st.count),
			"memory.flushes":          e.flushes.Load(),
			"memory.gc_runs":          e.gcRuns.Load(),
			"memory.gc_dropped":       e.gcDropped.Load(),
			"memory.iterators_opened": e.iterOpened.Load(),
		},
	}, nil
}

// memBytes estimates the memory st holds: its keys and values, their
// allocation headers, and node slots at the fill a B-tree keeps on
// average (about 70%).
func memBytes(st *state) int64 {
	const sliceOverhead = 16 // allocator rounding and size classes, roughly
	slots := int64(st.count) * 10 / 7
	return st.bytes + int64(st.count)*sliceOverhead + slots*(versionSize+8)
}

// Close releases the directory lock and the tree. It does not flush.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("lightning/memory: close: %w", interfaces.ErrClosed)
	}
	// Wait for a Flush or a collection batch that raced with Close (the
	// contract forbids it, but a crashed caller's goroutines do not read
	// contracts).
	e.flushMu.Lock()
	e.writeMu.Lock()
	e.cur.Store(&state{})
	e.writeMu.Unlock()
	e.flushMu.Unlock()
	if err := e.lock.Close(); err != nil {
		return fmt.Errorf("lightning/memory: close: release lock: %w", err)
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
