package arenaskl

import "github.com/lightningdb/lightning/plugins/lsm/internal/base"

// Iterator walks a Skiplist in either direction. It implements
// base.InternalIterator, and unlike that contract requires, it may also
// turn around (Next after Prev and vice versa).
//
// An Iterator is a small value: embed one and call Init to use it without
// allocating. Positioning calls allocate nothing; Key and Value alias the
// arena. An iterator created while Add runs sees a live view: entries added
// after it was positioned may or may not appear as it moves, always in
// order. Iterators are not safe for concurrent use by several goroutines.
type Iterator struct {
	list *Skiplist
	// nd is the current node; 0 (the head) when the iterator is not valid.
	nd uint32
	// key is the decoded key of nd, kept so Key costs nothing.
	key base.InternalKey
}

var _ base.InternalIterator = (*Iterator)(nil)

// NewIter returns an unpositioned iterator over l.
func (l *Skiplist) NewIter() *Iterator {
	it := &Iterator{}
	it.Init(l)
	return it
}

// Init makes it an unpositioned iterator over l, forgetting anything it
// was used for before.
func (it *Iterator) Init(l *Skiplist) {
	*it = Iterator{list: l}
}

// SeekGE moves to the first entry whose key is >= key.
//
// The engine's point lookup is SeekGE(InternalKey{ukey, SeekTrailer(ts)})
// followed by a user-key check; each step of the descent compares an 8-byte
// key prefix cached in the node and reads the key bytes only on a tie.
func (it *Iterator) SeekGE(key base.InternalKey) bool {
	k := makeSearchKey(key)
	_, nd := it.list.seek(&k)
	return it.set(nd)
}

// SeekLT moves to the last entry whose key is < key.
func (it *Iterator) SeekLT(key base.InternalKey) bool {
	k := makeSearchKey(key)
	nd, _ := it.list.seek(&k)
	return it.set(nd)
}

// First moves to the first entry.
func (it *Iterator) First() bool {
	return it.set(it.list.arena.node(headOffset).next(0))
}

// Last moves to the last entry.
func (it *Iterator) Last() bool {
	return it.set(it.list.last())
}

// Next moves to the next entry. On an unpositioned or exhausted iterator
// it stays invalid.
func (it *Iterator) Next() bool {
	if it.nd == headOffset {
		return false
	}
	return it.set(it.list.arena.node(it.nd).next(0))
}

// Prev moves to the previous entry, following the level-0 backward link
// in O(1). On an unpositioned or exhausted iterator it stays invalid.
func (it *Iterator) Prev() bool {
	if it.nd == headOffset {
		return false
	}
	return it.set(it.list.arena.node(it.nd).loadPrev())
}

// Valid reports whether the iterator is at an entry.
func (it *Iterator) Valid() bool { return it.nd != headOffset }

// Key returns the current entry's key; its UserKey aliases the arena. Only
// valid while Valid returns true.
func (it *Iterator) Key() base.InternalKey { return it.key }

// Value returns the current entry's value, aliasing the arena (capacity
// limited to its length). Only valid while Valid returns true.
func (it *Iterator) Value() []byte {
	a := &it.list.arena
	n := a.node(it.nd)
	return a.bytes(n.valueOffset, n.valueSize)
}

// Error returns nil: walking an arena cannot fail.
func (it *Iterator) Error() error { return nil }

// Close leaves the iterator unpositioned and returns nil. The iterator may
// be positioned again, or re-initialised with Init.
func (it *Iterator) Close() error {
	it.nd = headOffset
	it.key = base.InternalKey{}
	return nil
}

// set positions the iterator at nd (0: invalid) and decodes its key.
func (it *Iterator) set(nd uint32) bool {
	it.nd = nd
	if nd == headOffset {
		it.key = base.InternalKey{}
		return false
	}
	a := &it.list.arena
	n := a.node(nd)
	it.key = base.InternalKey{UserKey: a.bytes(n.keyOffset, n.keySize), Trailer: base.Trailer(n.trailer)}
	return true
}
