package lsm

import "github.com/lightningdb/lightning/plugins/lsm/internal/base"

// mergingIter merges child iterators into one stream in internal-key order
// (or its reverse), with a binary heap of the children that are
// positioned. It implements base.InternalIterator under that contract's
// one-direction rule: after First or SeekGE only Next, after Last or
// SeekLT only Prev.
//
// Children are ordered newest source first (memtables, then L0 newest
// first, then levels); equal keys cannot occur (an internal key is in one
// place only), but ties are broken by child order all the same, so the
// stream is deterministic. A step moves the top child and sifts it down:
// no allocation, O(log n) comparisons of cached keys.
type mergingIter struct {
	children []mergeChild
	// heap holds indices into children of the positioned children.
	heap    []int
	reverse bool
	err     error
}

type mergeChild struct {
	iter base.InternalIterator
	// key caches iter.Key() while the child is in the heap.
	key base.InternalKey
}

var _ base.InternalIterator = (*mergingIter)(nil)

// init makes m merge iters, reusing m's slices.
func (m *mergingIter) init(iters []base.InternalIterator) {
	if cap(m.children) < len(iters) {
		m.children = make([]mergeChild, len(iters))
		m.heap = make([]int, 0, len(iters))
	}
	m.children = m.children[:len(iters)]
	for i, it := range iters {
		m.children[i] = mergeChild{iter: it}
	}
	m.heap = m.heap[:0]
	m.err = nil
}

// less orders children i and j for the heap's top: the smaller key going
// forward, the larger going backward.
func (m *mergingIter) less(i, j int) bool {
	c := base.Compare(m.children[i].key, m.children[j].key)
	if c == 0 {
		return i < j
	}
	if m.reverse {
		return c > 0
	}
	return c < 0
}

func (m *mergingIter) down(h int) {
	n := len(m.heap)
	for {
		l := 2*h + 1
		if l >= n {
			return
		}
		best := l
		if r := l + 1; r < n && m.less(m.heap[r], m.heap[l]) {
			best = r
		}
		if !m.less(m.heap[best], m.heap[h]) {
			return
		}
		m.heap[h], m.heap[best] = m.heap[best], m.heap[h]
		h = best
	}
}

// build collects the positioned children into the heap after every child
// has been positioned, recording the first child error.
func (m *mergingIter) build(reverse bool, valid func(i int) bool) bool {
	m.reverse = reverse
	m.heap = m.heap[:0]
	m.err = nil
	for i := range m.children {
		c := &m.children[i]
		if valid(i) {
			c.key = c.iter.Key()
			m.heap = append(m.heap, i)
		} else if err := c.iter.Error(); err != nil && m.err == nil {
			m.err = err
		}
	}
	if m.err != nil {
		m.heap = m.heap[:0]
		return false
	}
	for h := len(m.heap)/2 - 1; h >= 0; h-- {
		m.down(h)
	}
	return len(m.heap) > 0
}

// SeekGE moves every child to its first entry >= key.
func (m *mergingIter) SeekGE(key base.InternalKey) bool {
	return m.build(false, func(i int) bool { return m.children[i].iter.SeekGE(key) })
}

// SeekLT moves every child to its last entry < key.
func (m *mergingIter) SeekLT(key base.InternalKey) bool {
	return m.build(true, func(i int) bool { return m.children[i].iter.SeekLT(key) })
}

// First moves every child to its first entry.
func (m *mergingIter) First() bool {
	return m.build(false, func(i int) bool { return m.children[i].iter.First() })
}

// Last moves every child to its last entry.
func (m *mergingIter) Last() bool {
	return m.build(true, func(i int) bool { return m.children[i].iter.Last() })
}

// step moves the top child one entry in the iterator's direction.
func (m *mergingIter) step() bool {
	if len(m.heap) == 0 {
		return false
	}
	top := m.heap[0]
	c := &m.children[top]
	var ok bool
	if m.reverse {
		ok = c.iter.Prev()
	} else {
		ok = c.iter.Next()
	}
	if ok {
		c.key = c.iter.Key()
	} else {
		if err := c.iter.Error(); err != nil {
			m.err = err
			m.heap = m.heap[:0]
			return false
		}
		last := len(m.heap) - 1
		m.heap[0] = m.heap[last]
		m.heap = m.heap[:last]
	}
	if len(m.heap) == 0 {
		return false
	}
	m.down(0)
	return true
}

// Next moves forward; only after First or SeekGE.
func (m *mergingIter) Next() bool { return m.step() }

// skipTo moves forward to the first entry >= target, which must be at or
// after the current entry; only after First or SeekGE. Unlike SeekGE it
// moves only the children positioned below target: each steps up to
// skipSteps entries, then seeks. Skipping a key with many versions, which
// usually sit in one or two children, so costs a seek of those children
// rather than of every memtable and level.
func (m *mergingIter) skipTo(target base.InternalKey) bool {
	for len(m.heap) > 0 {
		top := m.heap[0]
		c := &m.children[top]
		if base.Compare(c.key, target) >= 0 {
			return true
		}
		ok := false
		for range skipSteps {
			if ok = c.iter.Next(); !ok {
				break
			}
			if c.key = c.iter.Key(); base.Compare(c.key, target) >= 0 {
				break
			}
		}
		if ok && base.Compare(c.key, target) < 0 {
			if ok = c.iter.SeekGE(target); ok {
				c.key = c.iter.Key()
			}
		}
		if !ok {
			if err := c.iter.Error(); err != nil {
				m.err = err
				m.heap = m.heap[:0]
				return false
			}
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		m.down(0)
	}
	return false
}

// Prev moves backward; only after Last or SeekLT.
func (m *mergingIter) Prev() bool { return m.step() }

// Valid reports whether the iterator is at an entry.
func (m *mergingIter) Valid() bool { return len(m.heap) > 0 }

// Key returns the current entry's key.
func (m *mergingIter) Key() base.InternalKey { return m.children[m.heap[0]].key }

// Value returns the current entry's value.
func (m *mergingIter) Value() []byte { return m.children[m.heap[0]].iter.Value() }

// Error returns the first error a child stopped with.
func (m *mergingIter) Error() error { return m.err }

// Close closes every child and returns the first error.
func (m *mergingIter) Close() error {
	err := m.err
	for i := range m.children {
		if c := m.children[i].iter; c != nil {
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}
		m.children[i] = mergeChild{}
	}
	m.heap = m.heap[:0]
	m.children = m.children[:0]
	m.err = nil
	return err
}
