package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lightningdb/lightning/core/internal/lockmgr"
	"github.com/lightningdb/lightning/core/internal/wal"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

const (
	lockFile  = "LOCK"
	walDir    = "wal"
	engineDir = "engine"
)

// DB is an open database: one WAL, one clock, one engine. All methods are
// safe for concurrent use.
type DB struct {
	opts    Options
	dir     string
	fs      vfs.FS
	lock    io.Closer
	storage interfaces.Storage
	log     *wal.Log
	codecs  []interfaces.Codec
	tracer  trace.Tracer

	// commitMu orders commits: conflict checks, ts assignment and queueing
	// happen under it, and the pipeline's queue and leadership live under
	// it. Lock order: commitMu, then visMu.
	commitMu sync.Mutex
	// INVARIANT: nextTs is greater than every ts assigned; ts are assigned
	// in order and never reused.
	nextTs uint64
	// pending holds queued requests in ts order; leading says whether a
	// leader is running (it will take pending).
	pending   []*commitReq
	spare     []*commitReq
	leading   bool
	lastGroup int
	closed    bool
	oracle    *oracle

	// Leader-owned scratch, reused across groups (only the leader touches
	// them, and there is one leader at a time).
	walRecs  []wal.Record
	applyBuf []interfaces.Entry

	// visible is the highest ts whose commit (and every earlier one) has
	// been applied to the engine; reads at it are consistent.
	visible atomic.Uint64
	visMu   sync.Mutex
	visCond *sync.Cond
	visWait atomic.Int32

	// failed holds the first write-path error; once set, the DB refuses
	// writes until reopened.
	failed atomic.Pointer[error]

	readers *readers
	locks   *lockmgr.Manager
	txnIDs  atomic.Uint64
	metrics *metrics

	dedupPool sync.Pool

	bg         sync.WaitGroup
	stop       chan struct{}
	checkpoint chan struct{}
	discardMu  sync.Mutex
	lastDisc   atomic.Uint64
	closeOnce  sync.Once
	closeErr   error
}

// Open opens (or creates) the database in dir with opts. It locks the
// directory, checks the identity file against the options, opens the
// engine, replays the WAL above the engine's durable ts, and starts the
// background work (interval syncs, checkpoints, garbage collection).
func Open(dir string, opts Options) (_ *DB, err error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, span := opts.TracerProvider.Tracer(tracerName).Start(context.Background(), "lightning.open",
		trace.WithAttributes(attribute.String("dir", dir), attribute.String("engine", opts.StorageName)))
	defer func() {
		if err != nil {
			span.RecordError(err)
		}
		span.End()
	}()
	_ = ctx

	fsys := opts.FS
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("core: create %s: %w", dir, err)
	}
	if parent := filepath.Dir(filepath.Clean(dir)); parent != dir {
		if err := fsys.SyncDir(parent); err != nil {
			return nil, fmt.Errorf("core: sync %s: %w", parent, err)
		}
	}
	lock, err := fsys.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("core: lock %s: %w", dir, err)
	}
	db := &DB{
		opts:       opts,
		dir:        dir,
		fs:         fsys,
		lock:       lock,
		tracer:     opts.TracerProvider.Tracer(tracerName),
		oracle:     newOracle(),
		readers:    newReaders(),
		locks:      lockmgr.New(),
		stop:       make(chan struct{}),
		checkpoint: make(chan struct{}, 1),
	}
	db.visCond = sync.NewCond(&db.visMu)
	db.dedupPool.New = func() any { return newDeduper() }
	defer func() {
		if err != nil {
			db.abandon()
		}
	}()

	id, fresh, err := checkIdentity(&db.opts, dir)
	if err != nil {
		return nil, err
	}
	if fresh {
		if id, err = newIdentity(&db.opts); err != nil {
			return nil, err
		}
		if err := writeIdentity(fsys, dir, id); err != nil {
			return nil, err
		}
	} else if id.get("codec") != codecName(opts.Codec) {
		// The codec may change freely (every record names its own); keep
		// the file true to what writes now.
		id.fields["codec"] = codecName(opts.Codec)
		if err := writeIdentity(fsys, dir, id); err != nil {
			return nil, err
		}
	}

	db.codecs = append([]interfaces.Codec(nil), opts.Codecs...)
	if opts.Codec != nil {
		db.codecs = append(db.codecs, opts.Codec)
	}
	storage, err := opts.Storage(fsys, filepath.Join(dir, engineDir))
	if err != nil {
		// Not kept in db: an opener may return a typed nil with its error.
		return nil, fmt.Errorf("core: open engine %q: %w", opts.StorageName, err)
	}
	db.storage = storage
	if err := checkStorage(db.storage, opts.StorageName); err != nil {
		return nil, err
	}
	db.metrics = newMetrics(db)

	if err := db.recover(); err != nil {
		return nil, err
	}
	if err := db.metrics.register(opts.MeterProvider); err != nil {
		return nil, fmt.Errorf("core: register metrics: %w", err)
	}
	db.startBackground()
	return db, nil
}

// checkStorage verifies that the engine is the one the options name and
// speaks the contract version this core does.
func checkStorage(s interfaces.Storage, name string) error {
	d := s.Describe()
	switch {
	case d.Kind != interfaces.KindStorage:
		return fmt.Errorf("core: engine %q describes itself as a %q part: %w", name, d.Kind, ErrIncompatible)
	case d.ContractVersion != interfaces.StorageContractVersion:
		return fmt.Errorf("core: engine %q speaks storage contract v%d, this core v%d: %w",
			name, d.ContractVersion, interfaces.StorageContractVersion, ErrIncompatible)
	case d.Name != name:
		return fmt.Errorf("core: engine opened as %q describes itself as %q: %w", name, d.Name, ErrIncompatible)
	}
	return nil
}

// abandon releases what a failed Open acquired.
func (db *DB) abandon() {
	if db.log != nil {
		_ = db.log.Close()
	}
	if db.storage != nil {
		_ = db.storage.Close()
	}
	_ = db.lock.Close()
}

// Close stops background work, waits for commits in flight, flushes the
// engine and releases the WAL behind it, closes the WAL (synced) and the
// engine, and releases the directory. Every later call returns ErrClosed.
// A fail-stopped DB is not flushed: the next Open recovers from the WAL.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { db.closeErr = db.close() })
	return db.closeErr
}

func (db *DB) close() error {
	db.commitMu.Lock()
	db.closed = true
	db.commitMu.Unlock()
	// Wait for the pipeline to drain: commits queued before closed was set
	// finish normally.
	for {
		db.commitMu.Lock()
		busy := db.leading
		db.commitMu.Unlock()
		if !busy {
			break
		}
		sleepBrief()
	}
	close(db.stop)
	db.bg.Wait()
	db.notifyVisibleAll()

	var errs []error
	// Flush the engine and release the log behind it, so the directory a
	// closed database leaves holds its data once and the next Open has
	// nothing to replay. A fail-stopped DB skips it: what reached the
	// disk is unknown, and recovery from the log is the way back.
	if db.failed.Load() == nil {
		if err := db.flushEngine(); err != nil && !errors.Is(err, interfaces.ErrUnsupported) {
			errs = append(errs, fmt.Errorf("core: flush at close: %w", err))
		}
	}
	if err := db.log.Close(); err != nil && db.failed.Load() == nil {
		errs = append(errs, fmt.Errorf("core: close WAL: %w", err))
	}
	if err := db.storage.Close(); err != nil {
		errs = append(errs, fmt.Errorf("core: close engine: %w", err))
	}
	if err := db.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("core: unlock: %w", err))
	}
	return errors.Join(errs...)
}

func (db *DB) isClosed() bool {
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	return db.closed
}

// Put writes value under key in a commit of its own.
func (db *DB) Put(key, value []byte) error {
	return db.writeOne(interfaces.KindSet, key, value)
}

// Delete deletes key in a commit of its own. Deleting an absent key is not
// an error.
func (db *DB) Delete(key []byte) error {
	return db.writeOne(interfaces.KindDelete, key, nil)
}

func (db *DB) writeOne(kind interfaces.EntryKind, key, value []byte) error {
	if err := checkKV(key, value); err != nil {
		return err
	}
	r := getReq()
	defer putReq(r)
	b := getSingleBatch()
	defer putSingleBatch(b)
	_ = b.add(kind, key, value)
	r.payload = b.rep
	var err error
	if r.entries, err = decodeBatch(r.entries, b.rep, 0); err != nil {
		return err
	}
	if kind == interfaces.KindSet {
		db.metrics.puts.Add(1)
	} else {
		db.metrics.deletes.Add(1)
	}
	return db.commit(r)
}

var singleBatchPool = sync.Pool{New: func() any {
	return newBatch(limits{maxEntries: 1, maxBytes: 1 << 40})
}}

func getSingleBatch() *Batch  { return singleBatchPool.Get().(*Batch) }
func putSingleBatch(b *Batch) { b.Reset(); singleBatchPool.Put(b) }

// NewBatch returns an empty batch bound by the DB's transaction limits.
func (db *DB) NewBatch() *Batch {
	return newBatch(limits{maxEntries: db.opts.MaxTxnEntries, maxBytes: db.opts.MaxTxnBytes})
}

// Apply commits every write in b atomically, at one ts. An empty batch is a
// no-op. b may be reused (Reset) after Apply returns.
func (db *DB) Apply(b *Batch) error {
	if b.err != nil {
		return b.err
	}
	if b.count == 0 {
		if db.isClosed() {
			return ErrClosed
		}
		return nil
	}
	r := getReq()
	defer putReq(r)
	r.payload = b.rep
	var err error
	if r.entries, err = decodeBatch(r.entries, b.rep, 0); err != nil {
		return err
	}
	d := db.dedupPool.Get().(*deduper)
	r.entries = d.dedup(r.entries)
	db.dedupPool.Put(d)
	db.metrics.batches.Add(1)
	return db.commit(r)
}

// Get returns the value of key, or ErrNotFound. The value is the caller's.
func (db *DB) Get(key []byte) ([]byte, error) {
	if len(key) > interfaces.MaxKeySize {
		return nil, checkKV(key, nil)
	}
	e := db.readers.enterPoint()
	v, _, err := db.storage.Get(key, db.visible.Load())
	db.readers.exitPoint(e)
	db.metrics.gets.Add(1)
	if err != nil {
		if errors.Is(err, interfaces.ErrClosed) && db.isClosed() {
			return nil, ErrClosed
		}
		return nil, err
	}
	return v, nil
}

// Sync makes every commit so far durable (fsyncs the WAL).
func (db *DB) Sync() error {
	if db.isClosed() {
		return ErrClosed
	}
	if p := db.failed.Load(); p != nil {
		return *p
	}
	if err := db.log.Sync(); err != nil {
		return db.failStop(fmt.Errorf("core: WAL sync: %w", err))
	}
	return nil
}

// Flush asks the engine to make everything applied durable in its own
// files, then releases the WAL segments it no longer needs.
func (db *DB) Flush() error {
	if db.isClosed() {
		return ErrClosed
	}
	return db.flushEngine()
}

// Compact asks the engine to compact the keys in [start, end) — nil bounds
// are open — dropping versions no reader needs. It returns
// interfaces.ErrUnsupported when the engine cannot compact. An engine's
// compaction makes what it held in memory durable, so the WAL behind its
// durable ts is released before Compact returns: the space a compaction
// frees is free when it returns, not at the next background tick.
func (db *DB) Compact(start, end []byte) error {
	if db.isClosed() {
		return ErrClosed
	}
	db.advanceDiscard()
	if err := db.storage.Compact(interfaces.KeyRange{Start: start, End: end}); err != nil {
		return err
	}
	durable, err := db.storage.DurableTs()
	if err != nil {
		return fmt.Errorf("core: durable ts after compaction: %w", err)
	}
	return db.sealAndRelease(durable)
}

// Check verifies the engine's on-disk structures and the WAL, returning
// every problem found.
func (db *DB) Check() error {
	if db.isClosed() {
		return ErrClosed
	}
	var errs []error
	if err := db.storage.Check(); err != nil && !errors.Is(err, interfaces.ErrUnsupported) {
		errs = append(errs, err)
	}
	if err := db.log.Check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Storage returns the engine, for tools and tests.
func (db *DB) Storage() interfaces.Storage { return db.storage }

// Dir returns the database directory.
func (db *DB) Dir() string { return db.dir }

// VisibleTs returns the ts of the newest commit visible to new reads.
func (db *DB) VisibleTs() uint64 { return db.visible.Load() }

// notifyVisible wakes goroutines waiting for the visible ts to advance.
func (db *DB) notifyVisible() {
	if db.visWait.Load() > 0 {
		db.notifyVisibleAll()
	}
}

func (db *DB) notifyVisibleAll() {
	db.visMu.Lock()
	db.visCond.Broadcast()
	db.visMu.Unlock()
}

// waitVisible waits until every commit up to ts is visible. It returns
// early with the DB's failure when the DB fail-stops or closes, since ts
// may then never become visible.
func (db *DB) waitVisible(ts uint64) error {
	if db.visible.Load() >= ts {
		return nil
	}
	db.visWait.Add(1)
	defer db.visWait.Add(-1)
	db.visMu.Lock()
	defer db.visMu.Unlock()
	for db.visible.Load() < ts {
		if p := db.failed.Load(); p != nil {
			return *p
		}
		select {
		case <-db.stop:
			return ErrClosed
		default:
		}
		db.visCond.Wait()
	}
	return nil
}
