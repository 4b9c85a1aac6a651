package core

import (
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// Snapshot is a consistent read-only view of the DB at the ts it was taken:
// later commits are invisible to it, and the versions it can see are kept
// from garbage collection until it is closed. It is safe for concurrent use.
type Snapshot struct {
	db     *DB
	ts     uint64
	closed atomic.Bool
}

// Snapshot returns a view of the newest committed state. Close it.
func (db *DB) Snapshot() (*Snapshot, error) {
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	// Loaded and registered as one step against the discard ts: the
	// visible ts moves on without commitMu (see readers.registerVisible).
	ts := db.readers.registerVisible(&db.visible)
	return &Snapshot{db: db, ts: ts}, nil
}

// Ts returns the snapshot's read ts.
func (s *Snapshot) Ts() uint64 { return s.ts }

// Get returns the value of key as of the snapshot.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(key) > interfaces.MaxKeySize {
		return nil, checkKV(key, nil)
	}
	v, _, err := s.db.storage.Get(key, s.ts)
	s.db.metrics.gets.Add(1)
	return v, err
}

// NewIterator returns an iterator over the snapshot.
func (s *Snapshot) NewIterator(opts IterOptions) (*Iterator, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.db.readers.register(s.ts)
	it := newIterator(s.db, s.ts, nil, opts)
	it.register = true
	s.db.metrics.iterators.Add(1)
	return it, nil
}

// Close releases the snapshot. Iterators made from it stay usable until
// they are closed.
func (s *Snapshot) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	s.db.readers.unregister(s.ts)
	return nil
}
