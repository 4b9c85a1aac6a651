package arenaskl

import (
	"errors"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// Check verifies the list's structure: every node and key lies inside the
// arena's node region and every value inside its value region, every node
// is well formed, every level is strictly sorted,
// every level is a sublist of the one below, level-0 backward links mirror
// the forward ones, levels above Height are empty, and Len counts the
// entries. It returns every problem found, joined, each a
// *interfaces.CorruptionError whose Offset is the arena offset of the node
// at fault (File is empty: the caller names the memtable when it wraps).
//
// Check reads without locks but must not run concurrently with Add, which
// leaves backward links and counts briefly behind while it inserts.
func (l *Skiplist) Check() error {
	a := &l.arena
	// Check runs with Add held off, so the writer's own fields are stable.
	used, top := a.used, a.top
	height := int(l.height.Load())
	var errs []error
	corrupt := func(off uint32, format string, args ...any) {
		errs = append(errs, interfaces.Corruptf("", int64(off), "arenaskl: "+format, args...))
	}
	if height < 1 || height > maxHeight {
		corrupt(headOffset, "height %d out of range [1, %d]", height, maxHeight)
		return errors.Join(errs...)
	}
	if used < uint32(maxNodeSize) || used%nodeAlign != 0 || used > top || top > a.capacity {
		corrupt(headOffset, "nodes end at %d and values start at %d, out of order in [%d, %d]", used, top, maxNodeSize, a.capacity)
		return errors.Join(errs...)
	}
	if size := uint32(l.stats.Load()); size != a.size() {
		corrupt(headOffset, "Size says %d bytes, the arena holds %d", size, a.size())
	}
	// A well-formed list holds at most this many nodes; a longer walk
	// means a cycle.
	maxNodes := int(used-uint32(maxNodeSize)) / nodeSize(1)

	// nodeHeight validates the node at off and returns its height, or 0
	// when the node is malformed (and has been reported).
	nodeHeight := func(off uint32) int {
		if off%nodeAlign != 0 || off < uint32(maxNodeSize) || uint64(off)+uint64(nodeSize(1)) > uint64(used) {
			corrupt(off, "node offset outside the arena's used bytes or misaligned")
			return 0
		}
		n := a.node(off)
		towerBytes := int64(n.keyOffset) - int64(off) - int64(nodeHeaderSize)
		h := int(towerBytes / towerLinkSize)
		if towerBytes%towerLinkSize != 0 || h < 1 || h > maxHeight {
			corrupt(off, "key offset %d implies an invalid tower", n.keyOffset)
			return 0
		}
		if uint64(n.keyOffset)+uint64(n.keySize) > uint64(used) {
			corrupt(off, "key (%d bytes) runs past the node region", n.keySize)
			return 0
		}
		if n.valueOffset < top || uint64(n.valueOffset)+uint64(n.valueSize) > uint64(a.capacity) {
			corrupt(off, "value (%d bytes at %d) outside the value region [%d, %d)", n.valueSize, n.valueOffset, top, a.capacity)
			return 0
		}
		if key := a.bytes(n.keyOffset, n.keySize); n.prefix != base.KeyPrefix(key) || n.prefix2 != base.KeyPrefix2(key) {
			corrupt(off, "cached key prefix %#x %#x does not match the key", n.prefix, n.prefix2)
			return 0
		}
		return h
	}

	head := a.node(headOffset)
	for i := height; i < maxHeight; i++ {
		if head.tower[i] != headOffset {
			corrupt(headOffset, "level %d above height %d is not empty", i, height)
		}
	}
	if head.prev != headOffset {
		corrupt(headOffset, "head has a backward link")
	}

	// Level 0: every node, well formed, sorted, with backward links.
	count := 0
	prev := uint32(headOffset)
	for off := head.next(0); off != headOffset; off = a.node(off).next(0) {
		if count++; count > maxNodes {
			corrupt(off, "level 0 does not end (cycle)")
			return errors.Join(errs...)
		}
		if nodeHeight(off) == 0 {
			return errors.Join(errs...)
		}
		n := a.node(off)
		if n.loadPrev() != prev {
			corrupt(off, "backward link %d, want %d", n.loadPrev(), prev)
		}
		if prev != headOffset && l.compareNodes(prev, off) >= 0 {
			corrupt(off, "level 0: key not above the previous node's")
		}
		prev = off
	}
	if count != l.Len() {
		corrupt(headOffset, "%d entries linked, Len says %d", count, l.Len())
	}

	// Upper levels: each a sublist of the level below, walked side by side
	// with it, made of nodes tall enough. Being a sublist of a sorted list
	// makes a level sorted.
levels:
	for i := 1; i < height; i++ {
		below := uint32(headOffset)
		for off := head.next(i); off != headOffset; off = a.node(off).next(i) {
			// Every node on level i was validated on level 0, since level
			// i-1 was walked (and checked to hold it) before.
			for below = a.node(below).next(i - 1); below != off; below = a.node(below).next(i - 1) {
				if below == headOffset {
					corrupt(off, "level %d links a node missing from level %d, or out of order", i, i-1)
					break levels
				}
			}
			if h := nodeHeight(off); h <= i {
				if h != 0 {
					corrupt(off, "level %d links a node of height %d", i, h)
				}
				break levels
			}
		}
	}
	return errors.Join(errs...)
}

// compareNodes orders the keys of two nodes.
func (l *Skiplist) compareNodes(x, y uint32) int {
	a := &l.arena
	nx := a.node(x)
	k := searchKey{ukey: a.bytes(nx.keyOffset, nx.keySize), prefix: nx.prefix, prefix2: nx.prefix2, trailer: nx.trailer}
	return a.compare(&k, a.node(y))
}
