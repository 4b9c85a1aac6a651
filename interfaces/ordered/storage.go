package ordered

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// Storage is an interfaces.Storage over a Store. Make one with New.
type Storage struct {
	store     Store
	opts      Options
	sizer     Sizer          // nil when the store does not implement it
	compacter RangeCompacter // nil when the store does not implement it
	snapshots bool           // the store's iterators are point-in-time views

	closed atomic.Bool
	failed atomic.Pointer[failure] // the first Write or Sync error; writes are refused once set

	// INVARIANT: every version in the store whose Apply has returned has
	// ts <= appliedTs, and the store's keyApplied holds a value >= the ts
	// of every version it holds (both are written by one atomic Write).
	appliedTs atomic.Uint64
	// INVARIANT: durableTs <= appliedTs. Unless Ephemeral, every version
	// with ts <= durableTs has been synced, and so has keyDurable holding
	// durableTs.
	durableTs atomic.Uint64
	// discardTs only grows; keyDiscard holds it (durably once synced).
	discardTs atomic.Uint64

	// applyMu serialises Apply (the core already does; this makes a
	// stray concurrent caller safe) and guards the buffers below, which
	// Apply reuses so that a commit group costs no allocation beyond the
	// store's own.
	applyMu    sync.Mutex
	applyArena []byte
	applyOps   []Op

	// flushMu serialises Flush, so that durableTs is written in order.
	flushMu sync.Mutex
	// flushedDiscard is the discard ts the last Flush made durable (or the
	// one read at New). Guarded by flushMu.
	flushedDiscard uint64
	// metaMu serialises the Writes that carry keyDiscard (SetDiscardTs and
	// the garbage-collection batches), so its stored value never goes down.
	metaMu sync.Mutex
	// compactMu allows one Compact at a time.
	compactMu sync.Mutex

	stats counters
}

// failure records why the Storage stopped accepting writes.
type failure struct{ err error }

// counters are the engine-specific figures of Stats, under the names in
// Stats' documentation.
type counters struct {
	applies       atomic.Int64
	entries       atomic.Int64
	gets          atomic.Int64
	iterators     atomic.Int64
	flushes       atomic.Int64
	syncs         atomic.Int64
	compactions   atomic.Int64
	gcDeleted     atomic.Int64
	recoveredDrop atomic.Int64
}

var _ interfaces.Storage = (*Storage)(nil)

// New returns a Storage keeping its versions in store, and takes ownership
// of store: Storage.Close closes it. If New fails, store is left open and
// remains the caller's.
//
// Opening a store that was written before reads its metadata. When the
// previous instance applied versions it never flushed (it crashed, or was
// closed without Flush, over a store that keeps every Write), New deletes
// every version above DurableTs before returning, as the crash contract
// demands. Finding them takes a scan of the whole store — a read of every
// key, and a delete of each stale version — so the cost grows with the
// store, not with the amount lost; a store that was flushed before Close
// reopens without it.
//
// With Options.Ephemeral, New deletes everything in store instead.
func New(store Store, opts Options) (*Storage, error) {
	if store == nil {
		return nil, fmt.Errorf("lightning/ordered: New: nil store: %w", interfaces.ErrInvalidArgument)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.EnsureDefaults()
	s := &Storage{store: store, opts: opts}
	s.sizer, _ = store.(Sizer)
	s.compacter, _ = store.(RangeCompacter)
	if sn, ok := store.(SnapshotIterators); ok {
		s.snapshots = sn.IteratorsAreSnapshots()
	}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("lightning/ordered: open: %w", err)
	}
	return s, nil
}

// open reads (or creates) the metadata and restores the crash contract.
func (s *Storage) open() error {
	if s.opts.Ephemeral {
		// An ephemeral part starts empty on every open.
		sw := &sweep{s: s, visit: func(sw *sweep, key, _ []byte) error { sw.del(key); return nil }}
		if err := sw.run(); err != nil {
			return fmt.Errorf("empty ephemeral store: %w", err)
		}
		return s.writeRaw([]Op{{Key: keyFormat, Value: []byte(formatValue)}})
	}

	switch v, err := s.store.Get(keyFormat); {
	case err == nil:
		if string(v) != formatValue {
			return fmt.Errorf("store format %q, want %q: %w", v, formatValue, interfaces.ErrIncompatible)
		}
	case errors.Is(err, interfaces.ErrNotFound):
		empty, err := s.storeEmpty()
		if err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("store holds keys this adapter did not write: %w", interfaces.ErrIncompatible)
		}
		// The format key must be durable before any version is, or a crash
		// could leave versions in a store that looks foreign.
		if err := s.writeRaw([]Op{{Key: keyFormat, Value: []byte(formatValue)}}); err != nil {
			return err
		}
		return s.sync()
	default:
		return fmt.Errorf("read format: %w", err)
	}

	durable, err := s.readMetaTs(keyDurable)
	if err != nil {
		return err
	}
	discard, err := s.readMetaTs(keyDiscard)
	if err != nil {
		return err
	}
	applied, err := s.readMetaTs(keyApplied)
	if err != nil {
		return err
	}
	if applied < durable {
		return interfaces.Corruptf("", -1, "ordered: applied ts %d below durable ts %d", applied, durable)
	}
	if applied > durable {
		if err := s.dropAbove(durable); err != nil {
			return fmt.Errorf("drop versions above durable ts %d: %w", durable, err)
		}
	} else if err := s.sync(); err != nil {
		// What the last instance wrote without syncing (a durable ts between
		// Flush's two syncs, a discard ts) is what this one reports: sync it,
		// or a crash of this instance could take DurableTs back down.
		return err
	}
	s.appliedTs.Store(durable)
	s.durableTs.Store(durable)
	s.discardTs.Store(discard)
	s.flushedDiscard = discard
	return nil
}

// dropAbove deletes every version with ts > durable: what a previous
// instance applied but never flushed. The deletes are synced before
// keyApplied is lowered, so a crash in the middle leaves applied > durable
// and the next open simply starts over.
func (s *Storage) dropAbove(durable uint64) error {
	sw := &sweep{s: s, lower: versionSpaceStart, visit: func(sw *sweep, key, _ []byte) error {
		_, ts, ok := splitVersionKey(key)
		if !ok {
			return corruptKey(key, "malformed version key", errBadKey)
		}
		if ts > durable {
			sw.del(key)
		}
		return nil
	}}
	if err := sw.run(); err != nil {
		return err
	}
	s.stats.recoveredDrop.Add(sw.deleted)
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.writeRaw([]Op{{Key: keyApplied, Value: appendMetaTs(nil, durable)}}); err != nil {
		return err
	}
	return s.sync()
}

// errBadKey is the cause of a corruption report for a store key that is
// neither metadata nor a version key.
var errBadKey = errors.New("bad key")

// storeEmpty reports whether the store holds no key at all.
func (s *Storage) storeEmpty() (bool, error) {
	it, err := s.store.NewIterator(nil, nil)
	if err != nil {
		return false, fmt.Errorf("iterator: %w", err)
	}
	found := it.First()
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("iterator: %w", err)
	}
	return !found, nil
}

func (s *Storage) readMetaTs(key []byte) (uint64, error) {
	v, err := s.store.Get(key)
	if errors.Is(err, interfaces.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read metadata %q: %w", key[len(metaPrefix):], err)
	}
	return decodeMetaTs(key, v)
}

// writeRaw writes ops to the store and fail-stops the Storage if that
// fails: after a failed write the adapter can no longer vouch for what the
// store holds.
func (s *Storage) writeRaw(ops []Op) error {
	if err := s.store.Write(ops); err != nil {
		s.failed.CompareAndSwap(nil, &failure{err})
		return fmt.Errorf("store write: %w", err)
	}
	return nil
}

// sync syncs the store, fail-stopping on error: a later Sync that succeeds
// proves nothing about the writes the failed one covered.
func (s *Storage) sync() error {
	if s.opts.Ephemeral {
		return nil
	}
	s.stats.syncs.Add(1)
	if err := s.store.Sync(); err != nil {
		s.failed.CompareAndSwap(nil, &failure{err})
		return fmt.Errorf("store sync: %w", err)
	}
	return nil
}

// checkWritable returns the error for a write operation op on a closed or
// fail-stopped Storage, or nil.
func (s *Storage) checkWritable(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("lightning/ordered: %s: %w", op, interfaces.ErrClosed)
	}
	if f := s.failed.Load(); f != nil {
		return fmt.Errorf("lightning/ordered: %s: %w (after: %v)", op, interfaces.ErrFailStopped, f.err)
	}
	return nil
}

func (s *Storage) checkOpen(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("lightning/ordered: %s: %w", op, interfaces.ErrClosed)
	}
	return nil
}

// Describe reports the Options' name and version. The Storage claims
// CapDiscard, CapCompact and CapCheck, and CapDurable unless
// Options.Ephemeral.
func (s *Storage) Describe() interfaces.Descriptor {
	caps := []interfaces.Capability{interfaces.CapDiscard, interfaces.CapCompact, interfaces.CapCheck}
	if !s.opts.Ephemeral {
		caps = append([]interfaces.Capability{interfaces.CapDurable}, caps...)
	}
	return interfaces.Descriptor{
		Kind:            interfaces.KindStorage,
		Name:            s.opts.Name,
		Version:         s.opts.Version,
		ContractVersion: interfaces.StorageContractVersion,
		Capabilities:    caps,
	}
}

// Apply writes entries as one atomic Store.Write, together with the new
// applied ts. Entries breaking the contract's preconditions (ts 0 or not
// above the last applied ts, decreasing ts, an unknown kind, a key or value
// over the limits) fail the whole call with ErrInvalidArgument.
func (s *Storage) Apply(entries []interfaces.Entry) error {
	if err := s.checkWritable("apply"); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.checkWritable("apply"); err != nil {
		return err
	}

	prev := s.appliedTs.Load()
	size := len(keyApplied) + 8
	for i := range entries {
		e := &entries[i]
		switch {
		case len(e.Key) > interfaces.MaxKeySize:
			return fmt.Errorf("lightning/ordered: apply: key of %d bytes: %w", len(e.Key), interfaces.ErrInvalidArgument)
		case len(e.Value) > interfaces.MaxValueSize:
			return fmt.Errorf("lightning/ordered: apply: value of %d bytes: %w", len(e.Value), interfaces.ErrInvalidArgument)
		case e.Kind != interfaces.KindSet && e.Kind != interfaces.KindDelete:
			return fmt.Errorf("lightning/ordered: apply: entry kind %d: %w", e.Kind, interfaces.ErrInvalidArgument)
		case e.Ts == 0:
			return fmt.Errorf("lightning/ordered: apply: ts 0: %w", interfaces.ErrInvalidArgument)
		case i == 0 && e.Ts <= prev:
			return fmt.Errorf("lightning/ordered: apply: ts %d not above applied ts %d: %w", e.Ts, prev, interfaces.ErrInvalidArgument)
		case e.Ts < prev:
			return fmt.Errorf("lightning/ordered: apply: ts %d after ts %d: %w", e.Ts, prev, interfaces.ErrInvalidArgument)
		}
		prev = e.Ts
		// Escaping at most doubles a key.
		size += 2*len(e.Key) + versionTrailer + 1 + len(e.Value)
	}

	// One arena holds every key and value of the Write; it is sized up
	// front so that the slices handed to the store never move.
	arena := s.applyArena[:0]
	if cap(arena) < size {
		arena = make([]byte, 0, size)
	}
	ops := s.applyOps[:0]
	for i := range entries {
		e := &entries[i]
		k := len(arena)
		arena = interfaces.AppendVersionKey(arena, e.Key, e.Ts)
		v := len(arena)
		arena = appendValue(arena, e.Kind, e.Value)
		ops = append(ops, Op{Key: arena[k:v:v], Value: arena[v:len(arena):len(arena)]})
	}
	maxTs := entries[len(entries)-1].Ts
	m := len(arena)
	arena = appendMetaTs(arena, maxTs)
	ops = append(ops, Op{Key: keyApplied, Value: arena[m:]})

	err := s.writeRaw(ops)

	// Keep the buffers for the next commit group, unless one huge group
	// would pin its memory for the life of the Storage.
	clear(ops)
	if cap(arena) > 1<<20 {
		s.applyArena, s.applyOps = nil, nil
	} else {
		s.applyArena, s.applyOps = arena[:0], ops[:0]
	}
	if err != nil {
		return fmt.Errorf("lightning/ordered: apply: %w", err)
	}
	s.appliedTs.Store(maxTs)
	s.stats.applies.Add(1)
	s.stats.entries.Add(int64(len(entries)))
	return nil
}

// Get finds the newest version of key at or below readTs with one seek: the
// version key of (key, readTs) sorts just before that version.
func (s *Storage) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if err := s.checkOpen("get"); err != nil {
		return nil, 0, err
	}
	s.stats.gets.Add(1)
	if readTs == 0 {
		return nil, 0, interfaces.ErrNotFound
	}
	buf := make([]byte, 0, 2*(2*len(key)+versionTrailer))
	seek := interfaces.AppendVersionKey(buf, key, readTs)
	end := interfaces.AppendUserKeyEnd(seek[len(seek):], key)
	user := seek[:len(seek)-8]

	it, err := s.store.NewIterator(seek, end)
	if err != nil {
		return nil, 0, fmt.Errorf("lightning/ordered: get: %w", err)
	}
	value, ts, err := getAt(it, seek, user)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("lightning/ordered: get: %w", cerr)
	}
	if err != nil {
		return nil, 0, err
	}
	return value, ts, nil
}

func getAt(it StoreIterator, seek, user []byte) ([]byte, uint64, error) {
	if !it.SeekGE(seek) {
		if err := it.Err(); err != nil {
			return nil, 0, fmt.Errorf("lightning/ordered: get: %w", err)
		}
		return nil, 0, interfaces.ErrNotFound
	}
	k := it.Key()
	gotUser, ts, ok := splitVersionKey(k)
	if !ok {
		if bytes.HasPrefix(k, user) {
			return nil, 0, corruptKey(k, "malformed version key", errBadKey)
		}
		return nil, 0, interfaces.ErrNotFound
	}
	if !bytes.Equal(gotUser, user) {
		return nil, 0, interfaces.ErrNotFound
	}
	kind, v, err := decodeValue(it.Value())
	if err != nil {
		return nil, 0, corruptKey(k, "malformed value", err)
	}
	if kind == interfaces.KindDelete {
		return nil, 0, interfaces.ErrNotFound
	}
	return append([]byte{}, v...), ts, nil
}

// Flush syncs the store, records the applied ts as durable (and the discard
// ts with it), and syncs again. The first sync makes the versions durable before the record that
// vouches for them, so a store that may lose any unsynced Write in a crash
// can never come back with a durable ts above versions it lost.
func (s *Storage) Flush() (uint64, error) {
	if err := s.checkWritable("flush"); err != nil {
		return 0, err
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	d, err := s.flushLocked()
	if err != nil {
		return 0, fmt.Errorf("lightning/ordered: flush: %w", err)
	}
	return d, nil
}

// flushLocked is Flush with flushMu held.
func (s *Storage) flushLocked() (uint64, error) {
	if f := s.failed.Load(); f != nil {
		return 0, fmt.Errorf("%w (after: %v)", interfaces.ErrFailStopped, f.err)
	}
	applied, discard := s.appliedTs.Load(), s.discardTs.Load()
	if applied == s.durableTs.Load() && discard == s.flushedDiscard {
		return applied, nil
	}
	s.stats.flushes.Add(1)
	if !s.opts.Ephemeral {
		if err := s.sync(); err != nil {
			return 0, err
		}
		// The discard ts rides along, so a Flush makes it durable too.
		s.metaMu.Lock()
		discard = s.discardTs.Load()
		err := s.writeRaw([]Op{
			{Key: keyDurable, Value: appendMetaTs(nil, applied)},
			{Key: keyDiscard, Value: appendMetaTs(nil, discard)},
		})
		s.metaMu.Unlock()
		if err != nil {
			return 0, err
		}
		if err := s.sync(); err != nil {
			return 0, err
		}
	}
	s.flushedDiscard = discard
	s.durableTs.Store(applied)
	return applied, nil
}

// DurableTs returns the ts the last Flush made durable, or the one read
// from the store at New.
func (s *Storage) DurableTs() (uint64, error) {
	if err := s.checkOpen("durable ts"); err != nil {
		return 0, err
	}
	return s.durableTs.Load(), nil
}

// SetDiscardTs records ts (when it raises the discard ts) in the store's
// metadata, without a sync: it is durable after the next Flush (which
// writes it again) or Store.Sync. Compact does the collecting.
func (s *Storage) SetDiscardTs(ts uint64) error {
	if err := s.checkWritable("set discard ts"); err != nil {
		return err
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if ts <= s.discardTs.Load() {
		return nil
	}
	if err := s.writeRaw([]Op{{Key: keyDiscard, Value: appendMetaTs(nil, ts)}}); err != nil {
		return fmt.Errorf("lightning/ordered: set discard ts: %w", err)
	}
	s.discardTs.Store(ts)
	return nil
}

// Stats reports the timestamps, the store's sizes when it is a Sizer, and
// these counters in Metrics:
//
//	ordered.applies            Apply calls that wrote
//	ordered.entries            entries applied
//	ordered.gets               Get calls
//	ordered.iterators          iterators opened
//	ordered.flushes            Flush calls that had something to flush
//	ordered.syncs              Store.Sync calls
//	ordered.compactions        Compact calls that completed
//	ordered.gc_deleted         versions deleted by garbage collection
//	ordered.recovery_deleted   versions above DurableTs deleted at open
func (s *Storage) Stats() (interfaces.StorageStats, error) {
	if err := s.checkOpen("stats"); err != nil {
		return interfaces.StorageStats{}, err
	}
	st := interfaces.StorageStats{
		AppliedTs: s.appliedTs.Load(),
		DurableTs: s.durableTs.Load(),
		DiscardTs: s.discardTs.Load(),
		Metrics: map[string]int64{
			"ordered.applies":          s.stats.applies.Load(),
			"ordered.entries":          s.stats.entries.Load(),
			"ordered.gets":             s.stats.gets.Load(),
			"ordered.iterators":        s.stats.iterators.Load(),
			"ordered.flushes":          s.stats.flushes.Load(),
			"ordered.syncs":            s.stats.syncs.Load(),
			"ordered.compactions":      s.stats.compactions.Load(),
			"ordered.gc_deleted":       s.stats.gcDeleted.Load(),
			"ordered.recovery_deleted": s.stats.recoveredDrop.Load(),
		},
	}
	if s.sizer != nil {
		disk, mem, err := s.sizer.Size()
		if err != nil {
			return interfaces.StorageStats{}, fmt.Errorf("lightning/ordered: stats: %w", err)
		}
		st.DiskBytes, st.MemBytes = disk, mem
	}
	return st, nil
}

// Close closes the store. It does not flush: versions above DurableTs are
// deleted by the next New.
func (s *Storage) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("lightning/ordered: close: %w", interfaces.ErrClosed)
	}
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("lightning/ordered: close: %w", err)
	}
	return nil
}
