package core

import (
	"bytes"
	"errors"
	"sort"

	"github.com/lightningdb/lightning/interfaces"
)

// IterOptions select what an Iterator visits.
type IterOptions struct {
	// LowerBound, when set, is the smallest key visited (inclusive).
	LowerBound []byte
	// UpperBound, when set, is the first key not visited (exclusive).
	UpperBound []byte
	// Prefix, when set, restricts the iterator to keys that start with it
	// (together with the bounds). Engines use it to skip files.
	Prefix []byte
	// Reverse turns the iterator around: First goes to the largest key,
	// Next moves to smaller keys, Seek finds the last key <= its argument,
	// and SeekLT the first key > it.
	Reverse bool
}

// Iterator walks keys in order at one read ts: a DB iterator at the
// visible ts when it was made, a transaction's at the transaction's
// snapshot merged with its own writes. Key and Value are valid until the
// next call that moves the iterator; copy what you keep. An Iterator is used
// by one goroutine at a time and must be closed.
//
// An iterator may move in both directions; the engine's iterators move in
// one, so the first step against the current direction reopens one (a
// Seek's worth of work).
type Iterator struct {
	db       *DB
	readTs   uint64
	txn      *Txn
	reverse  bool
	lower    []byte
	upper    []byte
	prefix   []byte
	register bool

	fwd, rev interfaces.Iterator
	dir      int8 // +1 forward, -1 reverse, 0 not positioned

	// step, when non-nil, is the engine iterator Next may move alone: the
	// iterator is valid at step's position, merges no buffered writes, and
	// last moved in Next's direction, so Next is step.Next and nothing
	// else (the path every scan spends its time in). settle sets it; every
	// other change of position or state clears it.
	// INVARIANT: step != nil implies valid, txn == nil, err == nil, !closed,
	// and step is the source of the current key.
	step interfaces.Iterator
	// stepKV is step's NextKV, when the engine iterator offers it (see
	// interfaces.KVStepper); nil otherwise.
	stepKV interfaces.KVStepper

	// buffer holds the transaction's writes within the bounds, in key
	// order (indexes into txn.writes.entries); bpos is the buffer cursor.
	buffer []int32
	bpos   int

	key, value []byte
	valid      bool
	// fromStore and fromBuf say which sources sit at the current key.
	fromStore, fromBuf bool
	err                error
	closed             bool
}

// NewIterator returns an iterator over the newest committed state.
func (db *DB) NewIterator(opts IterOptions) (*Iterator, error) {
	db.commitMu.Lock()
	if db.closed {
		db.commitMu.Unlock()
		return nil, ErrClosed
	}
	ts := db.readers.registerVisible(&db.visible)
	db.commitMu.Unlock()
	it := newIterator(db, ts, nil, opts)
	it.register = true
	db.metrics.iterators.Add(1)
	return it, nil
}

// NewIterator returns an iterator over the transaction's snapshot merged
// with its own writes so far. Under serializable isolation the iterator's
// key range counts as read: a commit into it by another transaction makes
// this one's commit conflict.
func (t *Txn) NewIterator(opts IterOptions) (*Iterator, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	it := newIterator(t.db, t.readTs, t, opts)
	if t.isolation == Serializable && !t.readOnly {
		t.ranges = append(t.ranges, keyRange{start: bytes.Clone(it.lower), end: bytes.Clone(it.upper)})
	}
	idx := t.writes.sortedIndex()
	for _, i := range idx {
		if it.inBounds(t.writes.entries[i].key) {
			it.buffer = append(it.buffer, i)
		}
	}
	t.iters++
	t.db.metrics.iterators.Add(1)
	return it, nil
}

func newIterator(db *DB, readTs uint64, txn *Txn, opts IterOptions) *Iterator {
	it := &Iterator{db: db, readTs: readTs, txn: txn, reverse: opts.Reverse}
	it.lower = opts.LowerBound
	it.upper = opts.UpperBound
	if p := opts.Prefix; p != nil {
		it.prefix = bytes.Clone(p)
		if it.lower == nil || bytes.Compare(p, it.lower) > 0 {
			it.lower = p
		}
		if end := prefixEnd(p); end != nil && (it.upper == nil || bytes.Compare(end, it.upper) < 0) {
			it.upper = end
		}
	}
	it.lower = bytes.Clone(it.lower)
	it.upper = bytes.Clone(it.upper)
	return it
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil when there is none (p is all 0xFF).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (it *Iterator) inBounds(k []byte) bool {
	return (it.lower == nil || bytes.Compare(k, it.lower) >= 0) &&
		(it.upper == nil || bytes.Compare(k, it.upper) < 0) &&
		(it.prefix == nil || bytes.HasPrefix(k, it.prefix))
}

// First moves to the first key (the largest with Reverse).
func (it *Iterator) First() bool {
	if it.reverse {
		return it.last()
	}
	return it.first()
}

// Last moves to the last key (the smallest with Reverse).
func (it *Iterator) Last() bool {
	if it.reverse {
		return it.first()
	}
	return it.last()
}

// Seek moves to the first key >= key (with Reverse: the last key <= key).
func (it *Iterator) Seek(key []byte) bool {
	if it.reverse {
		return it.seekLE(key)
	}
	return it.seekGE(key)
}

// SeekLT moves to the last key < key (with Reverse: the first key > key).
func (it *Iterator) SeekLT(key []byte) bool {
	if it.reverse {
		return it.seekGT(key)
	}
	return it.seekLT(key)
}

// Next moves to the next key (the next smaller with Reverse).
func (it *Iterator) Next() bool {
	if kv := it.stepKV; kv != nil {
		k, v, ok := kv.NextKV()
		if ok {
			it.key, it.value = k, v
			return true
		}
		return it.stepEnd(it.step)
	}
	if s := it.step; s != nil {
		if s.Next() {
			it.key, it.value = s.Key(), s.Value()
			return true
		}
		return it.stepEnd(s)
	}
	if it.reverse {
		return it.prev()
	}
	return it.next()
}

// stepEnd finishes a Next on the fast path whose source ran out: the
// iterator is exhausted, or failed with the source's error.
func (it *Iterator) stepEnd(s interfaces.Iterator) bool {
	it.step, it.stepKV = nil, nil
	if err := s.Err(); err != nil {
		return it.fail(err)
	}
	it.valid = false
	it.fromStore, it.fromBuf = false, false
	return false
}

// Prev moves to the previous key (the next larger with Reverse).
func (it *Iterator) Prev() bool {
	if it.reverse {
		return it.next()
	}
	return it.prev()
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.valid }

// Key returns the current key.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current value.
func (it *Iterator) Value() []byte { return it.value }

// Err returns the error that stopped the iterator, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator and returns Err.
func (it *Iterator) Close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	it.valid = false
	it.step, it.stepKV = nil, nil
	for _, s := range []interfaces.Iterator{it.fwd, it.rev} {
		if s != nil {
			if err := s.Close(); err != nil && it.err == nil && !errors.Is(err, interfaces.ErrClosed) {
				it.err = err
			}
		}
	}
	if it.register {
		it.db.readers.unregister(it.readTs)
	}
	if it.txn != nil {
		it.txn.iters--
	}
	return it.err
}

// store returns the engine iterator for direction dir, opening it on first
// use.
func (it *Iterator) store(dir int8) interfaces.Iterator {
	p := &it.fwd
	if dir < 0 {
		p = &it.rev
	}
	if *p == nil && it.err == nil {
		s, err := it.db.storage.NewIterator(interfaces.IterOptions{
			ReadTs:     it.readTs,
			LowerBound: it.lower,
			UpperBound: it.upper,
			Prefix:     it.prefix,
			Reverse:    dir < 0,
		})
		if err != nil {
			it.fail(err)
			return nil
		}
		*p = s
	}
	return *p
}

func (it *Iterator) fail(err error) bool {
	if errors.Is(err, interfaces.ErrClosed) && it.db.isClosed() {
		err = ErrClosed
	}
	it.err = err
	it.valid = false
	it.step, it.stepKV = nil, nil
	return false
}

func (it *Iterator) usable() bool {
	if it.closed {
		it.err = ErrClosed
		return false
	}
	if it.txn != nil && it.txn.done {
		return it.fail(ErrTxnDone)
	}
	return it.err == nil
}

func (it *Iterator) bufKey(i int) []byte { return it.txn.writes.entries[it.buffer[i]].key }

// bufSearch returns the index of the first buffered key >= key (strict:
// > key).
func (it *Iterator) bufSearch(key []byte, strict bool) int {
	return sort.Search(len(it.buffer), func(i int) bool {
		c := bytes.Compare(it.bufKey(i), key)
		return c > 0 || (!strict && c == 0)
	})
}

func (it *Iterator) first() bool {
	if !it.usable() {
		return false
	}
	s := it.store(1)
	if s == nil {
		return false
	}
	s.First()
	it.bpos = 0
	it.dir = 1
	return it.settle()
}

func (it *Iterator) last() bool {
	if !it.usable() {
		return false
	}
	s := it.store(-1)
	if s == nil {
		return false
	}
	s.First()
	it.bpos = len(it.buffer) - 1
	it.dir = -1
	return it.settle()
}

func (it *Iterator) seekGE(key []byte) bool {
	if !it.usable() {
		return false
	}
	s := it.store(1)
	if s == nil {
		return false
	}
	s.Seek(key)
	it.bpos = it.bufSearch(key, false)
	it.dir = 1
	return it.settle()
}

func (it *Iterator) seekGT(key []byte) bool {
	if !it.usable() {
		return false
	}
	s := it.store(1)
	if s == nil {
		return false
	}
	if s.Seek(key) && bytes.Equal(s.Key(), key) {
		s.Next()
	}
	it.bpos = it.bufSearch(key, true)
	it.dir = 1
	return it.settle()
}

func (it *Iterator) seekLE(key []byte) bool {
	if !it.usable() {
		return false
	}
	s := it.store(-1)
	if s == nil {
		return false
	}
	s.Seek(key)
	it.bpos = it.bufSearch(key, true) - 1
	it.dir = -1
	return it.settle()
}

func (it *Iterator) seekLT(key []byte) bool {
	if !it.usable() {
		return false
	}
	s := it.store(-1)
	if s == nil {
		return false
	}
	if s.Seek(key) && bytes.Equal(s.Key(), key) {
		s.Next()
	}
	it.bpos = it.bufSearch(key, false) - 1
	it.dir = -1
	return it.settle()
}

func (it *Iterator) next() bool {
	if !it.usable() {
		return false
	}
	switch {
	case !it.valid && it.dir <= 0:
		// Not positioned, or run off the start going backwards: start
		// over from the first key.
		return it.first()
	case !it.valid:
		return false
	case it.dir < 0:
		return it.seekGT(bytes.Clone(it.key))
	}
	it.advance()
	return it.settle()
}

func (it *Iterator) prev() bool {
	if !it.usable() {
		return false
	}
	switch {
	case !it.valid && it.dir >= 0:
		return it.last()
	case !it.valid:
		return false
	case it.dir > 0:
		return it.seekLT(bytes.Clone(it.key))
	}
	it.advance()
	return it.settle()
}

// advance steps every source that sits at the current key.
func (it *Iterator) advance() {
	if it.fromStore {
		it.store(it.dir).Next()
	}
	if it.fromBuf {
		it.bpos += int(it.dir)
	}
}

// settle makes the current key the nearer of the engine's and the buffer's
// next keys in the current direction; the buffer wins a tie, and a buffered
// deletion hides the key.
func (it *Iterator) settle() bool {
	it.step, it.stepKV = nil, nil
	s := it.store(it.dir)
	if s == nil {
		return false
	}
	for {
		sValid := s.Valid()
		if !sValid {
			if err := s.Err(); err != nil {
				return it.fail(err)
			}
		}
		bValid := it.bpos >= 0 && it.bpos < len(it.buffer)
		if !sValid && !bValid {
			it.valid = false
			it.fromStore, it.fromBuf = false, false
			return false
		}
		c := 0
		switch {
		case !bValid:
			c = -1
		case !sValid:
			c = 1
		default:
			c = bytes.Compare(s.Key(), it.bufKey(it.bpos))
			if it.dir < 0 {
				c = -c
			}
		}
		it.fromStore, it.fromBuf = c <= 0, c >= 0
		if !it.fromBuf {
			it.key, it.value, it.valid = s.Key(), s.Value(), true
			if it.txn == nil && (it.dir > 0) != it.reverse {
				it.step = s
				it.stepKV, _ = s.(interfaces.KVStepper)
			}
			return true
		}
		e := &it.txn.writes.entries[it.buffer[it.bpos]]
		if e.kind == interfaces.KindDelete {
			it.advance()
			continue
		}
		it.key, it.value, it.valid = e.key, e.value, true
		return true
	}
}
