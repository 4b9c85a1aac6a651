package memory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/lightningdb/lightning/interfaces"
)

// maxCheckProblems bounds how many problems Check reports from one
// structure, so a thoroughly broken tree does not produce a million
// errors.
const maxCheckProblems = 16

// Check verifies the published tree's invariants (order, node shapes,
// counts, ts and kinds) and re-reads and verifies the snapshot file
// (checksums, structure, and that its ts is DurableTs). It returns every
// problem found, joined; each is a *interfaces.CorruptionError, with an
// empty File for problems in memory.
func (e *Engine) Check() error {
	if err := e.checkOpen("check"); err != nil {
		return err
	}
	errs := checkTree(e.cur.Load())
	errs = append(errs, e.checkSnapshot()...)
	return errors.Join(errs...)
}

// checkTree verifies st.
func checkTree(st *state) []error {
	c := treeChecker{st: st, leafDepth: -1}
	if st.root != nil {
		if len(st.root.items) == 0 {
			c.fail("root node is empty")
		}
		c.node(st.root, 0)
	}
	if c.count != st.count {
		c.fail("tree holds %d versions, state counts %d", c.count, st.count)
	}
	if c.bytes != st.bytes {
		c.fail("tree holds %d key and value bytes, state counts %d", c.bytes, st.bytes)
	}
	return c.errs
}

type treeChecker struct {
	st        *state
	errs      []error
	leafDepth int
	count     int
	bytes     int64
	prev      *version
}

func (c *treeChecker) fail(format string, args ...any) {
	if len(c.errs) < maxCheckProblems {
		c.errs = append(c.errs, interfaces.Corruptf("", -1, "lightning/memory: in-memory tree: "+format, args...))
	}
}

// node checks n and its subtree in order, at depth.
func (c *treeChecker) node(n *node, depth int) {
	if len(c.errs) >= maxCheckProblems {
		return
	}
	if len(n.items) > maxItems {
		c.fail("node at depth %d holds %d versions, more than %d", depth, len(n.items), maxItems)
	}
	if depth > 0 && len(n.items) < minItems {
		c.fail("node at depth %d holds %d versions, fewer than %d", depth, len(n.items), minItems)
	}
	if n.leaf() {
		if c.leafDepth < 0 {
			c.leafDepth = depth
		} else if c.leafDepth != depth {
			c.fail("leaves at depths %d and %d", c.leafDepth, depth)
		}
		for i := range n.items {
			c.version(&n.items[i])
		}
		return
	}
	if len(n.children) != len(n.items)+1 {
		c.fail("node at depth %d has %d versions and %d children", depth, len(n.items), len(n.children))
		return
	}
	for i, child := range n.children {
		if child == nil {
			c.fail("node at depth %d has a nil child", depth)
			return
		}
		c.node(child, depth+1)
		if i < len(n.items) {
			c.version(&n.items[i])
		}
	}
}

// version checks v, the next version in order.
func (c *treeChecker) version(v *version) {
	c.count++
	c.bytes += int64(len(v.data))
	switch {
	case v.ts == 0 || v.ts > c.st.appliedTs:
		c.fail("version (%q, %d) has a ts outside [1, applied ts %d]", v.key(), v.ts, c.st.appliedTs)
	case v.kind != interfaces.KindSet && v.kind != interfaces.KindDelete:
		c.fail("version (%q, %d) has kind %d", v.key(), v.ts, v.kind)
	case v.kind == interfaces.KindDelete && len(v.value()) != 0:
		c.fail("tombstone (%q, %d) holds a value", v.key(), v.ts)
	case int(v.keyLen) > len(v.data) || v.keyLen > interfaces.MaxKeySize:
		c.fail("version at ts %d has a key length of %d", v.ts, v.keyLen)
	case v.prefix != keyPrefix(v.key()):
		c.fail("version (%q, %d) has a stale key prefix %#x", v.key(), v.ts, v.prefix)
	}
	if p := c.prev; p != nil {
		if d := bytes.Compare(p.key(), v.key()); d > 0 || (d == 0 && p.ts <= v.ts) {
			c.fail("version (%q, %d) follows (%q, %d)", v.key(), v.ts, p.key(), p.ts)
		}
	}
	c.prev = v
}

// checkSnapshot re-reads the snapshot file, if there is one.
func (e *Engine) checkSnapshot() []error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	f, err := e.fs.Open(e.snapPath)
	if errors.Is(err, fs.ErrNotExist) {
		if d := e.durableTs.Load(); d != 0 {
			return []error{interfaces.Corruptf(e.snapPath, -1, "lightning/memory: snapshot is missing, durable ts is %d", d)}
		}
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("lightning/memory: check: open snapshot: %w", err)}
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return []error{fmt.Errorf("lightning/memory: check: size of %s: %w", e.snapPath, err)}
	}
	info, err := readSnapshot(f, size, e.snapPath, e.cipher, e.codecs,
		func([]byte, uint64, interfaces.EntryKind, []byte) error { return nil })
	if err != nil {
		return []error{fmt.Errorf("lightning/memory: check: %w", err)}
	}
	if d := e.durableTs.Load(); info.header.durableTs != d {
		return []error{interfaces.Corruptf(e.snapPath, 16, "lightning/memory: snapshot ts %d, durable ts %d", info.header.durableTs, d)}
	}
	return nil
}
