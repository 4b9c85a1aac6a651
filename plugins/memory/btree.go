package memory

import (
	"bytes"
	"encoding/binary"

	"github.com/lightningdb/lightning/interfaces"
)

// version is one stored version of a user key. data holds the key followed
// by the value in a single allocation, so a version costs one allocation
// however large its key and value are.
//
// INVARIANT: a version is never modified once built; nodes copy it by value
// and slices of data are handed to iterators without copying.
type version struct {
	data []byte
	ts   uint64
	// prefix is keyPrefix(key): most comparisons end on it, without
	// touching data, which is a cache miss away.
	prefix uint64
	keyLen uint32
	kind   interfaces.EntryKind
}

// versionSize is the in-node size of a version, for memory accounting.
const versionSize = 48

// keyPrefix returns the first 8 bytes of key, zero-padded, big-endian.
// Prefixes order as their keys do wherever they differ: the first
// differing byte decides both, and a zero pad only ties with a key that
// continues with zeros, where the full keys decide.
func keyPrefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// pos is a position (key, ts) in Storage order, with the key's prefix
// computed once for a whole descent.
type pos struct {
	key    []byte
	prefix uint64
	ts     uint64
}

func at(key []byte, ts uint64) pos { return pos{key: key, prefix: keyPrefix(key), ts: ts} }

// newVersion copies key and value into a fresh version. The value of a
// tombstone is not kept.
func newVersion(key []byte, ts uint64, kind interfaces.EntryKind, value []byte) version {
	if kind != interfaces.KindSet {
		value = nil
	}
	data := make([]byte, len(key)+len(value))
	copy(data, key)
	copy(data[len(key):], value)
	return version{data: data, ts: ts, prefix: keyPrefix(key), keyLen: uint32(len(key)), kind: kind}
}

// key returns the user key. Its capacity is capped so that an append by a
// careless caller reallocates instead of overwriting the value.
func (v *version) key() []byte { return v.data[:v.keyLen:v.keyLen] }

// value returns the value (empty for a tombstone).
func (v *version) value() []byte { return v.data[v.keyLen:len(v.data):len(v.data)] }

// compareTo orders v against the position p in Storage order: user key
// ascending, then ts descending.
func (v *version) compareTo(p pos) int {
	switch {
	case v.prefix < p.prefix:
		return -1
	case v.prefix > p.prefix:
		return 1
	}
	if c := bytes.Compare(v.key(), p.key); c != 0 {
		return c
	}
	switch {
	case v.ts > p.ts:
		return -1
	case v.ts < p.ts:
		return 1
	}
	return 0
}

// The B-tree's shape. A node holds at most maxItems versions and, except
// for the root, at least minItems.
const (
	btreeDegree = 16
	maxItems    = 2*btreeDegree - 1
	minItems    = btreeDegree - 1
)

// node is a B-tree node. Versions live in every node (not only leaves), in
// Storage order.
//
// Nodes are copy-on-write: a node belongs to the write session (gen) that
// made it, and only that session may change it. Once a session publishes
// its root the session ends and every node it made is immutable, so any
// number of readers can walk a published tree without locks while the next
// session copies the nodes it changes.
type node struct {
	// items are the versions, in Storage order.
	// INVARIANT: len(items) <= maxItems, and >= minItems unless the node is
	// the root.
	items []version
	// children is nil for a leaf.
	// INVARIANT: len(children) == len(items)+1 for an inner node; every
	// version in children[i] orders after items[i-1] and before items[i];
	// all leaves are at the same depth.
	children []*node
	// gen is the write session that owns the node.
	gen uint64
	// buf backs items, so a node and its versions are one allocation.
	buf [maxItems]version
}

func (n *node) leaf() bool { return n.children == nil }

// search returns the index of the first item at or after p, and whether
// that item is exactly p.
func (n *node) search(p pos) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.items[m].compareTo(p) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.items) && n.items[lo].compareTo(p) == 0
}

// seekGE returns the first version at or after (key, ts) in the tree rooted
// at root, or nil.
func seekGE(root *node, key []byte, ts uint64) *version {
	var best *version
	p := at(key, ts)
	for n := root; n != nil; {
		i, found := n.search(p)
		if found {
			return &n.items[i]
		}
		if i < len(n.items) {
			best = &n.items[i]
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return best
}

// writer is one copy-on-write session over a tree: it starts from a
// published root, changes its own copies of the nodes on the paths it
// touches, and ends when its root is published (or dropped, which undoes
// everything it did).
type writer struct {
	gen   uint64
	root  *node
	count int
	bytes int64
}

func (w *writer) newNode(leaf bool) *node { return newNode(leaf, w.gen) }

// newNode returns an empty node owned by gen.
func newNode(leaf bool, gen uint64) *node {
	n := &node{gen: gen}
	n.items = n.buf[:0]
	if !leaf {
		n.children = make([]*node, 0, maxItems+1)
	}
	return n
}

// mutable returns n itself when this session owns it, and otherwise a copy
// that it owns.
func (w *writer) mutable(n *node) *node {
	if n.gen == w.gen {
		return n
	}
	c := w.newNode(n.leaf())
	c.items = append(c.items, n.items...)
	if !n.leaf() {
		c.children = append(c.children, n.children...)
	}
	return c
}

// mutableChild makes n.children[i] owned by this session; n must be owned.
func (w *writer) mutableChild(n *node, i int) *node {
	c := w.mutable(n.children[i])
	n.children[i] = c
	return c
}

// insert adds v and reports whether it did; it does not when a version
// with the same (key, ts) is already in the tree.
func (w *writer) insert(v version) bool {
	if w.root == nil {
		w.root = w.newNode(true)
		w.root.items = append(w.root.items, v)
		w.count++
		w.bytes += int64(len(v.data))
		return true
	}
	w.root = w.mutable(w.root)
	if len(w.root.items) >= maxItems {
		mid, right := w.split(w.root, maxItems/2)
		left := w.root
		w.root = w.newNode(false)
		w.root.items = append(w.root.items, mid)
		w.root.children = append(w.root.children, left, right)
	}
	if !w.insertInto(w.root, v) {
		return false
	}
	w.count++
	w.bytes += int64(len(v.data))
	return true
}

// insertInto adds v below the owned, non-full node n, splitting full
// children on the way down so that a split never has to climb back up.
func (w *writer) insertInto(n *node, v version) bool {
	p := pos{key: v.key(), prefix: v.prefix, ts: v.ts}
	for {
		i, found := n.search(p)
		if found {
			return false
		}
		if n.leaf() {
			n.items = insertAt(n.items, i, v)
			return true
		}
		if len(n.children[i].items) >= maxItems {
			mid, right := w.split(w.mutableChild(n, i), maxItems/2)
			n.items = insertAt(n.items, i, mid)
			n.children = insertAt(n.children, i+1, right)
			switch c := n.items[i].compareTo(p); {
			case c == 0:
				return false
			case c < 0:
				i++
			}
		}
		n = w.mutableChild(n, i)
	}
}

// split cuts the owned node n at item i: n keeps the items before it, the
// returned node those after, and the item itself moves up.
func (w *writer) split(n *node, i int) (version, *node) {
	mid := n.items[i]
	right := w.newNode(n.leaf())
	right.items = append(right.items, n.items[i+1:]...)
	clear(n.items[i:])
	n.items = n.items[:i]
	if !n.leaf() {
		right.children = append(right.children, n.children[i+1:]...)
		clear(n.children[i+1:])
		n.children = n.children[:i+1]
	}
	return mid, right
}

// remove deletes the version (key, ts) and reports whether it was there.
func (w *writer) remove(key []byte, ts uint64) bool {
	if w.root == nil {
		return false
	}
	w.root = w.mutable(w.root)
	out, ok := w.removeFrom(w.root, at(key, ts), false)
	if len(w.root.items) == 0 {
		if w.root.leaf() {
			w.root = nil
		} else {
			w.root = w.root.children[0]
		}
	}
	if ok {
		w.count--
		w.bytes -= int64(len(out.data))
	}
	return ok
}

// removeFrom deletes (key, ts) — or, with max, the last version — from the
// subtree of the owned node n. Before descending it makes sure the child
// it enters has more than minItems items, so a removal never leaves a node
// short and never has to climb back up.
func (w *writer) removeFrom(n *node, p pos, max bool) (version, bool) {
	var i int
	var found bool
	if max {
		if n.leaf() {
			last := len(n.items) - 1
			out := n.items[last]
			n.items[last] = version{}
			n.items = n.items[:last]
			return out, true
		}
		i = len(n.items)
	} else {
		i, found = n.search(p)
		if n.leaf() {
			if !found {
				return version{}, false
			}
			out := n.items[i]
			n.items = removeAt(n.items, i)
			return out, true
		}
	}
	if len(n.children[i].items) <= minItems {
		w.growChild(n, i)
		return w.removeFrom(n, p, max)
	}
	child := w.mutableChild(n, i)
	if found {
		// Replace the item with its predecessor, the last version of the
		// left subtree, which has items to spare.
		out := n.items[i]
		n.items[i], _ = w.removeFrom(child, pos{}, true)
		return out, true
	}
	return w.removeFrom(child, p, max)
}

// growChild gives n.children[i] more than minItems items: it borrows one
// through n from a sibling that has some to spare, or merges the child with
// a sibling and the item between them.
func (w *writer) growChild(n *node, i int) {
	switch {
	case i > 0 && len(n.children[i-1].items) > minItems:
		child := w.mutableChild(n, i)
		left := w.mutableChild(n, i-1)
		last := len(left.items) - 1
		stolen := left.items[last]
		left.items[last] = version{}
		left.items = left.items[:last]
		child.items = insertAt(child.items, 0, n.items[i-1])
		n.items[i-1] = stolen
		if !left.leaf() {
			lastChild := len(left.children) - 1
			child.children = insertAt(child.children, 0, left.children[lastChild])
			left.children[lastChild] = nil
			left.children = left.children[:lastChild]
		}
	case i < len(n.items) && len(n.children[i+1].items) > minItems:
		child := w.mutableChild(n, i)
		right := w.mutableChild(n, i+1)
		stolen := right.items[0]
		right.items = removeAt(right.items, 0)
		child.items = append(child.items, n.items[i])
		n.items[i] = stolen
		if !right.leaf() {
			child.children = append(child.children, right.children[0])
			right.children = removeAt(right.children, 0)
		}
	default:
		if i >= len(n.items) {
			i--
		}
		child := w.mutableChild(n, i)
		// The right sibling is only read: its items are copied into child.
		merged := n.children[i+1]
		child.items = append(child.items, n.items[i])
		child.items = append(child.items, merged.items...)
		if !child.leaf() {
			child.children = append(child.children, merged.children...)
		}
		n.items = removeAt(n.items, i)
		n.children = removeAt(n.children, i+1)
	}
}

// insertAt inserts v at index i of s, which has room for it.
func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// removeAt removes index i of s, clearing the freed slot so it holds no
// reference.
func removeAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}
