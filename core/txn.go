package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lightningdb/lightning/core/internal/lockmgr"
	"github.com/lightningdb/lightning/interfaces"
)

// TxnOptions configure a transaction.
type TxnOptions struct {
	// ReadOnly transactions read a snapshot and refuse writes
	// (ErrReadOnly). They never conflict and cost no commit.
	ReadOnly bool
	// Isolation is the level of a read-write transaction; default
	// SnapshotIsolation.
	Isolation Isolation
	// Context bounds lock waits in GetForUpdate; default
	// context.Background().
	Context context.Context
}

// Txn is a transaction: reads see a snapshot taken at Begin (plus the
// transaction's own writes), writes are buffered and become visible
// atomically at Commit, which fails with ErrConflict when the isolation
// level says another transaction got there first. A Txn is used by one
// goroutine at a time. Every Txn must end with Commit or Rollback.
type Txn struct {
	db        *DB
	id        lockmgr.TxnID
	readTs    uint64
	readOnly  bool
	isolation Isolation
	ctx       context.Context
	done      bool

	writes txnWrites
	// reads holds fingerprints of keys read (serializable only).
	reads []uint64
	// ranges holds the key ranges iterated (serializable only).
	ranges []keyRange
	// lockTs maps the fingerprint of a key locked by GetForUpdate to the
	// ts it was read at after the lock was granted: its conflict check
	// starts there, not at readTs.
	lockTs map[uint64]uint64
	locked bool
	iters  int
}

// Begin starts a transaction. A read-write transaction reads at the newest
// assigned ts, waiting for commits in flight below it to become visible, so
// that no commit it cannot see escapes its conflict check.
func (db *DB) Begin(opts TxnOptions) (*Txn, error) {
	t := &Txn{
		db:        db,
		id:        lockmgr.TxnID(db.txnIDs.Add(1)),
		readOnly:  opts.ReadOnly,
		isolation: opts.Isolation,
		ctx:       opts.Context,
	}
	if t.ctx == nil {
		t.ctx = context.Background()
	}
	if t.readOnly {
		db.commitMu.Lock()
		if db.closed {
			db.commitMu.Unlock()
			return nil, ErrClosed
		}
		// One step against the discard ts: see readers.registerVisible.
		t.readTs = db.readers.registerVisible(&db.visible)
		db.commitMu.Unlock()
		return t, nil
	}
	db.commitMu.Lock()
	if db.closed {
		db.commitMu.Unlock()
		return nil, ErrClosed
	}
	t.readTs = db.nextTs - 1
	db.oracle.begin(t.readTs, t.isolation == Serializable)
	db.readers.register(t.readTs)
	db.commitMu.Unlock()
	if err := db.waitVisible(t.readTs); err != nil {
		t.finish()
		return nil, err
	}
	db.metrics.txns.Add(1)
	return t, nil
}

// Update runs fn in a read-write transaction and commits it, or rolls it
// back when fn returns an error (which Update returns). ErrConflict means
// fn's writes were not applied and fn may be retried.
func (db *DB) Update(fn func(*Txn) error) error {
	t, err := db.Begin(TxnOptions{})
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Txn) error) error {
	t, err := db.Begin(TxnOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer t.Rollback()
	return fn(t)
}

// ReadTs returns the ts the transaction reads at.
func (t *Txn) ReadTs() uint64 { return t.readTs }

// Get returns the value of key as the transaction sees it: its own write if
// it made one, else the snapshot's. The value is the caller's.
func (t *Txn) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	if len(key) > interfaces.MaxKeySize {
		return nil, checkKV(key, nil)
	}
	if e := t.writes.get(key); e != nil {
		if e.kind == interfaces.KindDelete {
			return nil, ErrNotFound
		}
		return bytes.Clone(e.value), nil
	}
	if t.isolation == Serializable && !t.readOnly {
		t.reads = append(t.reads, t.db.oracle.fingerprint(key))
	}
	v, _, err := t.db.storage.Get(key, t.readTs)
	t.db.metrics.gets.Add(1)
	return v, err
}

// GetForUpdate locks key for this transaction (waiting for another holder
// up to Options.LockTimeout; ErrDeadlock if waiting would deadlock) and
// returns its newest committed value — newer than the snapshot, if another
// transaction committed it meanwhile. Until Commit or Rollback no other
// GetForUpdate of key proceeds, and the commit conflicts on key only with
// writes made after the lock was granted (by writers that do not lock).
func (t *Txn) GetForUpdate(key []byte) ([]byte, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	if t.readOnly {
		return nil, fmt.Errorf("core: GetForUpdate: %w", ErrReadOnly)
	}
	if len(key) > interfaces.MaxKeySize {
		return nil, checkKV(key, nil)
	}
	db := t.db
	if err := db.locks.Lock(t.ctx, t.id, key, db.opts.LockTimeout); err != nil {
		switch {
		case errors.Is(err, lockmgr.ErrDeadlock):
			db.metrics.deadlocks.Add(1)
		case errors.Is(err, lockmgr.ErrLockTimeout):
			db.metrics.lockTimeouts.Add(1)
		}
		return nil, fmt.Errorf("core: lock %q: %w", truncKey(key), err)
	}
	t.locked = true
	fp := db.oracle.fingerprint(key)
	if _, ok := t.lockTs[fp]; !ok {
		db.commitMu.Lock()
		ts := db.nextTs - 1
		db.commitMu.Unlock()
		if err := db.waitVisible(ts); err != nil {
			return nil, err
		}
		if t.lockTs == nil {
			t.lockTs = make(map[uint64]uint64)
		}
		t.lockTs[fp] = max(ts, t.readTs)
	}
	if e := t.writes.get(key); e != nil {
		if e.kind == interfaces.KindDelete {
			return nil, ErrNotFound
		}
		return bytes.Clone(e.value), nil
	}
	v, _, err := db.storage.Get(key, t.lockTs[fp])
	db.metrics.gets.Add(1)
	return v, err
}

// sinceTs returns the ts after which a commit writing e's key conflicts.
func (t *Txn) sinceTs(e *txnEntry) uint64 {
	if ts, ok := t.lockTs[e.fp]; ok {
		return ts
	}
	return t.readTs
}

// Put buffers a write of value under key.
func (t *Txn) Put(key, value []byte) error {
	return t.write(interfaces.KindSet, key, value)
}

// Delete buffers a deletion of key.
func (t *Txn) Delete(key []byte) error {
	return t.write(interfaces.KindDelete, key, nil)
}

func (t *Txn) write(kind interfaces.EntryKind, key, value []byte) error {
	switch {
	case t.done:
		return ErrTxnDone
	case t.readOnly:
		return ErrReadOnly
	}
	if err := checkKV(key, value); err != nil {
		return err
	}
	l := limits{maxEntries: t.db.opts.MaxTxnEntries, maxBytes: t.db.opts.MaxTxnBytes}
	return t.writes.put(kind, key, value, t.db.oracle.fingerprint(key), l)
}

// Commit makes the transaction's writes visible atomically, durable per the
// sync mode, or returns ErrConflict (nothing written). The transaction is
// over either way.
func (t *Txn) Commit() error {
	if t.done {
		return ErrTxnDone
	}
	defer t.finish()
	if t.readOnly || len(t.writes.entries) == 0 {
		return nil
	}
	r := getReq()
	defer putReq(r)
	r.txn = t
	r.payload = t.writes.payload()
	for i := range t.writes.entries {
		e := &t.writes.entries[i]
		r.entries = append(r.entries, interfaces.Entry{Key: e.key, Kind: e.kind, Value: e.value})
	}
	err := t.db.commit(r)
	if err == nil {
		t.db.metrics.txnCommits.Add(1)
	}
	return err
}

// Rollback discards the transaction. It is a no-op on an ended one, so
// `defer tx.Rollback()` is always safe.
func (t *Txn) Rollback() {
	if t.done {
		return
	}
	t.finish()
}

// finish releases everything the transaction holds.
func (t *Txn) finish() {
	t.done = true
	db := t.db
	if t.locked {
		db.locks.UnlockAll(t.id)
	}
	if !t.readOnly {
		db.commitMu.Lock()
		db.oracle.end(t.readTs, t.isolation == Serializable)
		db.commitMu.Unlock()
	}
	db.readers.unregister(t.readTs)
}

// txnWrites is a transaction's write buffer: one entry per key (a later
// write replaces an earlier one), in first-write order. Keys and values are
// copied into slabs, so buffering costs no allocation per write.
type txnWrites struct {
	index   map[string]int32
	entries []txnEntry
	slab    []byte
	bytes   int64
	// sorted lists entry indexes in key order; valid while sortedN ==
	// len(entries) (only new keys invalidate it).
	sorted  []int32
	sortedN int
}

type txnEntry struct {
	key, value []byte
	kind       interfaces.EntryKind
	fp         uint64
}

const slabSize = 64 << 10

func (w *txnWrites) get(key []byte) *txnEntry {
	if i, ok := w.index[string(key)]; ok {
		return &w.entries[i]
	}
	return nil
}

func (w *txnWrites) put(kind interfaces.EntryKind, key, value []byte, fp uint64, l limits) error {
	size := int64(len(key) + len(value) + 16)
	i, exists := w.index[string(key)]
	if (!exists && len(w.entries)+1 > l.maxEntries) || w.bytes+size > l.maxBytes {
		return fmt.Errorf("core: transaction of %d entries, %d bytes, would pass the limit of %d entries, %d bytes: %w",
			len(w.entries)+1, w.bytes+size, l.maxEntries, l.maxBytes, ErrTxnTooLarge)
	}
	w.bytes += size
	v := w.copy(value)
	if exists {
		e := &w.entries[i]
		e.kind, e.value = kind, v
		return nil
	}
	if w.index == nil {
		w.index = make(map[string]int32)
	}
	k := w.copy(key)
	w.index[string(k)] = int32(len(w.entries))
	w.entries = append(w.entries, txnEntry{key: k, value: v, kind: kind, fp: fp})
	return nil
}

// copy returns a copy of b carved from the slab. Slabs start small and
// double up to slabSize, so a transaction of three writes does not pay for
// 64 KiB.
func (w *txnWrites) copy(b []byte) []byte {
	if len(b) > slabSize/4 {
		return bytes.Clone(b)
	}
	if len(w.slab)+len(b) > cap(w.slab) {
		size := min(max(2*cap(w.slab), 256), slabSize)
		for size < len(b) {
			size *= 2
		}
		w.slab = make([]byte, 0, size)
	}
	start := len(w.slab)
	w.slab = append(w.slab, b...)
	return w.slab[start:len(w.slab):len(w.slab)]
}

// payload encodes the buffer as a batch payload (the WAL record body).
func (w *txnWrites) payload() []byte {
	b := newBatch(limits{maxEntries: len(w.entries), maxBytes: 1 << 40})
	for i := range w.entries {
		e := &w.entries[i]
		_ = b.add(e.kind, e.key, e.value)
	}
	return b.rep
}

// sortedIndex returns the entry indexes in key order.
func (w *txnWrites) sortedIndex() []int32 {
	if w.sortedN == len(w.entries) && w.sorted != nil {
		return w.sorted
	}
	w.sorted = w.sorted[:0]
	for i := range w.entries {
		w.sorted = append(w.sorted, int32(i))
	}
	slices.SortFunc(w.sorted, func(a, b int32) int { return bytes.Compare(w.entries[a].key, w.entries[b].key) })
	w.sortedN = len(w.entries)
	return w.sorted
}

func truncKey(k []byte) []byte {
	if len(k) > 64 {
		return k[:64]
	}
	return k
}

// LockStats describe the lock manager behind GetForUpdate.
type LockStats = lockmgr.Stats

// LockStats returns the lock manager's figures.
func (db *DB) LockStats() LockStats { return db.locks.Stats() }
