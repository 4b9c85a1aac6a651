package lsm

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
)

// Trailers that bound a user key's versions: every version of key sorts
// after (key, trailerMax) and before (key, trailerMin).
const (
	trailerMax = base.Trailer(math.MaxUint64)
	trailerMin = base.Trailer(0)
)

// skipSteps is how many entries of one user key an iterator steps over
// one by one before it seeks past them instead: a seek costs a few steps,
// so this bounds the cost of keys with many versions.
const skipSteps = 8

// NewIterator returns an iterator over the versions opts selects, a stable
// snapshot at min(opts.ReadTs, the applied ts): it pins the current
// memtables and version, so Apply, flushes and compactions never disturb
// it. Prefix is turned into bounds; tables outside the bounds are never
// opened, and no table is opened before a positioning call reaches it.
//
// The iterator's machinery — memtable and level iterators with their
// block buffers, the merging heap, the bounds and key copies — comes from
// a pool and goes back at Close, so NewIterator and Close allocate only
// the small handle.
func (e *Engine) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if err := e.checkOpen("new iterator"); err != nil {
		return nil, err
	}
	snap := min(opts.ReadTs, e.appliedTs.Load())
	it := &dbIter{
		snapTs:  snap,
		reverse: opts.Reverse,
		all:     opts.AllVersions,
	}
	b := iterBufsPool.Get().(*iterBufs)
	// The bounds are the caller's to reuse: keep copies.
	it.lower, it.upper, it.empty = effectiveBounds(opts, b.lowerBuf[:0], b.upperBuf[:0])
	b.lowerBuf, b.upperBuf = keepBuf(b.lowerBuf, it.lower), keepBuf(b.upperBuf, it.upper)
	if it.empty || snap == 0 {
		// No version has ts 0: nothing is visible.
		it.empty = true
		it.lower, it.upper = nil, nil
		iterBufsPool.Put(b)
		return it, nil
	}
	it.b = b
	rs := e.acquireReadState()
	it.rs = rs
	v := rs.v

	// Pick the sources first, so the slices are sized once. An empty
	// memtable stays empty below the snapshot (an Apply adding to it now
	// has a ts above the applied ts read above), so it is skipped; but an
	// Apply may fill it at any moment, so emptiness is read once, here:
	// counting and then asking again would disagree.
	mems := b.memSrc[:0]
	for _, m := range rs.mems {
		if !m.empty() {
			mems = append(mems, m)
		}
	}
	b.memSrc = mems
	nMems := len(mems)
	nLevels := 0
	for _, f := range v.levels[0] {
		if f.minTs <= snap && overlapsBounds(f, it.lower, it.upper) {
			nLevels++
		}
	}
	for l := 1; l < NumLevels; l++ {
		if len(v.levels[l]) > 0 {
			nLevels++
		}
	}
	b.mems = resize(b.mems, nMems)
	b.levels = resize(b.levels, nLevels)
	iters := resize(b.iters, nMems+nLevels)[:0]
	for j, m := range mems {
		b.mems[j].Init(m.skl)
		iters = append(iters, &b.mems[j])
	}
	clear(mems)
	topts := sstable.IterOptions{LowerBound: it.lower, UpperBound: it.upper}
	j := 0
	for i, f := range v.levels[0] {
		if f.minTs <= snap && overlapsBounds(f, it.lower, it.upper) {
			// A one-table level: the version's own slice, so nothing is
			// allocated.
			b.levels[j].init(e.tc, v.levels[0][i:i+1:i+1], topts)
			iters = append(iters, &b.levels[j])
			j++
		}
	}
	for l := 1; l < NumLevels; l++ {
		if len(v.levels[l]) == 0 {
			continue
		}
		files := v.levels[l]
		if it.lower != nil || it.upper != nil {
			files = v.overlapping(l, it.lower, it.upper)
		}
		b.levels[j].init(e.tc, files, topts)
		iters = append(iters, &b.levels[j])
		j++
	}
	b.iters = iters
	b.merge.init(iters)
	it.merge = &b.merge
	it.keyBuf, it.valBuf = b.keyBuf[:0], b.valBuf[:0]
	return it, nil
}

// iterBufs is the reusable part of a dbIter, pooled across iterators.
// Between uses it holds no reference to a table, memtable or version.
type iterBufs struct {
	// memSrc is scratch for picking the memtables to read (cleared once
	// they are picked).
	memSrc []*memTable
	mems   []arenaskl.Iterator
	levels []levelIter
	iters  []base.InternalIterator
	merge  mergingIter
	// lowerBuf and upperBuf hold the copies of the bounds; keyBuf and
	// valBuf are dbIter's.
	lowerBuf, upperBuf []byte
	keyBuf, valBuf     []byte
}

var iterBufsPool = sync.Pool{New: func() any { return new(iterBufs) }}

// maxPooledIterBuf bounds the key and value buffers an iterator returns to
// the pool, so one huge value does not stay pinned.
const maxPooledIterBuf = 64 << 10

// release drops every reference the buffers hold into the engine and
// returns them to the pool.
func (b *iterBufs) release(keyBuf, valBuf []byte) {
	clear(b.mems)
	for i := range b.levels {
		b.levels[i].reset()
	}
	clear(b.iters)
	b.keyBuf, b.valBuf = keepBuf(b.keyBuf, keyBuf), keepBuf(b.valBuf, valBuf)
	if cap(b.keyBuf) > maxPooledIterBuf {
		b.keyBuf = nil
	}
	if cap(b.valBuf) > maxPooledIterBuf {
		b.valBuf = nil
	}
	iterBufsPool.Put(b)
}

// keepBuf returns the larger-capacity of a pooled buffer and the slice that
// was built on it (which may have reallocated), so growth is kept.
func keepBuf(pooled, used []byte) []byte {
	if cap(used) > cap(pooled) {
		return used[:0]
	}
	return pooled[:0]
}

// resize returns s with length n, reusing its array when it is large
// enough. Elements past the old length keep what they held (reset values
// or zero), which init overwrites.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/2)
	}
	return s[:n]
}

// effectiveBounds folds the prefix into the bounds and copies them into
// lowerBuf and upperBuf (appending; nil buffers work): the keys with prefix
// p are exactly [p, succ(p)), where succ(p) drops trailing 0xff bytes and
// increments the last byte left (none left: no upper bound). empty reports
// bounds that admit no key.
func effectiveBounds(opts interfaces.IterOptions, lowerBuf, upperBuf []byte) (lower, upper []byte, empty bool) {
	lower, upper = opts.LowerBound, opts.UpperBound
	copied := false
	if p := opts.Prefix; p != nil {
		if lower == nil || bytes.Compare(p, lower) > 0 {
			lower = p
		}
		if n := prefixSuccessorLen(p); n > 0 {
			succ := append(upperBuf, p[:n]...)
			succ[len(succ)-1]++
			if upper == nil || bytes.Compare(succ, upper) < 0 {
				upper, copied = succ, true
			}
		}
	}
	if lower != nil {
		if len(lower) == 0 {
			// The empty key is the smallest: no bound at all.
			lower = nil
		} else {
			lower = append(lowerBuf, lower...)
		}
	}
	if upper != nil && !copied {
		if len(upper) == 0 {
			// An empty upper bound admits nothing.
			return lower, []byte{}, true
		}
		upper = append(upperBuf, upper...)
	}
	if upper != nil && lower != nil && bytes.Compare(lower, upper) >= 0 {
		return lower, upper, true
	}
	return lower, upper, false
}

// prefixSuccessorLen returns the length of prefixSuccessor(p): the index
// after the last byte of p that is not 0xff, 0 when there is none.
func prefixSuccessorLen(p []byte) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			return i + 1
		}
	}
	return 0
}

// prefixSuccessor returns the smallest key greater than every key with
// prefix p, or nil when there is none (p is empty or all 0xff).
func prefixSuccessor(p []byte) []byte {
	n := prefixSuccessorLen(p)
	if n == 0 {
		return nil
	}
	s := append([]byte(nil), p[:n]...)
	s[n-1]++
	return s
}

// overlapsBounds reports whether f may hold user keys in [lower, upper).
func overlapsBounds(f *fileMeta, lower, upper []byte) bool {
	if upper != nil && bytes.Compare(f.smallest.UserKey, upper) >= 0 {
		return false
	}
	if lower != nil && bytes.Compare(f.largest.UserKey, lower) < 0 {
		return false
	}
	return true
}

// dbIter is the engine's interfaces.Iterator: a merging iterator over the
// pinned memtables and tables, with the Storage contract's visibility on
// top — versions above the snapshot ts skipped, each user key collapsed to
// its newest visible version, tombstones hidden (unless AllVersions), and
// the bounds applied exactly.
//
// Going backward, the merged stream meets a key's versions oldest first,
// so the iterator walks all of them to find the newest visible one and
// copies it (key and value) before the stream moves on. Going forward it
// copies only the key, to step past the key's older versions.
type dbIter struct {
	rs      *readState
	snapTs  uint64
	reverse bool
	all     bool
	lower   []byte
	upper   []byte
	empty   bool

	// b holds the pooled machinery while the iterator is open; merge is
	// b's merging iterator.
	b     *iterBufs
	merge *mergingIter

	valid bool
	key   []byte
	ts    uint64
	kind  base.Kind
	value []byte
	// keyBuf and valBuf hold copies of the current key and value where the
	// stream has moved past them.
	keyBuf, valBuf []byte
	err            error
	closed         bool
}

func (it *dbIter) invalidate() bool {
	it.valid = false
	it.key, it.value = nil, nil
	if it.err == nil {
		it.err = it.merge.Error()
	}
	return false
}

// First moves to the smallest key forward, the largest in reverse.
func (it *dbIter) First() bool {
	if it.closed || it.empty {
		return false
	}
	it.err = nil
	if it.reverse {
		if it.upper != nil {
			it.merge.SeekLT(base.InternalKey{UserKey: it.upper, Trailer: trailerMax})
		} else {
			it.merge.Last()
		}
		return it.findBackward()
	}
	if it.lower != nil {
		it.merge.SeekGE(base.InternalKey{UserKey: it.lower, Trailer: trailerMax})
	} else {
		it.merge.First()
	}
	return it.findForward()
}

// Seek moves to the first key >= key forward, the last key <= key in
// reverse (with AllVersions, its oldest visible version), clamped by the
// bounds.
func (it *dbIter) Seek(key []byte) bool {
	if it.closed || it.empty {
		return false
	}
	it.err = nil
	if it.reverse {
		switch {
		case it.lower != nil && bytes.Compare(key, it.lower) < 0:
			return it.invalidate()
		case it.upper != nil && bytes.Compare(key, it.upper) >= 0:
			it.merge.SeekLT(base.InternalKey{UserKey: it.upper, Trailer: trailerMax})
		default:
			it.merge.SeekLT(base.InternalKey{UserKey: key, Trailer: trailerMin})
		}
		return it.findBackward()
	}
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	if it.upper != nil && bytes.Compare(key, it.upper) >= 0 {
		return it.invalidate()
	}
	it.merge.SeekGE(base.InternalKey{UserKey: key, Trailer: trailerMax})
	return it.findForward()
}

// Next moves one step in the iterator's direction.
func (it *dbIter) Next() bool {
	if it.closed || !it.valid {
		return false
	}
	if it.reverse {
		// findBackward left the stream on the entry before the current
		// key's versions (or on the current version's predecessor, with
		// AllVersions).
		if it.all {
			it.merge.Prev()
		}
		return it.findBackward()
	}
	if it.all {
		it.merge.Next()
		return it.findForward()
	}
	// Step past the rest of the current key's versions.
	it.keyBuf = append(it.keyBuf[:0], it.key...)
	it.skipForward(it.keyBuf, trailerMin)
	return it.findForward()
}

// NextKV is Next, then Key and Value when it is valid: the core steps
// scans with it (interfaces.KVStepper), one dynamic call per step.
func (it *dbIter) NextKV() (key, value []byte, ok bool) {
	if !it.Next() {
		return nil, nil, false
	}
	return it.Key(), it.Value(), true
}

// skipForward moves the stream forward past the entries of ukey that sort
// before (ukey, until). The common case, a key with one version, is one
// step; otherwise only the children still holding such entries move on
// (mergingIter.skipTo).
func (it *dbIter) skipForward(ukey []byte, until base.Trailer) {
	if !it.merge.Next() {
		return
	}
	if k := it.merge.Key(); !bytes.Equal(k.UserKey, ukey) || k.Trailer <= until {
		return
	}
	it.merge.skipTo(base.InternalKey{UserKey: ukey, Trailer: until})
}

// findForward settles the stream on the next entry to yield, at or after
// its position.
func (it *dbIter) findForward() bool {
	seekTrailer := base.SeekTrailer(it.snapTs)
	for it.merge.Valid() {
		k := it.merge.Key()
		if it.upper != nil && bytes.Compare(k.UserKey, it.upper) >= 0 {
			return it.invalidate()
		}
		if k.Ts() > it.snapTs {
			// Newer than the snapshot: skip to the key's versions at or
			// below it.
			it.keyBuf = append(it.keyBuf[:0], k.UserKey...)
			if it.merge.Next() {
				if k2 := it.merge.Key(); bytes.Equal(k2.UserKey, it.keyBuf) && k2.Ts() > it.snapTs {
					it.skipForward(it.keyBuf, seekTrailer)
				}
			}
			continue
		}
		if !it.all && k.Kind() != base.KindSet {
			// The newest visible version is a tombstone: the key is
			// absent.
			it.keyBuf = append(it.keyBuf[:0], k.UserKey...)
			it.skipForward(it.keyBuf, trailerMin)
			continue
		}
		it.valid = true
		it.key, it.ts, it.kind = k.UserKey, k.Ts(), k.Kind()
		it.value = it.merge.Value()
		return true
	}
	return it.invalidate()
}

// findBackward settles on the next entry to yield going backward. With
// AllVersions that is the stream's entry (if visible); otherwise it walks
// the key's versions, oldest first, and keeps the newest at or below the
// snapshot, leaving the stream before the key.
func (it *dbIter) findBackward() bool {
	for it.merge.Valid() {
		k := it.merge.Key()
		if it.lower != nil && bytes.Compare(k.UserKey, it.lower) < 0 {
			return it.invalidate()
		}
		if it.all {
			if k.Ts() > it.snapTs {
				it.merge.Prev()
				continue
			}
			it.valid = true
			it.key, it.ts, it.kind = k.UserKey, k.Ts(), k.Kind()
			it.value = it.merge.Value()
			return true
		}
		it.keyBuf = append(it.keyBuf[:0], k.UserKey...)
		found := false
		steps := 0
		for {
			if k.Ts() <= it.snapTs {
				found = true
				it.ts, it.kind = k.Ts(), k.Kind()
				if it.kind == base.KindSet {
					it.valBuf = append(it.valBuf[:0], it.merge.Value()...)
				}
			} else if steps++; steps > skipSteps {
				// Every version from here on is newer still: seek before
				// the key.
				it.merge.SeekLT(base.InternalKey{UserKey: it.keyBuf, Trailer: trailerMax})
				break
			}
			if !it.merge.Prev() {
				break
			}
			k = it.merge.Key()
			if !bytes.Equal(k.UserKey, it.keyBuf) {
				break
			}
		}
		if it.merge.Error() != nil {
			return it.invalidate()
		}
		if found && it.kind == base.KindSet {
			it.valid = true
			it.key, it.value = it.keyBuf, it.valBuf
			return true
		}
	}
	return it.invalidate()
}

// Valid reports whether the iterator is positioned at a version.
func (it *dbIter) Valid() bool { return it.valid }

// Key returns the current user key.
func (it *dbIter) Key() []byte { return it.key }

// Ts returns the current version's ts.
func (it *dbIter) Ts() uint64 { return it.ts }

// Kind returns the current version's kind.
func (it *dbIter) Kind() interfaces.EntryKind { return it.kind }

// Value returns the current value, nil for a tombstone.
func (it *dbIter) Value() []byte {
	if it.kind != base.KindSet {
		return nil
	}
	return it.value
}

// Err returns the error that made the iterator invalid.
func (it *dbIter) Err() error {
	if it.err != nil {
		return fmt.Errorf("lightning/lsm: iterator: %w", it.err)
	}
	return nil
}

// Close releases the pinned memtables and tables and returns Err.
func (it *dbIter) Close() error {
	if it.closed {
		return nil
	}
	err := it.Err()
	it.closed, it.valid = true, false
	it.key, it.value = nil, nil
	if it.rs != nil {
		if cerr := it.merge.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("lightning/lsm: iterator: %w", cerr)
		}
		it.b.release(it.keyBuf, it.valBuf)
		it.b, it.merge = nil, nil
		it.keyBuf, it.valBuf, it.lower, it.upper = nil, nil, nil, nil
		it.rs.unref()
		it.rs = nil
	}
	return err
}
