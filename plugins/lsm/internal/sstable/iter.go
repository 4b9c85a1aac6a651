package sstable

import (
	"bytes"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// IterOptions configure an Iter.
type IterOptions struct {
	// NoCacheFill reads blocks that are not in the cache into the
	// iterator's own buffers instead of adding them to the cache, so a
	// scan that touches every block once (a compaction) does not evict
	// the blocks point reads need. Blocks already cached are still used.
	NoCacheFill bool
	// LowerBound and UpperBound, when set, are user-key bounds (inclusive
	// and exclusive) that spare block reads: the iterator stops instead of
	// loading a block all of whose keys lie outside them. They are hints,
	// not filters: entries outside the bounds within a loaded block are
	// still returned, and the caller enforces its bounds exactly.
	LowerBound, UpperBound []byte
	// Sequential says the caller reads the table from one end to the
	// other (a compaction): block reads that miss the cache go through a
	// readahead window of the largest size from the first block on.
	// Without it, readahead starts by itself once two blocks in a row,
	// stepping forward or backward, missed the cache.
	Sequential bool
}

// Iter walks a table's entries in internal-key order or its reverse. It
// implements base.InternalIterator; it also turns around (Next after Prev
// or the reverse) correctly, though the engine does not need it. Key and
// Value are valid until the next positioning call. Steps allocate nothing;
// a block read that fills the cache allocates the block.
//
// An Iter is used by one goroutine. It may be reused with Init, keeping
// its buffers.
type Iter struct {
	r    *Reader
	opts IterOptions
	// bi is the index of the block blk holds, or -1.
	bi  int
	blk blockIter
	// bufs holds blocks read without filling the cache.
	bufs blockBufs
	// ra is the readahead window. lastMiss is the last block read from
	// the file (-1: none since the last seek) and missRun how many blocks
	// before it were read in sequence, in the direction of the step.
	ra       readahead
	lastMiss int
	missRun  int
	err      error
}

var _ base.InternalIterator = (*Iter)(nil)

// NewIter returns an iterator over the table, unpositioned.
func (r *Reader) NewIter(opts IterOptions) *Iter {
	it := &Iter{}
	it.Init(r, opts)
	return it
}

// Init makes it an unpositioned iterator over r, keeping its buffers.
func (it *Iter) Init(r *Reader, opts IterOptions) {
	it.r, it.opts, it.bi, it.err = r, opts, -1, nil
	it.blk.reset()
	it.ra.reset()
	it.lastMiss, it.missRun = -1, 0
	if opts.Sequential {
		it.ra.size = maxReadahead
	}
}

// Reset forgets the reader and the bounds and drops the readahead window,
// keeping the small buffers for the next Init: a pooled Iter pins no
// table and little memory. It must be Init'ed again before use.
func (it *Iter) Reset() {
	it.Init(nil, IterOptions{})
	it.ra.buf = nil
}

// readaheadFor returns the readahead window to read block i through, nil
// when it should be read on its own. dir is the direction of the step
// that reached i (+1 or -1), 0 for a seek.
func (it *Iter) readaheadFor(i, dir int) *readahead {
	if dir != 0 && it.lastMiss >= 0 && i == it.lastMiss+dir {
		it.missRun++
	} else {
		it.missRun = 0
	}
	it.lastMiss = i
	if !it.opts.Sequential && it.missRun < 2 {
		if dir == 0 {
			// A seek breaks the sequence: the window restarts small.
			it.ra.size = 0
		}
		return nil
	}
	it.ra.backward = dir < 0
	return &it.ra
}

// loadBlock makes blk iterate block i (unpositioned). dir is the
// direction of the step that reached block i (+1 or -1), 0 for a seek.
func (it *Iter) loadBlock(i, dir int) bool {
	r := it.r
	h := r.index.handle(i)
	var raw []byte
	var err error
	switch {
	case r.cache == nil:
		raw, _, err = r.readBlockFrom(h, blockData, &it.bufs, it.readaheadFor(i, dir), true)
	case it.opts.NoCacheFill:
		var ok bool
		if raw, ok = r.cache.Get(r.cacheKey(h.offset)); !ok {
			raw, _, err = r.readBlockFrom(h, blockData, &it.bufs, it.readaheadFor(i, dir), true)
		}
	default:
		k := r.cacheKey(h.offset)
		var ok bool
		if raw, ok = r.cache.Get(k); !ok {
			if raw, _, err = r.readBlockFrom(h, blockData, nil, it.readaheadFor(i, dir), true); err == nil {
				r.cache.Set(k, raw, int64(len(raw)))
			}
		}
	}
	if err == nil {
		b, reason := parseBlock(raw)
		if reason != "" {
			err = interfaces.Corruptf(r.name, int64(h.offset), "%s", reason)
		} else {
			it.blk.init(b, r.name, int64(h.offset))
			it.bi = i
			return true
		}
	}
	it.err = err
	it.bi = -1
	it.blk.reset()
	return false
}

// fail records the block iterator's error, if any, and returns false.
func (it *Iter) fail() bool {
	if it.blk.err != nil {
		it.err = it.blk.err
	}
	return false
}

// forwardFrom moves to the first entry of block i or a later one.
func (it *Iter) forwardFrom(i int) bool {
	x := &it.r.index
	for ; i < len(x.entries); i++ {
		// Block i's keys are above separator i-1: past the upper bound
		// when that separator's user key is.
		if i > 0 && it.opts.UpperBound != nil && bytes.Compare(x.userKey(i-1), it.opts.UpperBound) >= 0 {
			break
		}
		if !it.loadBlock(i, 1) {
			return false
		}
		if it.blk.First() {
			return true
		}
		if it.blk.err != nil {
			return it.fail()
		}
	}
	it.blk.valid = false
	return false
}

// backwardFrom moves to the last entry of block i or an earlier one.
func (it *Iter) backwardFrom(i int) bool {
	x := &it.r.index
	for ; i >= 0; i-- {
		// Block i's keys are at most separator i: below the lower bound
		// when that separator's user key is.
		if it.opts.LowerBound != nil && bytes.Compare(x.userKey(i), it.opts.LowerBound) < 0 {
			break
		}
		if !it.loadBlock(i, -1) {
			return false
		}
		if it.blk.Last() {
			return true
		}
		if it.blk.err != nil {
			return it.fail()
		}
	}
	it.blk.valid = false
	return false
}

// SeekGE moves to the first entry whose key is >= key.
func (it *Iter) SeekGE(key base.InternalKey) bool {
	it.err = nil
	i := it.r.index.seek(key.UserKey, key.Trailer)
	if i == len(it.r.index.entries) {
		it.blk.valid = false
		return false
	}
	if i > 0 && it.opts.UpperBound != nil && bytes.Compare(it.r.index.userKey(i-1), it.opts.UpperBound) >= 0 {
		it.blk.valid = false
		return false
	}
	if it.bi != i && !it.loadBlock(i, 0) {
		return false
	}
	if it.blk.SeekGE(key.UserKey, key.Trailer) {
		return true
	}
	if it.blk.err != nil {
		return it.fail()
	}
	// Every entry of block i is below key, which is at most separator i:
	// the next entry, if any, opens block i+1.
	return it.forwardFrom(i + 1)
}

// SeekLT moves to the last entry whose key is < key.
func (it *Iter) SeekLT(key base.InternalKey) bool {
	it.err = nil
	// The first block whose separator is >= key holds the first entry >=
	// key, if any; the last entry < key is in it or the block before.
	i := min(it.r.index.seek(key.UserKey, key.Trailer), len(it.r.index.entries)-1)
	if it.opts.LowerBound != nil && bytes.Compare(it.r.index.userKey(i), it.opts.LowerBound) < 0 {
		it.blk.valid = false
		return false
	}
	if it.bi != i && !it.loadBlock(i, 0) {
		return false
	}
	if it.blk.SeekLT(key.UserKey, key.Trailer) {
		return true
	}
	if it.blk.err != nil {
		return it.fail()
	}
	return it.backwardFrom(i - 1)
}

// First moves to the first entry.
func (it *Iter) First() bool {
	it.err = nil
	return it.forwardFrom(0)
}

// Last moves to the last entry.
func (it *Iter) Last() bool {
	it.err = nil
	return it.backwardFrom(len(it.r.index.entries) - 1)
}

// Next moves to the next entry.
func (it *Iter) Next() bool {
	if it.err != nil || !it.blk.valid {
		return false
	}
	if it.blk.Next() {
		return true
	}
	if it.blk.err != nil {
		return it.fail()
	}
	return it.forwardFrom(it.bi + 1)
}

// Prev moves to the previous entry.
func (it *Iter) Prev() bool {
	if it.err != nil || !it.blk.valid {
		return false
	}
	if it.blk.Prev() {
		return true
	}
	if it.blk.err != nil {
		return it.fail()
	}
	return it.backwardFrom(it.bi - 1)
}

// Valid reports whether the iterator is at an entry.
func (it *Iter) Valid() bool { return it.err == nil && it.blk.valid }

// Key returns the current entry's key. Its UserKey is valid until the next
// positioning call.
func (it *Iter) Key() base.InternalKey { return it.blk.ikey }

// Value returns the current entry's value, valid until the next
// positioning call. The caller must not modify it.
func (it *Iter) Value() []byte { return it.blk.val }

// Error returns the error that stopped the iterator, if any.
func (it *Iter) Error() error { return it.err }

// Close releases the block the iterator holds and returns Error. The
// iterator may be reused with Init.
func (it *Iter) Close() error {
	err := it.err
	it.blk.reset()
	it.bi = -1
	if cap(it.bufs.read) > maxPooledBuf || cap(it.bufs.plain) > maxPooledBuf || cap(it.bufs.dec) > maxPooledBuf {
		it.bufs = blockBufs{}
	}
	it.ra.reset()
	if cap(it.ra.buf) > maxReadahead+maxReadahead/4 {
		it.ra.buf = nil
	}
	return err
}
