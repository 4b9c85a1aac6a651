package arenaskl

import (
	"bytes"
	"sync/atomic"
	"unsafe"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

const (
	// maxHeight is the tallest tower. With p = 1/2 a list keeps its
	// expected search cost up to 2^24 (16M) entries, more than a 1 GiB
	// memtable of 16-byte keys and values holds; beyond, the top level
	// merely grows longer.
	maxHeight = 24
	// nodeAlign is the alignment of every node (it holds uint64 fields).
	nodeAlign = 8
	// nodeHeaderSize is the size of a node without its tower.
	nodeHeaderSize = int(unsafe.Offsetof(node{}.tower))
	// towerLinkSize is the size of one tower level.
	towerLinkSize = 4
	// maxNodeSize is the size of a node with a full tower (the head).
	maxNodeSize = int(unsafe.Sizeof(node{}))
)

// node is one entry. In the arena it is followed, without padding, by the
// user key; the value lies in the arena's value region, at its far end
// (see arena):
//
//	+----------------------------------------------------------------+
//	| trailer u64 | keyOffset u32 | keySize u32 | valueSize u32        |
//	| prev u32 | prefix u64 | prefix2 u64 | valueOffset u32            |
//	| tower[0..height) u32                                             |
//	| user key                                                         |
//	+----------------------------------------------------------------+
//
// Only height levels of the tower are allocated; the rest of the struct
// overlaps the key, value or next node and is never touched. The height is
// not stored: it is (keyOffset - node offset - nodeHeaderSize) / 4.
//
// Every field but prev and tower is written once, before the node is
// published, and read without atomics.
type node struct {
	// trailer is the internal key's trailer (ts and kind).
	trailer uint64
	// keyOffset is the arena offset of the user key.
	keyOffset uint32
	// keySize is the length of the user key.
	keySize uint32
	// valueSize is the length of the value.
	valueSize uint32
	// prev is the offset of the previous node at level 0 (0, the head, for
	// the first node), accessed atomically. While a node is being inserted
	// right before this one, prev names the older predecessor for a
	// moment: a backward walk then skips the new node, never more.
	prev uint32
	// prefix is the first 8 bytes of the user key, big-endian, zero-padded
	// (see base.KeyPrefix). Comparing prefixes decides most comparisons without
	// reading the key bytes. It sits near the tower because a search
	// reads exactly these: with nodes 8-byte aligned, prefix, prefix2 and
	// tower[0] (bytes 24 to 48 of the node) share a cache line 3 times
	// in 4.
	prefix uint64
	// prefix2 is bytes 8 to 16 of the user key (base.KeyPrefix2): keys
	// that share their first 8 bytes are common, and for keys up to 16
	// bytes the two words decide every comparison but a tie without
	// touching the key.
	prefix2 uint64
	// valueOffset is the arena offset of the value. Values are allocated
	// from the arena's far end, apart from nodes and keys (see arena).
	valueOffset uint32
	// tower holds the offset of the next node at each level (0: none). It
	// is accessed atomically once the node is published.
	tower [maxHeight]uint32
}

func (n *node) next(level int) uint32 { return atomic.LoadUint32(&n.tower[level]) }

func (n *node) loadPrev() uint32 { return atomic.LoadUint32(&n.prev) }

// nodeSize returns the arena bytes of a node of the given height.
func nodeSize(height int) int { return nodeHeaderSize + height*towerLinkSize }

// searchKey is an internal key prepared for comparison against nodes.
type searchKey struct {
	ukey    []byte
	prefix  uint64
	prefix2 uint64
	trailer uint64
}

func makeSearchKey(k base.InternalKey) searchKey {
	return searchKey{ukey: k.UserKey, prefix: base.KeyPrefix(k.UserKey), prefix2: base.KeyPrefix2(k.UserKey), trailer: uint64(k.Trailer)}
}

// compare orders the search key against the node's key, as base.Compare
// does: user key ascending, then trailer descending.
func (a *arena) compare(k *searchKey, n *node) int {
	if k.prefix != n.prefix {
		if k.prefix < n.prefix {
			return -1
		}
		return 1
	}
	return a.compareSlow(k, n)
}

// compareSlow finishes a comparison whose prefixes are equal: by the
// second word, then the key bytes and the trailer.
func (a *arena) compareSlow(k *searchKey, n *node) int {
	if k.prefix2 != n.prefix2 {
		if k.prefix2 < n.prefix2 {
			return -1
		}
		return 1
	}
	nk := a.bytes(n.keyOffset, n.keySize)
	var c int
	if len(k.ukey) >= 16 && len(nk) >= 16 {
		// Equal words of two keys this long are equal first 16 bytes.
		c = bytes.Compare(k.ukey[16:], nk[16:])
	} else {
		c = bytes.Compare(k.ukey, nk)
	}
	if c != 0 {
		return c
	}
	switch {
	case k.trailer > n.trailer:
		return -1
	case k.trailer < n.trailer:
		return 1
	}
	return 0
}
