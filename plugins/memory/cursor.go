package memory

// cursor walks the versions of an immutable tree in one direction, holding
// the path from the root to its position.
//
// The top frame of the stack is the position: the version items[i] of its
// node. A frame below the top records the child the walk descended into,
// in terms of the item it will stand on when it climbs back: going
// forward, a frame {n, i} below the top is inside n.children[i] and
// returns to n.items[i]; going backward it is inside n.children[i+1] and
// returns to n.items[i]. A forward cursor uses only the forward methods
// and a backward one only the backward methods, so the two conventions
// never mix.
type cursor struct {
	stack []frame
}

type frame struct {
	n *node
	i int
}

func (c *cursor) valid() bool { return len(c.stack) > 0 }

// item returns the version the cursor stands on; the cursor must be valid.
func (c *cursor) item() *version {
	f := &c.stack[len(c.stack)-1]
	return &f.n.items[f.i]
}

func (c *cursor) reset() { c.stack = c.stack[:0] }

// Forward movement.

// first moves to the smallest version.
func (c *cursor) first(root *node) {
	c.reset()
	for n := root; n != nil; {
		c.stack = append(c.stack, frame{n, 0})
		if n.leaf() {
			break
		}
		n = n.children[0]
	}
	c.climbForward()
}

// seekGE moves to the first version at or after (key, ts).
func (c *cursor) seekGE(root *node, key []byte, ts uint64) {
	c.reset()
	p := at(key, ts)
	for n := root; n != nil; {
		i, found := n.search(p)
		c.stack = append(c.stack, frame{n, i})
		if found || n.leaf() {
			break
		}
		n = n.children[i]
	}
	c.climbForward()
}

// next moves to the following version.
func (c *cursor) next() {
	top := &c.stack[len(c.stack)-1]
	top.i++
	if top.n.leaf() {
		c.climbForward()
		return
	}
	// The successor of an inner item is the smallest version of the child
	// after it. Non-root nodes are never empty, so the leaf reached holds
	// it.
	for n := top.n.children[top.i]; ; n = n.children[0] {
		c.stack = append(c.stack, frame{n, 0})
		if n.leaf() {
			return
		}
	}
}

// climbForward pops the frames that have run off the end of their node.
func (c *cursor) climbForward() {
	for len(c.stack) > 0 {
		f := c.stack[len(c.stack)-1]
		if f.i < len(f.n.items) {
			return
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
}

// Backward movement.

// last moves to the largest version.
func (c *cursor) last(root *node) {
	c.reset()
	for n := root; n != nil; {
		c.stack = append(c.stack, frame{n, len(n.items) - 1})
		if n.leaf() {
			break
		}
		n = n.children[len(n.children)-1]
	}
	c.climbBackward()
}

// seekLT moves to the last version strictly before (key, ts).
func (c *cursor) seekLT(root *node, key []byte, ts uint64) {
	c.reset()
	p := at(key, ts)
	for n := root; n != nil; {
		i, _ := n.search(p)
		// items[:i] order before (key, ts): the answer is in children[i]
		// or, failing that, items[i-1].
		c.stack = append(c.stack, frame{n, i - 1})
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	c.climbBackward()
}

// prev moves to the preceding version.
func (c *cursor) prev() {
	top := &c.stack[len(c.stack)-1]
	if top.n.leaf() {
		top.i--
		c.climbBackward()
		return
	}
	// The predecessor of an inner item is the largest version of the child
	// before it.
	n := top.n.children[top.i]
	top.i--
	for ; ; n = n.children[len(n.children)-1] {
		c.stack = append(c.stack, frame{n, len(n.items) - 1})
		if n.leaf() {
			return
		}
	}
}

// climbBackward pops the frames that have run off the start of their node.
func (c *cursor) climbBackward() {
	for len(c.stack) > 0 {
		if c.stack[len(c.stack)-1].i >= 0 {
			return
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
}
