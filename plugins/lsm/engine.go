package lsm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
	"github.com/lightningdb/lightning/vfs"
)

// Name is the engine's name, as Describe reports it and as the core
// records it in a database.
const Name = "lsm"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// Engine is the LSM Storage. See the package documentation.
type Engine struct {
	opts   Options
	dir    string
	fs     vfs.FS
	cipher interfaces.Cipher
	codec  interfaces.Codec
	codecs []interfaces.Codec
	log    *slog.Logger
	lock   io.Closer
	tc     *tableCache

	// appliedTs is the highest ts whose Apply returned: reads never look
	// above it, so a half-done Apply is invisible.
	appliedTs atomic.Uint64
	// durableTs is the durable ts the manifest records.
	// INVARIANT: never decreases; equals the manifest's once an edit is
	// synced.
	durableTs atomic.Uint64
	// discardTs is the highest ts passed to SetDiscardTs.
	discardTs atomic.Uint64
	closed    atomic.Bool
	// failed holds the error that fail-stopped the engine: a flush or a
	// manifest write failed, so what is durable is unknown. Apply and Flush
	// return ErrFailStopped from then on; reads keep working.
	failed atomic.Pointer[error]
	// rs is the current read state. The engine holds one reference to it.
	rs atomic.Pointer[readState]

	// writeMu serialises the writer: Apply, and the memtable rotations of
	// Flush. Lock order: writeMu, then mu.
	writeMu sync.Mutex
	// nextMemSize is the arena size of the next ordinary memtable, doubling
	// up to MemtableSize. Guarded by writeMu.
	nextMemSize int
	// order and sortBuf are insertOrder's reusable slices. Guarded by
	// writeMu.
	order   []int32
	sortBuf []sortKey

	// mu guards the fields below and the compacting flags of tables. cond
	// is broadcast on every change a waiter may care about: a flush or
	// compaction done, a memtable queued, a failure, closing.
	mu   sync.Mutex
	cond sync.Cond
	// current is the current version; the engine holds a reference.
	current *version
	// mutable takes Apply's entries; nil until the first Apply after open
	// or a Flush, so an idle engine holds no arena.
	mutable *memTable
	// imm are the full memtables waiting for their flush, oldest first.
	imm []*memTable
	// nextFileNum is the number the next file gets.
	nextFileNum uint64
	// nextMemNum is the number the next memtable gets; logNum the number
	// of the last one flushed, as the manifest records it.
	nextMemNum, logNum uint64
	manifest           *manifestWriter
	// pending holds the numbers of tables being written and not yet in a
	// version, so Check does not take them for orphans.
	pending map[uint64]struct{}
	// live holds the numbers of the tables some version holds (or held
	// until the cleaner deletes them).
	live map[uint64]struct{}
	// running holds the compactions in progress.
	running map[*compaction]struct{}
	closing bool

	// spare is an arena of the standard size waiting for reuse. Guarded
	// by spareMu, which is taken on the last unref of a memtable, from any
	// goroutine.
	spareMu sync.Mutex
	spare   *arenaskl.Skiplist

	// obsolete holds the numbers of tables no version uses any more, for
	// the cleaner goroutine to delete. Guarded by obsMu, which is taken on
	// the last unref of a version, from any goroutine.
	obsMu    sync.Mutex
	obsolete []uint64
	obsCh    chan struct{}
	// keepFiles is set at Close: dropping the last versions then must not
	// delete their tables.
	keepFiles atomic.Bool

	closeCh chan struct{}
	wg      sync.WaitGroup

	m metrics
}

// metrics are the engine's counters, published through Stats.
type metrics struct {
	flushes, flushBytes                             atomic.Int64
	compactions, moves, compactionRead, compactionW atomic.Int64
	compactionErrors                                atomic.Int64
	stalls, stallNanos                              atomic.Int64
	tablesDeleted                                   atomic.Int64
}

var _ interfaces.Storage = (*Engine)(nil)

// New opens the engine stored in opts.Dir on deps.FS, creating it when the
// directory holds no database. It holds a lock on the directory's LOCK
// file until Close: a second New on the same directory (and file system)
// fails with an error matching vfs.ErrLocked.
//
// Opening replays the manifest, cuts a torn tail (an edit whose append a
// crash interrupted), writes a fresh manifest and deletes the files no
// version refers to: tables a crash left unrecorded, old manifests. A
// damaged manifest, or a table it names that is missing or of another
// size, is a *interfaces.CorruptionError; a database that needs a cipher
// or codec deps lacks is an error matching interfaces.ErrIncompatible.
func New(opts Options, deps Deps) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	codecs, err := deps.codecList()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts:        opts,
		dir:         opts.Dir,
		fs:          deps.FS,
		cipher:      deps.Cipher,
		codec:       deps.Codec,
		codecs:      codecs,
		log:         deps.Logger.With("engine", Name, "dir", opts.Dir),
		nextMemSize: opts.initialMemtableSize(),
		pending:     map[uint64]struct{}{},
		live:        map[uint64]struct{}{},
		running:     map[*compaction]struct{}{},
		obsCh:       make(chan struct{}, 1),
		closeCh:     make(chan struct{}),
	}
	e.cond.L = &e.mu
	e.tc = newTableCache(e.fs, e.dir, opts.TableCacheSize, sstable.ReaderOptions{
		Codecs:         codecs,
		Cipher:         deps.Cipher,
		Cache:          deps.Cache,
		CacheNamespace: rand.Uint64(),
	})
	if err := vfs.MkdirAllDurable(e.fs, e.dir); err != nil {
		return nil, err
	}
	lock, err := e.fs.Lock(filepath.Join(e.dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("lightning/lsm: lock %s: %w", e.dir, err)
	}
	e.lock = lock
	if err := e.recoverState(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	e.installReadStateLocked()
	e.log.Debug("opened", "tables", e.current.numFiles(), "durable_ts", e.durableTs.Load(), "next_file", e.nextFileNum)
	e.wg.Add(2 + opts.CompactionConcurrency)
	go e.flushLoop()
	go e.cleanLoop()
	for range opts.CompactionConcurrency {
		go e.compactionLoop()
	}
	return e, nil
}

// recoverState rebuilds the engine's state from the directory, then starts a
// fresh manifest and deletes what no version refers to.
func (e *Engine) recoverState() error {
	names, err := e.fs.List(e.dir)
	if err != nil {
		return fmt.Errorf("lightning/lsm: list %s: %w", e.dir, err)
	}
	var maxNum uint64
	hasCurrent, tables := false, 0
	for _, n := range names {
		kind, num := parseFileName(n)
		maxNum = max(maxNum, num)
		switch kind {
		case kindCurrent:
			hasCurrent = true
		case kindTable:
			tables++
		}
	}
	r := &replayed{files: map[uint64]newFileEntry{}}
	if hasCurrent {
		num, err := readCurrent(e.fs, e.dir)
		if err != nil {
			return err
		}
		path := filepath.Join(e.dir, manifestName(num))
		data, err := readWhole(e.fs, path)
		if errors.Is(err, fs.ErrNotExist) {
			return interfaces.Corruptf(filepath.Join(e.dir, currentName), 0, "CURRENT names %s, which does not exist", manifestName(num))
		}
		if err != nil {
			return err
		}
		if r, err = replayManifest(data, path, num, e.cipher); err != nil {
			return err
		}
		if r.torn {
			e.log.Warn("cut the torn tail of the manifest", "manifest", path, "valid_bytes", r.validLen, "size", len(data))
		}
	} else if tables > 0 {
		// CURRENT is written when a database is created, before any table:
		// tables without it mean CURRENT was lost, not a fresh directory.
		return interfaces.Corruptf(filepath.Join(e.dir, currentName), -1, "the directory holds %d tables but no CURRENT", tables)
	}
	v, err := applyEdit(nil, r.edit(), e.releaseFiles)
	if err != nil {
		return interfaces.Corruptf(filepath.Join(e.dir, currentName), -1, "the manifest's tables break the level invariants: %v", err)
	}
	for l := range v.levels {
		for _, f := range v.levels[l] {
			path := filepath.Join(e.dir, tableName(f.num))
			fi, err := e.fs.Stat(path)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return interfaces.Corruptf(path, -1, "table in L%d of the manifest is missing", l)
			case err != nil:
				return fmt.Errorf("lightning/lsm: stat %s: %w", path, err)
			case uint64(fi.Size()) != f.size:
				return interfaces.Corruptf(path, -1, "table of %d bytes, the manifest records %d", fi.Size(), f.size)
			}
			e.live[f.num] = struct{}{}
		}
	}
	v.ref()
	e.current = v
	e.durableTs.Store(r.durableTs)
	e.appliedTs.Store(r.durableTs)
	e.logNum = r.logNum
	e.nextMemNum = r.logNum + 1
	// A file number seen anywhere, even in an orphan about to go, is never
	// given out again.
	e.nextFileNum = max(r.nextFileNum, maxNum+1, 1)

	num := e.allocFileNumLocked()
	w, err := createManifest(e.fs, e.dir, num, e.cipher, snapshotEdit(v, e.nextFileNum, r.durableTs, r.logNum))
	if err != nil {
		_ = e.fs.Remove(filepath.Join(e.dir, manifestName(num)))
		return err
	}
	if err := setCurrent(e.fs, e.dir, num); err != nil {
		_ = w.close()
		return err
	}
	e.manifest = w
	for _, n := range names {
		kind, fnum := parseFileName(n)
		obsolete := false
		switch kind {
		case kindManifest:
			obsolete = fnum != num
		case kindTemp:
			obsolete = true
		case kindTable:
			obsolete = !r.has(fnum)
		}
		if obsolete {
			if err := e.fs.Remove(filepath.Join(e.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				e.log.Warn("could not delete an obsolete file", "file", n, "err", err)
			}
		}
	}
	return nil
}

// has reports whether the replayed version holds table num.
func (r *replayed) has(num uint64) bool {
	_, ok := r.files[num]
	return ok
}

// allocFileNumLocked returns a fresh file number. Called with mu held (or
// before the engine is shared).
func (e *Engine) allocFileNumLocked() uint64 {
	n := e.nextFileNum
	e.nextFileNum++
	return n
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
		return fmt.Errorf("lightning/lsm: %s: %w", op, interfaces.ErrClosed)
	}
	return nil
}

// checkWritable is checkOpen for Apply, Flush and Compact, which also
// refuse to run on a fail-stopped engine.
func (e *Engine) checkWritable(op string) error {
	if err := e.checkOpen(op); err != nil {
		return err
	}
	if p := e.failed.Load(); p != nil {
		return fmt.Errorf("lightning/lsm: %s: %w (after: %w)", op, interfaces.ErrFailStopped, *p)
	}
	return nil
}

// failStop records err as the reason the engine stops writing and wakes
// every waiter. The first failure wins.
func (e *Engine) failStop(err error) {
	e.mu.Lock()
	e.failStopLocked(err)
	e.mu.Unlock()
}

// failStopLocked is failStop with mu held.
func (e *Engine) failStopLocked(err error) {
	if e.failed.CompareAndSwap(nil, &err) {
		e.log.Error("fail-stopped: writes are refused until the database is reopened", "err", err)
	}
	e.cond.Broadcast()
}

// DurableTs returns the highest ts made durable, as the manifest records
// it.
func (e *Engine) DurableTs() (uint64, error) {
	if err := e.checkOpen("durable ts"); err != nil {
		return 0, err
	}
	return e.durableTs.Load(), nil
}

// SetDiscardTs raises the discard ts; a lower value is ignored. Flushes
// and compactions drop what it lets go from then on, and Compact drops all
// of it.
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

// Close stops the background work (an unfinished flush or compaction is
// abandoned, its partial output deleted), deletes obsolete tables and
// releases the directory. It does not flush: memtables are dropped, which
// the core's log covers.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return fmt.Errorf("lightning/lsm: close: %w", interfaces.ErrClosed)
	}
	e.mu.Lock()
	e.closing = true
	e.cond.Broadcast()
	e.mu.Unlock()
	close(e.closeCh)
	e.wg.Wait()
	e.deleteObsolete()
	e.keepFiles.Store(true)

	e.mu.Lock()
	rs := e.rs.Swap(nil)
	cur := e.current
	e.current, e.mutable, e.imm = nil, nil, nil
	e.mu.Unlock()
	if rs != nil {
		rs.unref()
	}
	if cur != nil {
		cur.unref()
	}
	e.tc.close()
	var errs []error
	if e.manifest != nil {
		errs = append(errs, e.manifest.close())
	}
	if err := e.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("lightning/lsm: unlock %s: %w", e.dir, err))
	}
	return errors.Join(errs...)
}

// Stats returns the engine's figures.
func (e *Engine) Stats() (interfaces.StorageStats, error) {
	if err := e.checkOpen("stats"); err != nil {
		return interfaces.StorageStats{}, err
	}
	rs := e.acquireReadState()
	defer rs.unref()
	var memBytes int64
	for _, m := range rs.mems {
		memBytes += int64(m.skl.Capacity())
	}
	v := rs.v
	e.mu.Lock()
	manifestSize := e.manifest.size
	running := len(e.running)
	// Scores read the compacting flags, which mu guards.
	best := 0.0
	for l := range NumLevels - 1 {
		best = max(best, levelScore(e.current, &e.opts, l))
	}
	e.mu.Unlock()
	mt := map[string]int64{
		"lsm.l0.files":                   int64(len(v.levels[0])),
		"lsm.tables":                     int64(v.numFiles()),
		"lsm.memtables":                  int64(len(rs.mems)),
		"lsm.memtable.bytes":             memBytes,
		"lsm.flushes":                    e.m.flushes.Load(),
		"lsm.flush.bytes":                e.m.flushBytes.Load(),
		"lsm.compactions":                e.m.compactions.Load(),
		"lsm.compactions.moves":          e.m.moves.Load(),
		"lsm.compactions.running":        int64(running),
		"lsm.compactions.errors":         e.m.compactionErrors.Load(),
		"lsm.compaction.bytes_read":      e.m.compactionRead.Load(),
		"lsm.compaction.bytes_written":   e.m.compactionW.Load(),
		"lsm.compaction.score_x100.best": int64(best * 100),
		"lsm.stalls":                     e.m.stalls.Load(),
		"lsm.stall_nanos":                e.m.stallNanos.Load(),
		"lsm.table_cache.hits":           e.tc.hits.Load(),
		"lsm.table_cache.misses":         e.tc.misses.Load(),
		"lsm.table_cache.open":           int64(e.tc.size()),
		"lsm.tables_deleted":             e.m.tablesDeleted.Load(),
		"lsm.manifest.bytes":             manifestSize,
		"lsm.fail_stopped":               boolInt(e.failed.Load() != nil),
		"lsm.durable_ts_lag":             int64(e.appliedTs.Load() - e.durableTs.Load()),
		"lsm.write_amp_x100":             0,
	}
	if fb := e.m.flushBytes.Load(); fb > 0 {
		mt["lsm.write_amp_x100"] = (fb + e.m.compactionW.Load()) * 100 / fb
	}
	for l := range NumLevels {
		mt["lsm.level."+strconv.Itoa(l)+".bytes"] = int64(v.levelBytes[l])
		mt["lsm.level."+strconv.Itoa(l)+".files"] = int64(len(v.levels[l]))
	}
	return interfaces.StorageStats{
		DiskBytes: int64(v.totalBytes()) + manifestSize,
		MemBytes:  memBytes,
		AppliedTs: e.appliedTs.Load(),
		DurableTs: e.durableTs.Load(),
		DiscardTs: e.discardTs.Load(),
		Metrics:   mt,
	}, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// releaseFiles is every version's release hook: it queues the tables no
// version holds any more for deletion.
func (e *Engine) releaseFiles(obsolete []*fileMeta) {
	if e.keepFiles.Load() {
		return
	}
	e.obsMu.Lock()
	for _, f := range obsolete {
		e.obsolete = append(e.obsolete, f.num)
	}
	e.obsMu.Unlock()
	select {
	case e.obsCh <- struct{}{}:
	default:
	}
}

// cleanLoop deletes obsolete tables in the background, so that the read
// that drops the last reference to an old version does not pay for it.
func (e *Engine) cleanLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.closeCh:
			return
		case <-e.obsCh:
			e.deleteObsolete()
		}
	}
}

// deleteObsolete deletes the queued obsolete tables. A failure is logged
// and the file left: the next open deletes it as an orphan.
func (e *Engine) deleteObsolete() {
	e.obsMu.Lock()
	nums := e.obsolete
	e.obsolete = nil
	e.obsMu.Unlock()
	for _, num := range nums {
		e.tc.evict(num)
		path := filepath.Join(e.dir, tableName(num))
		if err := e.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("could not delete an obsolete table", "table", path, "err", err)
		} else {
			e.m.tablesDeleted.Add(1)
		}
		e.mu.Lock()
		delete(e.live, num)
		e.mu.Unlock()
	}
}

// sleepOrClose waits for d or until the engine closes, reporting whether
// it is closing.
func (e *Engine) sleepOrClose(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-e.closeCh:
		return true
	}
}
