package ordered

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// MemStore is an in-memory Store: a persistent (copy-on-write) treap, so
// that every iterator is a point-in-time snapshot that costs one pointer to
// take and never blocks a Write. It is the reference Store for tests — the
// adapter's and a third party's — and serves ephemeral use.
//
// A MemStore is safe for concurrent use. Its Writes are atomic (readers see
// the tree before or after, never between) and Sync does nothing: wrap it
// with Options.Ephemeral, or use it durably within one process by handing
// Reopen's handle to the next New.
type MemStore struct {
	t      *memTree
	closed atomic.Bool
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{t: newMemTree(nil)}
}

var (
	_ Store             = (*MemStore)(nil)
	_ Sizer             = (*MemStore)(nil)
	_ SnapshotIterators = (*MemStore)(nil)
)

// Reopen returns a new handle on the same contents, as reopening a file
// would; m may be closed.
func (m *MemStore) Reopen() *MemStore { return &MemStore{t: m.t} }

// IteratorsAreSnapshots reports true: an iterator holds the tree's root as
// it was when it was made.
func (m *MemStore) IteratorsAreSnapshots() bool { return true }

var errMemClosed = fmt.Errorf("lightning/ordered: memstore: %w", interfaces.ErrClosed)

func (m *MemStore) Write(ops []Op) error {
	if m.closed.Load() {
		return errMemClosed
	}
	m.t.write(ops)
	return nil
}

func (m *MemStore) Get(key []byte) ([]byte, error) {
	if m.closed.Load() {
		return nil, errMemClosed
	}
	return m.t.get(key)
}

func (m *MemStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	if m.closed.Load() {
		return nil, errMemClosed
	}
	return newMemIter(m.t.root.Load(), lower, upper), nil
}

// Sync does nothing: a MemStore holds nothing beyond memory.
func (m *MemStore) Sync() error {
	if m.closed.Load() {
		return errMemClosed
	}
	return nil
}

// Close closes this handle; handles from Reopen stay open.
func (m *MemStore) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return errMemClosed
	}
	return nil
}

// Size reports the bytes of keys and values held, as memory.
func (m *MemStore) Size() (diskBytes, memBytes int64, err error) {
	if m.closed.Load() {
		return 0, 0, errMemClosed
	}
	return 0, m.t.bytes.Load(), nil
}

// node is a treap node. Nodes are immutable once published: a Write copies
// every node on the paths it changes and publishes a new root, so a reader
// holding an old root holds a consistent snapshot.
type node struct {
	key, value  []byte
	left, right *node
	prio        uint64 // heap order: a parent's prio is >= its children's
}

// memTree is the shared contents behind MemStore and CrashStore handles.
type memTree struct {
	mu    sync.Mutex // serialises writers; guards rng
	rng   *rand.Rand
	root  atomic.Pointer[node]
	bytes atomic.Int64 // sum of len(key)+len(value) over the tree
}

func newMemTree(root *node) *memTree {
	t := &memTree{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	t.root.Store(root)
	t.bytes.Store(treeBytes(root))
	return t
}

func treeBytes(n *node) int64 {
	if n == nil {
		return 0
	}
	return int64(len(n.key)+len(n.value)) + treeBytes(n.left) + treeBytes(n.right)
}

// write applies ops in order and publishes the result at once.
func (t *memTree) write(ops []Op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	root := t.root.Load()
	delta := int64(0)
	for _, op := range ops {
		old := find(root, op.Key)
		switch {
		case op.Delete && old != nil:
			root = remove(root, op.Key)
			delta -= int64(len(old.key) + len(old.value))
		case op.Delete:
		case old != nil:
			root = replace(root, op.Key, bytes.Clone(op.Value))
			delta += int64(len(op.Value) - len(old.value))
		default:
			n := &node{key: bytes.Clone(op.Key), value: bytes.Clone(op.Value), prio: t.rng.Uint64()}
			root = insert(root, n)
			delta += int64(len(op.Key) + len(op.Value))
		}
	}
	t.root.Store(root)
	t.bytes.Add(delta)
}

func (t *memTree) get(key []byte) ([]byte, error) {
	if n := find(t.root.Load(), key); n != nil {
		return bytes.Clone(n.value), nil
	}
	return nil, interfaces.ErrNotFound
}

func find(n *node, key []byte) *node {
	for n != nil {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n
		}
	}
	return nil
}

// replace returns a copy of the tree rooted at n with key's value set; key
// is present.
func replace(n *node, key, value []byte) *node {
	cp := *n
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		cp.left = replace(n.left, key, value)
	case c > 0:
		cp.right = replace(n.right, key, value)
	default:
		cp.value = value
	}
	return &cp
}

// insert returns a copy of the tree rooted at n with nn added; nn's key is
// absent. Every node it returns on the changed path is fresh, so the
// rotations below may modify them.
func insert(n, nn *node) *node {
	if n == nil {
		return nn
	}
	cp := *n
	if bytes.Compare(nn.key, n.key) < 0 {
		cp.left = insert(n.left, nn)
		if cp.left.prio > cp.prio {
			l := cp.left
			cp.left = l.right
			l.right = &cp
			return l
		}
	} else {
		cp.right = insert(n.right, nn)
		if cp.right.prio > cp.prio {
			r := cp.right
			cp.right = r.left
			r.left = &cp
			return r
		}
	}
	return &cp
}

// remove returns a copy of the tree rooted at n without key; key is present.
func remove(n *node, key []byte) *node {
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		cp := *n
		cp.left = remove(n.left, key)
		return &cp
	case c > 0:
		cp := *n
		cp.right = remove(n.right, key)
		return &cp
	}
	return merge(n.left, n.right)
}

// merge joins two treaps, every key of a below every key of b.
func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		cp := *a
		cp.right = merge(a.right, b)
		return &cp
	default:
		cp := *b
		cp.left = merge(a, b.left)
		return &cp
	}
}

// memIter walks a snapshot of a memTree. stack is the path from the root to
// the current node, which is all Next and Prev need in an immutable tree
// with no parent pointers.
type memIter struct {
	root         *node
	lower, upper []byte
	stack        []*node
	pos          bool
	closed       bool
}

func newMemIter(root *node, lower, upper []byte) *memIter {
	it := &memIter{root: root, stack: make([]*node, 0, 32)}
	if lower != nil {
		it.lower = bytes.Clone(lower)
	}
	if upper != nil {
		it.upper = bytes.Clone(upper)
	}
	return it
}

// inBounds settles pos for the node on top of the stack.
func (it *memIter) inBounds() bool {
	if it.closed || len(it.stack) == 0 {
		it.pos = false
		return false
	}
	k := it.stack[len(it.stack)-1].key
	it.pos = (it.lower == nil || bytes.Compare(k, it.lower) >= 0) &&
		(it.upper == nil || bytes.Compare(k, it.upper) < 0)
	return it.pos
}

func (it *memIter) SeekGE(key []byte) bool {
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	// Descend, remembering the depth of the last node >= key: the answer.
	it.stack = it.stack[:0]
	at := -1
	for n := it.root; n != nil; {
		it.stack = append(it.stack, n)
		if bytes.Compare(n.key, key) >= 0 {
			at = len(it.stack) - 1
			n = n.left
		} else {
			n = n.right
		}
	}
	it.stack = it.stack[:at+1]
	return it.inBounds()
}

func (it *memIter) SeekLT(key []byte) bool {
	if it.upper != nil && bytes.Compare(key, it.upper) > 0 {
		key = it.upper
	}
	it.stack = it.stack[:0]
	at := -1
	for n := it.root; n != nil; {
		it.stack = append(it.stack, n)
		if bytes.Compare(n.key, key) < 0 {
			at = len(it.stack) - 1
			n = n.right
		} else {
			n = n.left
		}
	}
	it.stack = it.stack[:at+1]
	return it.inBounds()
}

func (it *memIter) First() bool {
	if it.lower != nil {
		return it.SeekGE(it.lower)
	}
	it.stack = it.stack[:0]
	for n := it.root; n != nil; n = n.left {
		it.stack = append(it.stack, n)
	}
	return it.inBounds()
}

func (it *memIter) Last() bool {
	if it.upper != nil {
		return it.SeekLT(it.upper)
	}
	it.stack = it.stack[:0]
	for n := it.root; n != nil; n = n.right {
		it.stack = append(it.stack, n)
	}
	return it.inBounds()
}

func (it *memIter) Next() bool {
	if !it.pos {
		return false
	}
	n := it.stack[len(it.stack)-1]
	if n.right != nil {
		for n = n.right; n != nil; n = n.left {
			it.stack = append(it.stack, n)
		}
		return it.inBounds()
	}
	// Climb until we arrive from a left child: that parent is next.
	for {
		child := it.stack[len(it.stack)-1]
		it.stack = it.stack[:len(it.stack)-1]
		if len(it.stack) == 0 {
			return it.inBounds()
		}
		if it.stack[len(it.stack)-1].left == child {
			return it.inBounds()
		}
	}
}

func (it *memIter) Prev() bool {
	if !it.pos {
		return false
	}
	n := it.stack[len(it.stack)-1]
	if n.left != nil {
		for n = n.left; n != nil; n = n.right {
			it.stack = append(it.stack, n)
		}
		return it.inBounds()
	}
	for {
		child := it.stack[len(it.stack)-1]
		it.stack = it.stack[:len(it.stack)-1]
		if len(it.stack) == 0 {
			return it.inBounds()
		}
		if it.stack[len(it.stack)-1].right == child {
			return it.inBounds()
		}
	}
}

func (it *memIter) Key() []byte {
	if !it.pos {
		return nil
	}
	return it.stack[len(it.stack)-1].key
}

func (it *memIter) Value() []byte {
	if !it.pos {
		return nil
	}
	return it.stack[len(it.stack)-1].value
}

// Err reports ErrClosed after Close; a snapshot has no other failure.
func (it *memIter) Err() error {
	if it.closed {
		return errMemClosed
	}
	return nil
}

func (it *memIter) Close() error {
	if it.closed {
		return errMemClosed
	}
	it.closed, it.pos, it.stack, it.root = true, false, nil, nil
	return nil
}
