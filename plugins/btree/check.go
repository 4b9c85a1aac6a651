package btree

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// maxCheckProblems bounds how many problems Check reports, so a thoroughly
// broken file does not produce a million errors.
const maxCheckProblems = 32

// Check verifies, under the commit lock (so no transaction runs
// meanwhile):
//
//   - the meta page of the current generation;
//   - every node reachable from it, read from the file (not the cache):
//     checksums, page ids, generations, node images, the order of keys
//     within nodes and across them, every key within its parent's bounds,
//     every ts at or below the durable ts, leaves all at one depth, and
//     the version count of the meta;
//   - every out-of-line value and free-list record the same way;
//   - that no page is used twice, and that every page of the file is
//     exactly one of reachable, free or waiting for readers — so the free
//     list holds no reachable page and no page leaks;
//   - that the free list on disk is the one in memory;
//   - the order and ts of the versions in the write buffers.
//
// It returns every problem found, joined; each is a
// *interfaces.CorruptionError naming the file and the page's offset (an
// empty File for problems in memory).
func (e *Engine) Check() error {
	if err := e.checkOpen("check"); err != nil {
		return err
	}
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	s := e.acquire()
	defer e.release(s)
	c := &checker{e: e, p: e.p, v: s.tree, used: make([]bool, s.tree.pageCount)}
	c.checkMeta()
	if c.v.root != 0 {
		c.walk(c.v.root, c.v.rootGen, c.v.height-1, nil, 0, false, infBound)
		if c.versions != c.v.versions {
			c.fail(-1, "tree holds %d versions, its meta counts %d", c.versions, c.v.versions)
		}
	}
	c.checkFreeList()
	c.checkMemtables(s)
	return errors.Join(c.errs...)
}

type checker struct {
	e        *Engine
	p        *pager
	v        *treeVersion
	used     []bool
	errs     []error
	versions uint64
	leafLvl  int
	prevKey  []byte
	prevTs   uint64
	havePrev bool
}

// fail records a problem at page id (-1: not about one page).
func (c *checker) fail(id int64, format string, args ...any) {
	if len(c.errs) >= maxCheckProblems {
		return
	}
	off := int64(-1)
	if id >= 0 {
		off = id * int64(c.p.pageSize)
	}
	c.errs = append(c.errs, interfaces.Corruptf(c.p.path, off, "lightning/btree: check: "+format, args...))
}

func (c *checker) failErr(err error) {
	if len(c.errs) < maxCheckProblems {
		c.errs = append(c.errs, err)
	}
}

// use marks pages as reachable, reporting a page reached twice.
func (c *checker) use(ids ...uint64) {
	for _, id := range ids {
		if id < 2 || id >= uint64(len(c.used)) {
			c.fail(int64(id), "page %d is outside [2, %d)", id, len(c.used))
			continue
		}
		if c.used[id] {
			c.fail(int64(id), "page %d is used twice", id)
		}
		c.used[id] = true
	}
}

func (c *checker) checkMeta() {
	buf := make([]byte, c.p.pageSize)
	slot := c.v.gen % 2
	if _, err := c.p.f.ReadAt(buf, int64(slot)*int64(c.p.pageSize)); err != nil {
		c.failErr(fmt.Errorf("lightning/btree: check: read meta: %w", err))
		return
	}
	m, err := page.DecodeMeta(buf, slot)
	if err != nil {
		c.fail(int64(slot), "meta page %d: %v", slot, err)
		return
	}
	if m != c.e.meta {
		c.fail(int64(slot), "meta page %d (generation %d) differs from the meta in memory (generation %d)", slot, m.Gen, c.e.meta.Gen)
	}
	if m.Gen != c.v.gen || m.Root != c.v.root || m.PageCount != c.v.pageCount {
		c.fail(int64(slot), "meta page %d does not describe the current tree", slot)
	}
}

// walk checks the subtree at (id, gen) on level, whose versions must lie
// in [lo, hi).
func (c *checker) walk(id, gen uint64, level int, loKey []byte, loTs uint64, hasLo bool, hi bound) {
	if len(c.errs) >= maxCheckProblems {
		return
	}
	typ := page.TypeBranch
	if level == 0 {
		typ = page.TypeLeaf
	}
	img, more, err := c.p.readBlob(c.v, id, gen, typ)
	if err != nil {
		c.failErr(err)
		return
	}
	c.use(id)
	c.use(more...)
	if err := validateImage(img, typ); err != nil {
		c.fail(int64(id), "%v page %d: %v", typ, id, err)
		return
	}
	if level == 0 {
		c.leaf(id, img, loKey, loTs, hasLo, hi)
		return
	}
	b, _ := page.ParseBranch(img)
	for i := range b.Len() {
		ch := b.Child(i)
		cLo, cLoTs, cHasLo := loKey, loTs, hasLo
		if i > 0 {
			cLo, cLoTs = b.AppendSeparator(nil, i)
			cHasLo = true
			if hasLo && page.Compare(cLo, cLoTs, loKey, loTs) <= 0 {
				c.fail(int64(id), "branch page %d: separator %d at or below the branch's lower bound", id, i)
			}
			if !hi.above(cLo, cLoTs) {
				c.fail(int64(id), "branch page %d: separator %d at or above the branch's upper bound", id, i)
			}
		}
		cHi := hi
		if i+1 < b.Len() {
			k, ts := b.AppendSeparator(nil, i+1)
			cHi = bound{key: k, ts: ts}
		}
		if ch.Gen > c.v.gen {
			c.fail(int64(id), "branch page %d: child %d has generation %d, newer than the tree's %d", id, i, ch.Gen, c.v.gen)
			continue
		}
		c.walk(ch.Page, ch.Gen, level-1, cLo, cLoTs, cHasLo, cHi)
	}
}

func (c *checker) leaf(id uint64, img []byte, loKey []byte, loTs uint64, hasLo bool, hi bound) {
	l, _ := page.ParseLeaf(img)
	var key []byte
	for i := range l.Len() {
		key = l.AppendKey(key[:0], i)
		en := l.Entry(i)
		c.versions++
		switch {
		case hasLo && page.Compare(key, en.Ts, loKey, loTs) < 0:
			c.fail(int64(id), "leaf page %d: version %d is below its lower bound", id, i)
		case !hi.above(key, en.Ts):
			c.fail(int64(id), "leaf page %d: version %d is at or above its upper bound", id, i)
		case c.havePrev && page.Compare(c.prevKey, c.prevTs, key, en.Ts) >= 0:
			c.fail(int64(id), "leaf page %d: version %d is out of order with the previous leaf", id, i)
		case en.Ts > c.v.durableTs:
			c.fail(int64(id), "leaf page %d: version %d has ts %d, above the durable ts %d", id, i, en.Ts, c.v.durableTs)
		}
		c.prevKey, c.prevTs, c.havePrev = append(c.prevKey[:0], key...), en.Ts, true
		if en.Overflow() {
			if en.Ovf.Gen > c.v.gen {
				c.fail(int64(id), "leaf page %d: value of version %d has a future generation", id, i)
				continue
			}
			data, more, err := c.p.readBlob(c.v, en.Ovf.Page, en.Ovf.Gen, page.TypeValue)
			if err != nil {
				c.failErr(err)
				continue
			}
			c.use(en.Ovf.Page)
			c.use(more...)
			if len(data) != int(en.Ovf.Len) {
				c.fail(int64(en.Ovf.Page), "value of %d bytes, its entry in leaf page %d says %d", len(data), id, en.Ovf.Len)
			}
		}
	}
}

// checkFreeList replays the free-list chain from the file, compares it with
// the free list in memory, and accounts for every page.
func (c *checker) checkFreeList() {
	fl := &c.e.fl
	m := c.e.meta
	set := map[uint64]bool{}
	var recs []page.FreeRecord
	var chain []uint64
	for id, gen := m.FreeHead, m.FreeHeadGen; id != 0 && len(recs) <= int(m.FreeRecords); {
		data, more, err := c.p.readBlob(c.v, id, gen, page.TypeFreelist)
		if err != nil {
			c.failErr(err)
			return
		}
		c.use(id)
		c.use(more...)
		chain = append(chain, id)
		chain = append(chain, more...)
		r, err := page.DecodeFreeRecord(data)
		if err != nil {
			c.fail(int64(id), "free-list record: %v", err)
			return
		}
		recs = append(recs, r)
		if r.Kind == page.FreeSnapshot {
			break
		}
		id, gen = r.Prev, r.PrevGen
	}
	if len(recs) != int(m.FreeRecords) {
		c.fail(-1, "free-list chain of %d records, its meta counts %d", len(recs), m.FreeRecords)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		for _, id := range recs[i].Removes {
			delete(set, id)
		}
		for _, id := range recs[i].Adds {
			set[id] = true
		}
		if t := recs[i].TruncateTo; t != 0 {
			for id := range set {
				if id >= t {
					delete(set, id)
				}
			}
		}
	}
	for _, id := range chain {
		delete(set, id)
	}
	disk := make([]uint64, 0, len(set))
	for id := range set {
		disk = append(disk, id)
	}
	slices.Sort(disk)
	if mem := fl.persisted(); !slices.Equal(disk, mem) {
		c.fail(-1, "free list on disk has %d pages, in memory %d (free %d, waiting %d)", len(disk), len(mem), fl.free.count, fl.pendingCount())
	}
	pending := map[uint64]bool{}
	for _, p := range fl.pending {
		for _, id := range p.ids {
			if pending[id] {
				c.fail(int64(id), "page %d is waiting to be freed twice", id)
			}
			pending[id] = true
		}
	}
	for id := uint64(2); id < uint64(len(c.used)); id++ {
		free, wait := fl.free.has(id), pending[id]
		n := 0
		for _, b := range []bool{c.used[id], free, wait} {
			if b {
				n++
			}
		}
		switch {
		case n == 0:
			c.fail(int64(id), "page %d is neither reachable nor free (a leak)", id)
		case n > 1:
			c.fail(int64(id), "page %d is in %d states at once (reachable %v, free %v, waiting %v)", id, n, c.used[id], free, wait)
		}
	}
	for _, id := range fl.free.appendIDs(nil) {
		if id >= uint64(len(c.used)) {
			c.fail(int64(id), "free page %d is beyond the page count %d", id, len(c.used))
		}
	}
}

// maxFrozenTs returns the highest ts in frozen (0 when empty).
func maxFrozenTs(frozen []*memtable) uint64 {
	top := uint64(0)
	for _, m := range frozen {
		top = max(top, m.maxTs.Load())
	}
	return top
}

// checkMemtables checks the order and ts of the write buffers.
func (c *checker) checkMemtables(s *readState) {
	applied := c.e.appliedTs.Load()
	floor := c.v.durableTs
	mems := append([]*memtable{s.mem, s.big}, s.frozen...)
	for i := len(mems) - 1; i >= 0; i-- {
		if i == 0 {
			// mem against the floor below big: a move in progress (which
			// Check does not wait for) may have copied versions of mem
			// into big already.
			floor = max(c.v.durableTs, maxFrozenTs(s.frozen))
		}
		var prev *memNode
		top := uint64(0)
		for n := mems[i].first(); n != nil; n = n.next() {
			if n.ts > applied {
				// An Apply in flight: it is not checked.
				continue
			}
			switch {
			case n.ts <= floor:
				c.errs = append(c.errs, interfaces.Corruptf("", -1, "lightning/btree: check: write buffer holds (%q, %d), not above the older versions' ts %d", n.key, n.ts, floor))
			case n.kind != interfaces.KindSet && n.kind != interfaces.KindDelete:
				c.errs = append(c.errs, interfaces.Corruptf("", -1, "lightning/btree: check: write buffer holds kind %d", n.kind))
			case prev != nil && page.Compare(prev.key, prev.ts, n.key, n.ts) >= 0:
				c.errs = append(c.errs, interfaces.Corruptf("", -1, "lightning/btree: check: write buffer order broken at (%q, %d)", n.key, n.ts))
			}
			top = max(top, n.ts)
			prev = n
			if len(c.errs) >= maxCheckProblems {
				return
			}
		}
		floor = max(floor, top)
	}
}
