package lsm

import (
	"bytes"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
)

// levelIter walks the tables of one level (sorted, with disjoint user-key
// ranges) as one stream, opening each table only when it gets there and
// holding at most one open. An L0 table gets a levelIter of its own, of one
// file, for the same lazy opening. It implements base.InternalIterator
// under the one-direction rule.
//
// The bounds are user-key hints: tables wholly outside [lower, upper) are
// never opened, and the table iterator skips blocks outside them; entries
// outside may still be returned, and the caller filters exactly.
type levelIter struct {
	tc    *tableCache
	files []*fileMeta
	opts  sstable.IterOptions
	// idx is the index of the open table, -1 when none.
	idx   int
	entry *tableEntry
	iter  sstable.Iter
	valid bool
	err   error
}

var _ base.InternalIterator = (*levelIter)(nil)

// init makes it iterate files, reusing its table iterator's buffers.
func (it *levelIter) init(tc *tableCache, files []*fileMeta, opts sstable.IterOptions) {
	it.release()
	it.tc, it.files, it.opts = tc, files, opts
	it.idx, it.valid, it.err = -1, false, nil
}

// release drops the open table, if any.
func (it *levelIter) release() {
	if it.entry != nil {
		_ = it.iter.Close()
		it.entry.unref()
		it.entry = nil
	}
	it.idx = -1
}

// reset releases the open table and forgets the tables, bounds and table
// reader, keeping only buffers: a pooled levelIter pins nothing.
func (it *levelIter) reset() {
	it.release()
	it.iter.Reset()
	it.tc, it.files, it.opts = nil, nil, sstable.IterOptions{}
	it.valid, it.err = false, nil
}

// open makes table i the current one, unpositioned.
func (it *levelIter) open(i int) bool {
	if it.idx == i && it.entry != nil {
		return true
	}
	it.release()
	e, err := it.tc.get(it.files[i])
	if err != nil {
		it.err = err
		it.valid = false
		return false
	}
	it.entry, it.idx = e, i
	it.iter.Init(e.r, it.opts)
	return true
}

// aboveUpper reports whether table i starts at or past the upper bound.
func (it *levelIter) aboveUpper(i int) bool {
	return it.opts.UpperBound != nil && bytes.Compare(it.files[i].smallest.UserKey, it.opts.UpperBound) >= 0
}

// belowLower reports whether table i ends below the lower bound.
func (it *levelIter) belowLower(i int) bool {
	return it.opts.LowerBound != nil && bytes.Compare(it.files[i].largest.UserKey, it.opts.LowerBound) < 0
}

// forwardFrom positions at the first entry of table i or a later one.
func (it *levelIter) forwardFrom(i int) bool {
	for ; i < len(it.files) && !it.aboveUpper(i); i++ {
		if !it.open(i) {
			return false
		}
		if it.iter.First() {
			it.valid = true
			return true
		}
		if err := it.iter.Error(); err != nil {
			return it.fail(err)
		}
	}
	it.valid = false
	return false
}

// backwardFrom positions at the last entry of table i or an earlier one.
func (it *levelIter) backwardFrom(i int) bool {
	for ; i >= 0 && !it.belowLower(i); i-- {
		if !it.open(i) {
			return false
		}
		if it.iter.Last() {
			it.valid = true
			return true
		}
		if err := it.iter.Error(); err != nil {
			return it.fail(err)
		}
	}
	it.valid = false
	return false
}

func (it *levelIter) fail(err error) bool {
	it.err = err
	it.valid = false
	return false
}

// SeekGE moves to the first entry >= key.
func (it *levelIter) SeekGE(key base.InternalKey) bool {
	it.err = nil
	// The first table whose largest key is >= key.
	lo, hi := 0, len(it.files)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if base.Compare(it.files[h].largest, key) < 0 {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo == len(it.files) || it.aboveUpper(lo) {
		it.valid = false
		return false
	}
	if !it.open(lo) {
		return false
	}
	if it.iter.SeekGE(key) {
		it.valid = true
		return true
	}
	if err := it.iter.Error(); err != nil {
		return it.fail(err)
	}
	return it.forwardFrom(lo + 1)
}

// SeekLT moves to the last entry < key.
func (it *levelIter) SeekLT(key base.InternalKey) bool {
	it.err = nil
	// The last table whose smallest key is < key.
	lo, hi := 0, len(it.files)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if base.Compare(it.files[h].smallest, key) < 0 {
			lo = h + 1
		} else {
			hi = h
		}
	}
	i := lo - 1
	if i < 0 || it.belowLower(i) {
		it.valid = false
		return false
	}
	if !it.open(i) {
		return false
	}
	if it.iter.SeekLT(key) {
		it.valid = true
		return true
	}
	if err := it.iter.Error(); err != nil {
		return it.fail(err)
	}
	return it.backwardFrom(i - 1)
}

// First moves to the first entry.
func (it *levelIter) First() bool {
	it.err = nil
	return it.forwardFrom(0)
}

// Last moves to the last entry.
func (it *levelIter) Last() bool {
	it.err = nil
	return it.backwardFrom(len(it.files) - 1)
}

// Next moves to the next entry.
func (it *levelIter) Next() bool {
	if !it.valid {
		return false
	}
	if it.iter.Next() {
		return true
	}
	if err := it.iter.Error(); err != nil {
		return it.fail(err)
	}
	return it.forwardFrom(it.idx + 1)
}

// Prev moves to the previous entry.
func (it *levelIter) Prev() bool {
	if !it.valid {
		return false
	}
	if it.iter.Prev() {
		return true
	}
	if err := it.iter.Error(); err != nil {
		return it.fail(err)
	}
	return it.backwardFrom(it.idx - 1)
}

// Valid reports whether the iterator is at an entry.
func (it *levelIter) Valid() bool { return it.valid }

// Key returns the current entry's key.
func (it *levelIter) Key() base.InternalKey { return it.iter.Key() }

// Value returns the current entry's value.
func (it *levelIter) Value() []byte { return it.iter.Value() }

// Error returns the error that stopped the iterator, if any.
func (it *levelIter) Error() error { return it.err }

// Close releases the open table and returns Error. The iterator may be
// reused with init.
func (it *levelIter) Close() error {
	err := it.err
	it.release()
	it.valid = false
	return err
}
