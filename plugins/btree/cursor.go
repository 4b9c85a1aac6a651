package btree

import (
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// cursor walks the versions of one tree version in order, holding the path
// from the root to the current leaf. The images it holds are immutable
// (cache values, branch table entries, or the memory map of a pinned
// version), so a cursor needs no lock; its tree version must stay pinned
// while it is used.
//
// The path holds branches by pointer (parsed views kept in the branch
// table) and the leaf apart, so a descent copies two words per level: a
// seek runs one descent per short scan.
type cursor struct {
	p *pager
	v *treeVersion
	// path holds the branches from the root down to the leaf's parent,
	// each with the index of the child taken.
	path []bframe
	buf  [4]bframe // enough for a billion versions; deeper trees grow path
	// l is the current leaf and li the position in it, valid while the
	// cursor is positioned (the last move returned true).
	l   page.Leaf
	li  int
	err error
}

// bframe is one branch of the path and the index of the child taken.
type bframe struct {
	b *page.Branch
	i int
}

func (c *cursor) init(p *pager, v *treeVersion) {
	c.p, c.v, c.err = p, v, nil
	c.path = c.buf[:0]
}

// leaf returns the current leaf; idx the position in it.
func (c *cursor) leaf() *page.Leaf { return &c.l }
func (c *cursor) idx() int         { return c.li }

// How descend picks the child or entry of each node it reads.
type pickMode uint8

const (
	pickFirst pickMode = iota // the first child / entry
	pickLast                  // the last child / entry
	pickGE                    // the child holding (key, ts); the first entry at or after it
	pickLT                    // the child holding the last version before (key, ts); that entry
)

// descend reads nodes from (id, gen) at level down to a leaf, pushing each
// branch positioned by mode and making the leaf current. A leaf position
// may end up Len (past the end) or -1 (before the start); the caller moves
// on from there.
func (c *cursor) descend(id, gen uint64, level int, mode pickMode, key []byte, ts uint64) bool {
	for ; level > 0; level-- {
		b, err := c.p.branch(c.v, id, gen)
		if err != nil {
			c.err = err
			return false
		}
		i := 0
		switch mode {
		case pickLast:
			i = b.Len() - 1
		case pickGE:
			i = b.Search(key, ts)
		case pickLT:
			i = b.SearchLT(key, ts)
		}
		c.path = append(c.path, bframe{b: b, i: i})
		id, gen = b.ChildRef(i)
	}
	n, err := c.p.readNode(c.v, id, gen, page.TypeLeaf)
	if err != nil {
		c.err = err
		return false
	}
	l, err := page.ParseLeaf(n.img)
	if err != nil {
		c.err = c.p.corrupt(id, "%w", err)
		return false
	}
	i := 0
	switch mode {
	case pickLast:
		i = l.Len() - 1
	case pickGE:
		i = l.SearchGE(key, ts)
	case pickLT:
		i = l.SearchGE(key, ts) - 1
	}
	c.l, c.li = l, i
	return true
}

// seekGE positions the cursor at the first version at or after (key, ts).
func (c *cursor) seekGE(key []byte, ts uint64) (bool, error) {
	c.path = c.path[:0]
	if c.v.root == 0 {
		return false, nil
	}
	if !c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickGE, key, ts) {
		return false, c.err
	}
	if c.li >= c.l.Len() {
		return c.nextLeaf(), c.err
	}
	return true, nil
}

// seekLT positions the cursor at the last version before (key, ts).
func (c *cursor) seekLT(key []byte, ts uint64) (bool, error) {
	c.path = c.path[:0]
	if c.v.root == 0 {
		return false, nil
	}
	if !c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickLT, key, ts) {
		return false, c.err
	}
	if c.li < 0 {
		return c.prevLeaf(), c.err
	}
	return true, nil
}

// first positions the cursor at the first version.
func (c *cursor) first() (bool, error) {
	c.path = c.path[:0]
	if c.v.root == 0 {
		return false, nil
	}
	ok := c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickFirst, nil, 0)
	return ok, c.err
}

// last positions the cursor at the last version.
func (c *cursor) last() (bool, error) {
	c.path = c.path[:0]
	if c.v.root == 0 {
		return false, nil
	}
	ok := c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickLast, nil, 0)
	return ok, c.err
}

// next moves to the next version.
func (c *cursor) next() bool {
	c.li++
	if c.li < c.l.Len() {
		return true
	}
	return c.nextLeaf()
}

// prev moves to the previous version.
func (c *cursor) prev() bool {
	c.li--
	if c.li >= 0 {
		return true
	}
	return c.prevLeaf()
}

// nextLeaf moves to the first version of the next leaf.
func (c *cursor) nextLeaf() bool {
	for len(c.path) > 0 {
		f := &c.path[len(c.path)-1]
		if f.i+1 < f.b.Len() {
			f.i++
			id, gen := f.b.ChildRef(f.i)
			return c.descend(id, gen, c.v.height-1-len(c.path), pickFirst, nil, 0)
		}
		c.path = c.path[:len(c.path)-1]
	}
	return false
}

// prevLeaf moves to the last version of the previous leaf.
func (c *cursor) prevLeaf() bool {
	for len(c.path) > 0 {
		f := &c.path[len(c.path)-1]
		if f.i > 0 {
			f.i--
			id, gen := f.b.ChildRef(f.i)
			return c.descend(id, gen, c.v.height-1-len(c.path), pickLast, nil, 0)
		}
		c.path = c.path[:len(c.path)-1]
	}
	return false
}
