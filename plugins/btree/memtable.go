package btree

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// The write buffer: a skiplist of versions in (user key ascending, ts
// descending) order, filled by Apply and merged into the tree by a flush.
//
// One goroutine inserts (Apply holds Engine.writeMu); any number read
// without locks. A node is fully written before the atomic store that
// links it at level 0 publishes it, and a reader reaches nodes only through
// atomic loads of those links, so a reader sees every field of every node
// it meets. Nodes are never removed: a memtable is dropped whole once a
// flush has merged it and no reader holds it.
//
// Nodes and their bytes come from slabs, so an Apply of a thousand versions
// allocates a few slabs rather than thousands of objects. A node's first
// memInline links sit in the node, beside its key head, so a search step
// touches one cache line per node; the rare taller towers keep the rest in
// a links slab.

const (
	memMaxHeight = 16
	// memNodeSlab, memLinkSlab and memDataChunk size the slabs. A
	// memtable's first node slab and data chunk are smaller (a sixteenth)
	// and the next ones double up to these sizes, so that the many short
	// buffers of a Flush after every few Applies cost little.
	memNodeSlab  = 512
	memLinkSlab  = 2048
	memDataChunk = 64 << 10
	// memInline is how many levels of a node's tower are in the node:
	// with p = 1/4, all of them for 63 nodes in 64.
	memInline = 4
)

// memNodeOverhead is what a node costs beside its key and value: the node
// itself, for Stats and the buffer limit.
const memNodeOverhead = int(unsafe.Sizeof(memNode{}))

type memNode struct {
	// head holds the first 16 bytes of key as two big-endian numbers,
	// zero-padded: most comparisons are settled by them without touching
	// the key's bytes. Two words, because keys often share their first 8
	// bytes (a table prefix, zero-padded numbers) and differ in the next.
	head keyHeads
	// links are the node's next pointers at levels 0..memInline-1; more
	// holds the levels above.
	links [memInline]atomic.Pointer[memNode]
	ts    uint64
	more  []atomic.Pointer[memNode]
	key   []byte
	value []byte
	kind  interfaces.EntryKind
}

// link returns the node's next pointer at level lvl.
func (n *memNode) link(lvl int) *atomic.Pointer[memNode] {
	if lvl < memInline {
		return &n.links[lvl]
	}
	return &n.more[lvl-memInline]
}

// keyHeads is the first 16 bytes of a key, zero-padded, as two big-endian
// numbers: a the first 8, b the next 8.
//
// Heads order as the keys do: if k1 < k2 then heads(k1) <= heads(k2) in
// (a, b) order, because zero padding sorts a key no later than any key it
// is a prefix of, and a first difference within 16 bytes shows in the
// padded bytes. So unequal heads decide a comparison; equal heads (keys
// equal in their first 16 bytes, or differing only in trailing zero bytes
// within them) leave it to the bytes.
type keyHeads struct{ a, b uint64 }

func keyHeadsOf(key []byte) keyHeads {
	if len(key) >= 16 {
		return keyHeads{binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])}
	}
	var b [16]byte
	copy(b[:], key)
	return keyHeads{binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])}
}

// cmp compares n with the version (key, ts) whose heads are h.
func (n *memNode) cmp(h keyHeads, key []byte, ts uint64) int {
	if n.head.a != h.a {
		if n.head.a < h.a {
			return -1
		}
		return 1
	}
	if n.head.b != h.b {
		if n.head.b < h.b {
			return -1
		}
		return 1
	}
	return page.Compare(n.key, n.ts, key, ts)
}

type memtable struct {
	head   memNode
	height atomic.Int32
	// size is the bytes the memtable accounts for: keys, values and node
	// overhead.
	size  atomic.Int64
	count atomic.Int64
	// maxTs is the highest ts inserted.
	maxTs atomic.Uint64

	// The writer's own state, guarded by Engine.writeMu.
	rng   uint64
	nodes []memNode
	links []atomic.Pointer[memNode]
	data  []byte
}

func newMemtable() *memtable {
	m := &memtable{rng: 0x2545f4914f6cdd1d}
	m.head.more = make([]atomic.Pointer[memNode], memMaxHeight-memInline)
	m.height.Store(1)
	return m
}

func (m *memtable) empty() bool { return m.count.Load() == 0 }

func (m *memtable) randomHeight() int {
	h := 1
	for h < memMaxHeight {
		m.rng ^= m.rng << 13
		m.rng ^= m.rng >> 7
		m.rng ^= m.rng << 17
		if m.rng&3 != 0 {
			break
		}
		h++
	}
	return h
}

// copyBytes copies b into the memtable's data chunk.
func (m *memtable) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > memDataChunk/4 {
		return append([]byte(nil), b...)
	}
	if len(m.data)+len(b) > cap(m.data) {
		m.data = make([]byte, 0, max(len(b), min(memDataChunk, max(memDataChunk/16, 2*cap(m.data)))))
	}
	n := len(m.data)
	m.data = append(m.data, b...)
	return m.data[n : n+len(b) : n+len(b)]
}

// finger remembers where the last insert went: the last node before it
// at every level. Inserting keys in increasing order, each search starts
// from the finger instead of the head, so it walks only the nodes between
// consecutive keys, which the previous search left in the CPU cache.
type finger struct {
	prev [memMaxHeight]*memNode
	ok   bool
}

// insert adds a version. The caller (Apply) has checked that (key, ts) is
// not in the memtable. insert copies key and value. With f, (key, ts)
// must come after the version f last placed.
func (m *memtable) insert(key []byte, ts uint64, kind interfaces.EntryKind, value []byte, f *finger) {
	m.add(key, ts, kind, value, f, true)
}

// moveTo inserts every version of m into dst, in order, sharing their key
// and value bytes (m's data chunks live on through dst's nodes). m must no
// longer change; dst must hold none of its versions. Readers that hold
// both see the versions moved so far twice, as one version each
// (Engine.Get reads m first; iterators drop the repeat).
func (m *memtable) moveTo(dst *memtable) {
	var f finger
	for n := m.first(); n != nil; n = n.next() {
		dst.add(n.key, n.ts, n.kind, n.value, &f, false)
	}
}

// add is insert; with copyIn false, the node keeps key and value as they
// are.
func (m *memtable) add(key []byte, ts uint64, kind interfaces.EntryKind, value []byte, f *finger, copyIn bool) {
	var prev [memMaxHeight]*memNode
	var next [memMaxHeight]*memNode
	height := int(m.height.Load())
	head := keyHeadsOf(key)
	x := &m.head
	for lvl := height - 1; lvl >= 0; lvl-- {
		if f != nil && f.ok {
			// Both x and the finger are before (key, ts); start from the
			// later of the two.
			if fp := f.prev[lvl]; fp != nil && fp != &m.head && (x == &m.head || fp.cmp(x.head, x.key, x.ts) > 0) {
				x = fp
			}
		}
		for {
			nx := x.link(lvl).Load()
			if nx != nil && nx.cmp(head, key, ts) < 0 {
				x = nx
				continue
			}
			prev[lvl], next[lvl] = x, nx
			break
		}
	}
	h := m.randomHeight()
	for lvl := height; lvl < h; lvl++ {
		prev[lvl] = &m.head
	}
	if len(m.nodes) == cap(m.nodes) {
		m.nodes = make([]memNode, 0, min(memNodeSlab, max(memNodeSlab/16, 2*cap(m.nodes))))
	}
	if h > memInline && len(m.links)+h-memInline > cap(m.links) {
		m.links = make([]atomic.Pointer[memNode], 0, memLinkSlab)
	}
	m.nodes = m.nodes[:len(m.nodes)+1]
	n := &m.nodes[len(m.nodes)-1]
	if copyIn {
		n.key = m.copyBytes(key)
		if kind == interfaces.KindSet {
			n.value = m.copyBytes(value)
		}
	} else {
		n.key = key
		if kind == interfaces.KindSet {
			n.value = value
		}
	}
	if n.key == nil {
		n.key = []byte{}
	}
	n.ts, n.kind, n.head = ts, kind, head
	if h > memInline {
		l := len(m.links)
		m.links = m.links[:l+h-memInline]
		n.more = m.links[l : l+h-memInline : l+h-memInline]
	}
	for lvl := range h {
		n.link(lvl).Store(next[lvl])
	}
	// Publish bottom-up: once linked at level 0 the node is visible, and
	// every field above was written before.
	for lvl := range h {
		prev[lvl].link(lvl).Store(n)
	}
	if h > height {
		m.height.Store(int32(h))
	}
	if f != nil {
		// The new node is the last one before anything later at the
		// levels it reaches; below prev stands.
		f.prev = prev
		for lvl := range h {
			f.prev[lvl] = n
		}
		f.ok = true
	}
	m.size.Add(int64(len(key) + len(n.value) + memNodeOverhead + 8*max(0, h-memInline)))
	m.count.Add(1)
	if ts > m.maxTs.Load() {
		m.maxTs.Store(ts)
	}
}

// seekGE returns the first node at or after (key, ts), or nil.
func (m *memtable) seekGE(key []byte, ts uint64) *memNode {
	head := keyHeadsOf(key)
	x := &m.head
	var nx *memNode
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx = x.link(lvl).Load()
			if nx != nil && nx.cmp(head, key, ts) < 0 {
				x = nx
				continue
			}
			break
		}
	}
	return nx
}

// seekLT returns the last node before (key, ts), or nil.
func (m *memtable) seekLT(key []byte, ts uint64) *memNode {
	head := keyHeadsOf(key)
	x := &m.head
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx := x.link(lvl).Load()
			if nx != nil && nx.cmp(head, key, ts) < 0 {
				x = nx
				continue
			}
			break
		}
	}
	if x == &m.head {
		return nil
	}
	return x
}

// first returns the first node, or nil.
func (m *memtable) first() *memNode { return m.head.links[0].Load() }

// last returns the last node, or nil.
func (m *memtable) last() *memNode {
	x := &m.head
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx := x.link(lvl).Load()
			if nx == nil {
				break
			}
			x = nx
		}
	}
	if x == &m.head {
		return nil
	}
	return x
}

// get returns key's newest version with ts <= readTs, or nil.
func (m *memtable) get(key []byte, readTs uint64) *memNode {
	n := m.seekGE(key, readTs)
	if n == nil || !bytes.Equal(n.key, key) {
		return nil
	}
	return n
}

// next returns the node after n, or nil.
func (n *memNode) next() *memNode { return n.links[0].Load() }
