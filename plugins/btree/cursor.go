package btree

import (
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// cursor walks the versions of one tree version in order, holding the path
// from the root to the current leaf. The images it holds are immutable
// (cache values, or the memory map of a pinned version), so a cursor needs
// no lock; its tree version must stay pinned while it is used.
type cursor struct {
	p      *pager
	v      *treeVersion
	frames []frame
	buf    [4]frame // enough for a billion versions; deeper trees grow frames
	err    error
}

// frame is one node of the path and the position in it.
type frame struct {
	leaf bool
	b    page.Branch
	l    page.Leaf
	i    int
}

func (c *cursor) init(p *pager, v *treeVersion) {
	c.p, c.v, c.err = p, v, nil
	c.frames = c.buf[:0]
}

// leaf returns the current leaf; idx the position in it.
func (c *cursor) leaf() *page.Leaf { return &c.frames[len(c.frames)-1].l }
func (c *cursor) idx() int         { return c.frames[len(c.frames)-1].i }

// How descend picks the child or entry of each node it reads.
type pickMode uint8

const (
	pickFirst pickMode = iota // the first child / entry
	pickLast                  // the last child / entry
	pickGE                    // the child holding (key, ts); the first entry at or after it
	pickLT                    // the child holding the last version before (key, ts); that entry
)

// descend reads nodes from (id, gen) at level down to a leaf, pushing each
// positioned by mode. A leaf position may end up Len (past the end) or -1
// (before the start); the caller moves on from there.
func (c *cursor) descend(id, gen uint64, level int, mode pickMode, key []byte, ts uint64) bool {
	for ; level >= 0; level-- {
		if level == 0 {
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
			c.frames = append(c.frames, frame{leaf: true, l: l, i: i})
			return true
		}
		n, err := c.p.readNode(c.v, id, gen, page.TypeBranch)
		if err != nil {
			c.err = err
			return false
		}
		b, err := page.ParseBranch(n.img)
		if err != nil {
			c.err = c.p.corrupt(id, "%w", err)
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
		c.frames = append(c.frames, frame{b: b, i: i})
		ch := b.Child(i)
		id, gen = ch.Page, ch.Gen
	}
	return true
}

// seekGE positions the cursor at the first version at or after (key, ts).
func (c *cursor) seekGE(key []byte, ts uint64) (bool, error) {
	c.frames = c.frames[:0]
	if c.v.root == 0 {
		return false, nil
	}
	if !c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickGE, key, ts) {
		return false, c.err
	}
	if c.idx() >= c.leaf().Len() {
		return c.nextLeaf(), c.err
	}
	return true, nil
}

// seekLT positions the cursor at the last version before (key, ts).
func (c *cursor) seekLT(key []byte, ts uint64) (bool, error) {
	c.frames = c.frames[:0]
	if c.v.root == 0 {
		return false, nil
	}
	if !c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickLT, key, ts) {
		return false, c.err
	}
	if c.idx() < 0 {
		return c.prevLeaf(), c.err
	}
	return true, nil
}

// first positions the cursor at the first version.
func (c *cursor) first() (bool, error) {
	c.frames = c.frames[:0]
	if c.v.root == 0 {
		return false, nil
	}
	ok := c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickFirst, nil, 0)
	return ok, c.err
}

// last positions the cursor at the last version.
func (c *cursor) last() (bool, error) {
	c.frames = c.frames[:0]
	if c.v.root == 0 {
		return false, nil
	}
	ok := c.descend(c.v.root, c.v.rootGen, c.v.height-1, pickLast, nil, 0)
	return ok, c.err
}

// next moves to the next version.
func (c *cursor) next() bool {
	f := &c.frames[len(c.frames)-1]
	f.i++
	if f.i < f.l.Len() {
		return true
	}
	return c.nextLeaf()
}

// prev moves to the previous version.
func (c *cursor) prev() bool {
	f := &c.frames[len(c.frames)-1]
	f.i--
	if f.i >= 0 {
		return true
	}
	return c.prevLeaf()
}

// nextLeaf moves to the first version of the next leaf.
func (c *cursor) nextLeaf() bool {
	c.frames = c.frames[:len(c.frames)-1]
	for len(c.frames) > 0 {
		f := &c.frames[len(c.frames)-1]
		if f.i+1 < f.b.Len() {
			f.i++
			ch := f.b.Child(f.i)
			return c.descend(ch.Page, ch.Gen, c.v.height-1-len(c.frames), pickFirst, nil, 0)
		}
		c.frames = c.frames[:len(c.frames)-1]
	}
	return false
}

// prevLeaf moves to the last version of the previous leaf.
func (c *cursor) prevLeaf() bool {
	c.frames = c.frames[:len(c.frames)-1]
	for len(c.frames) > 0 {
		f := &c.frames[len(c.frames)-1]
		if f.i > 0 {
			f.i--
			ch := f.b.Child(f.i)
			return c.descend(ch.Page, ch.Gen, c.v.height-1-len(c.frames), pickLast, nil, 0)
		}
		c.frames = c.frames[:len(c.frames)-1]
	}
	return false
}
