package btree

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// Iteration merges the write buffers and the tree of one read state, each
// a source of versions in tree order, and turns the merged stream into
// what interfaces.Iterator promises: the newest visible version of each key
// (or every version), within bounds, forward or in reverse.

// source is one ordered stream of versions. A source moves in both
// directions (the merge positions every source, then moves one way).
type source interface {
	seekGE(key []byte, ts uint64) bool
	seekLT(key []byte, ts uint64) bool
	first() bool
	last() bool
	next() bool
	prev() bool
	valid() bool
	// key, ts and entry describe the current version; key is valid until
	// the source moves.
	key() []byte
	ts() uint64
	entry() (kind interfaces.EntryKind, inline []byte, ovf page.ValueRef)
	err() error
}

// memSource walks a memtable.
type memSource struct {
	m *memtable
	n *memNode
}

func (s *memSource) seekGE(key []byte, ts uint64) bool { s.n = s.m.seekGE(key, ts); return s.n != nil }
func (s *memSource) seekLT(key []byte, ts uint64) bool { s.n = s.m.seekLT(key, ts); return s.n != nil }
func (s *memSource) first() bool                       { s.n = s.m.first(); return s.n != nil }
func (s *memSource) last() bool                        { s.n = s.m.last(); return s.n != nil }
func (s *memSource) next() bool                        { s.n = s.n.next(); return s.n != nil }
func (s *memSource) prev() bool                        { s.n = s.m.seekLT(s.n.key, s.n.ts); return s.n != nil }
func (s *memSource) valid() bool                       { return s.n != nil }
func (s *memSource) key() []byte                       { return s.n.key }
func (s *memSource) ts() uint64                        { return s.n.ts }
func (s *memSource) err() error                        { return nil }
func (s *memSource) entry() (interfaces.EntryKind, []byte, page.ValueRef) {
	return s.n.kind, s.n.value, page.ValueRef{}
}

// treeSource walks a tree version with a cursor. It decodes the entry it
// stands on once per move, into two alternating key buffers, so the key of
// the previous position stays valid for one move (the iterator compares
// against it when it skips a key's older versions).
type treeSource struct {
	c     cursor
	ok    bool
	kbufs [2][]byte
	// tkey is the iterator's key buffer on its fast path (forwardTree):
	// the prefix of the current leaf, then the suffix of the current key
	// (see leafRun.fresh). It lives here to be pooled with the source.
	tkey []byte
	kb   int
	k    []byte
	t    uint64
	kind interfaces.EntryKind
	val  []byte
	ovf  page.ValueRef
}

func (s *treeSource) set(ok bool, err error) bool {
	s.ok = ok && err == nil
	if err != nil && s.c.err == nil {
		s.c.err = err
	}
	if s.ok {
		l := s.c.leaf()
		e := l.Entry(s.c.idx())
		s.kb ^= 1
		buf := append(append(s.kbufs[s.kb][:0], l.Prefix()...), e.Key...)
		s.kbufs[s.kb] = buf
		s.k, s.t, s.kind, s.val, s.ovf = buf, e.Ts, e.Kind, e.Value, e.Ovf
	}
	return s.ok
}

func (s *treeSource) seekGE(key []byte, ts uint64) bool { return s.set(s.c.seekGE(key, ts)) }
func (s *treeSource) seekLT(key []byte, ts uint64) bool { return s.set(s.c.seekLT(key, ts)) }
func (s *treeSource) first() bool                       { return s.set(s.c.first()) }
func (s *treeSource) last() bool                        { return s.set(s.c.last()) }
func (s *treeSource) next() bool                        { return s.set(s.c.next(), s.c.err) }
func (s *treeSource) prev() bool                        { return s.set(s.c.prev(), s.c.err) }
func (s *treeSource) valid() bool                       { return s.ok }
func (s *treeSource) err() error                        { return s.c.err }
func (s *treeSource) key() []byte                       { return s.k }
func (s *treeSource) ts() uint64                        { return s.t }

func (s *treeSource) entry() (interfaces.EntryKind, []byte, page.ValueRef) {
	return s.kind, s.val, s.ovf
}

// merger merges sources, moving in one direction at a time.
type merger struct {
	srcs    []source
	cur     int // index of the current source, -1 when exhausted
	reverse bool
}

// pick makes the smallest (forward) or largest (reverse) source current.
func (m *merger) pick() bool {
	m.cur = -1
	var ck []byte
	var cts uint64
	for i, s := range m.srcs {
		if !s.valid() {
			continue
		}
		if m.cur < 0 {
			m.cur, ck, cts = i, s.key(), s.ts()
			continue
		}
		c := page.Compare(s.key(), s.ts(), ck, cts)
		if (c < 0) != m.reverse && c != 0 {
			m.cur, ck, cts = i, s.key(), s.ts()
		}
	}
	return m.cur >= 0
}

func (m *merger) valid() bool { return m.cur >= 0 }
func (m *merger) src() source { return m.srcs[m.cur] }

func (m *merger) err() error {
	for _, s := range m.srcs {
		if err := s.err(); err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) seekGE(key []byte, ts uint64) bool {
	for _, s := range m.srcs {
		s.seekGE(key, ts)
	}
	return m.pick()
}

func (m *merger) seekLT(key []byte, ts uint64) bool {
	for _, s := range m.srcs {
		s.seekLT(key, ts)
	}
	return m.pick()
}

func (m *merger) first() bool {
	for _, s := range m.srcs {
		s.first()
	}
	return m.pick()
}

func (m *merger) last() bool {
	for _, s := range m.srcs {
		s.last()
	}
	return m.pick()
}

// skipPast moves every source standing on a version of key to the first
// entry after key's versions, then picks; forward only. (key, 0) sorts
// after every version of key, since no version has ts 0.
func (m *merger) skipPast(key []byte) bool {
	for _, s := range m.srcs {
		if s.valid() && bytes.Equal(s.key(), key) {
			s.seekGE(key, 0)
		}
	}
	return m.pick()
}

// step moves the current source one step in the merger's direction.
func (m *merger) step() bool {
	s := m.srcs[m.cur]
	if m.reverse {
		s.prev()
	} else {
		s.next()
	}
	if len(m.srcs) == 1 {
		if s.valid() {
			return true
		}
		m.cur = -1
		return false
	}
	return m.pick()
}

// iterState is an iterator's state over a pinned read state. States are
// pooled (iterPool), buffers and all: a short scan opens an iterator per
// scan, and allocating one each time cost more than its seek. The handle
// NewIterator returns (iterator) owns a state until Close gives it back.
type iterState struct {
	e      *Engine
	s      *readState
	snapTs uint64
	lower  []byte // effective bounds, owned; nil for none
	upper  []byte
	empty  bool // the bounds admit no key
	all    bool
	rev    bool
	m      merger

	mem    []memSource
	memArr [2 + DefaultMaxFrozenBuffers]memSource
	srcArr [3 + DefaultMaxFrozenBuffers]source
	// tree is the tree's source, treeBuf, or nil for an empty tree.
	tree    *treeSource
	treeBuf treeSource
	// treeOnly: the only source is the tree and the iterator moves
	// forward, so moves run straight on the cursor (forwardTree).
	treeOnly bool
	// haveKey says it.key holds the key of the last entry forwardTree
	// met; handled, that the key was yielded or skipped (its older
	// versions are skipped).
	haveKey, handled bool
	run              leafRun
	valid            bool
	// yielded says key and ts are those of a version yielded since the
	// last First or Seek (see repeats).
	yielded bool
	// key is the current key: kbuf, tree.tkey, or a slice of an immutable
	// image. It is never appended to.
	key   []byte
	kbuf  []byte
	ts    uint64
	kind  interfaces.EntryKind
	value []byte
	err   error
	done  bool
	// lowerBuf and upperBuf hold lower and upper when they are copies of
	// the options' bounds: they keep their capacity in the pool.
	lowerBuf, upperBuf []byte
}

// iterPool recycles iterator states.
var iterPool = sync.Pool{New: func() any { return new(iterState) }}

// reset clears st for the pool: it drops every reference to the read
// state, its buffers and images, and keeps its own buffers' capacity.
func (st *iterState) reset() {
	kbuf, lb, ub := st.kbuf[:0], st.lowerBuf[:0], st.upperBuf[:0]
	kb := [2][]byte{st.treeBuf.kbufs[0][:0], st.treeBuf.kbufs[1][:0]}
	tkey := st.treeBuf.tkey[:0]
	*st = iterState{}
	st.kbuf, st.lowerBuf, st.upperBuf = kbuf, lb, ub
	st.treeBuf.kbufs, st.treeBuf.tkey = kb, tkey
}

// copyInto copies b into *buf, reusing its memory, and returns the copy;
// nil for a nil b, and a non-nil empty slice for an empty one (an empty
// bound is a bound).
func copyInto(buf *[]byte, b []byte) []byte {
	if b == nil {
		return nil
	}
	*buf = append((*buf)[:0], b...)
	if *buf == nil {
		*buf = make([]byte, 0, 16)
	}
	return *buf
}

// iterator implements interfaces.Iterator: a handle on a pooled state.
// Close gives the state back and detaches the handle, so a handle used
// after Close (or closed twice) never touches a state another iterator
// has since taken: its moves return false and Err returns what Close did.
type iterator struct {
	st  *iterState
	err error // the error Close returned, once closed
}

func (it *iterator) First() bool {
	if it.st == nil {
		return false
	}
	return it.st.First()
}

func (it *iterator) Seek(key []byte) bool {
	if it.st == nil {
		return false
	}
	return it.st.Seek(key)
}

func (it *iterator) Next() bool {
	if it.st == nil {
		return false
	}
	return it.st.Next()
}

// NextKV is Next followed, when it returns true, by Key and Value, in one
// call: the core, in process, steps its scans with it (one dynamic call
// per step instead of three). The slices are valid as Key's and Value's
// are.
func (it *iterator) NextKV() (key, value []byte, ok bool) {
	st := it.st
	switch {
	case st == nil:
		return nil, nil, false
	case st.treeOnly && st.valid:
		// Next's own fast path, one call shallower.
		st.valid = false
		ok = st.forwardTree(true, nil, true)
	default:
		ok = st.Next()
	}
	if ok {
		return st.key, st.value, true
	}
	return nil, nil, false
}

func (it *iterator) Valid() bool { return it.st != nil && it.st.valid }

func (it *iterator) Key() []byte {
	if it.st == nil {
		return nil
	}
	return it.st.key
}

func (it *iterator) Ts() uint64 {
	if it.st == nil {
		return 0
	}
	return it.st.ts
}

func (it *iterator) Kind() interfaces.EntryKind {
	if it.st == nil {
		return 0
	}
	return it.st.kind
}

func (it *iterator) Value() []byte {
	if it.st == nil {
		return nil
	}
	return it.st.value
}

func (it *iterator) Err() error {
	if it.st == nil {
		return it.err
	}
	return it.st.err
}

// Close releases the read state, gives the state back to the pool and
// returns Err. Closing again returns the same.
func (it *iterator) Close() error {
	st := it.st
	if st == nil {
		return it.err
	}
	it.st = nil
	if st.s != nil {
		st.e.release(st.s)
	}
	it.err = st.err
	st.reset()
	iterPool.Put(st)
	return it.err
}

// NewIterator returns an iterator over a snapshot: the read state current
// at the call and the versions applied before it. Crossed bounds
// (LowerBound > UpperBound) are an error matching
// interfaces.ErrInvalidArgument.
func (e *Engine) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if err := e.checkOpen("new iterator"); err != nil {
		return nil, err
	}
	if opts.LowerBound != nil && opts.UpperBound != nil && bytes.Compare(opts.LowerBound, opts.UpperBound) > 0 {
		return nil, fmt.Errorf("lightning/btree: new iterator: lower bound %q above upper bound %q: %w",
			opts.LowerBound, opts.UpperBound, interfaces.ErrInvalidArgument)
	}
	// The applied ts is read before the state: every Apply that returned
	// before it is in the state, and versions of later ones are cut off.
	applied := e.appliedTs.Load()
	it := iterPool.Get().(*iterState)
	it.e = e
	it.s = e.acquire()
	it.snapTs = min(opts.ReadTs, applied)
	it.all, it.rev = opts.AllVersions, opts.Reverse
	it.lower = copyInto(&it.lowerBuf, opts.LowerBound)
	it.upper = copyInto(&it.upperBuf, opts.UpperBound)
	if opts.Prefix != nil {
		if it.lower == nil || bytes.Compare(opts.Prefix, it.lower) > 0 {
			it.lower = copyInto(&it.lowerBuf, opts.Prefix)
		}
		if succ := prefixSuccessor(opts.Prefix); succ != nil && (it.upper == nil || bytes.Compare(succ, it.upper) < 0) {
			it.upper = succ
		}
	}
	it.empty = it.lower != nil && it.upper != nil && bytes.Compare(it.lower, it.upper) >= 0
	s := it.s
	it.mem = it.memArr[:0]
	srcs := it.srcArr[:0]
	if !s.mem.empty() {
		it.mem = append(it.mem, memSource{m: s.mem})
	}
	if !s.big.empty() {
		it.mem = append(it.mem, memSource{m: s.big})
	}
	for _, f := range s.frozen {
		it.mem = append(it.mem, memSource{m: f})
	}
	for i := range it.mem {
		srcs = append(srcs, &it.mem[i])
	}
	if s.tree.root != 0 {
		it.tree = &it.treeBuf
		it.tree.c.init(e.p, s.tree)
		srcs = append(srcs, it.tree)
	}
	it.m = merger{srcs: srcs, cur: -1, reverse: it.rev}
	it.treeOnly = len(srcs) == 1 && len(it.mem) == 0 && !it.rev
	e.iterOpened.Add(1)
	return &iterator{st: it}, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// prefixSuccessor returns the smallest key above every key with prefix p,
// or nil when there is none (p is empty or all 0xff).
func prefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			s := append([]byte(nil), p[:i+1]...)
			s[i]++
			return s
		}
	}
	return nil
}

func (it *iterState) First() bool {
	if it.done {
		return false
	}
	it.valid, it.yielded = false, false
	if it.empty || len(it.m.srcs) == 0 {
		return false
	}
	if it.treeOnly {
		var ok bool
		var err error
		if it.lower != nil {
			ok, err = it.tree.c.seekGE(it.lower, math.MaxUint64)
		} else {
			ok, err = it.tree.c.first()
		}
		return it.forwardTree(ok, err, false)
	}
	if !it.rev {
		if it.lower != nil {
			it.m.seekGE(it.lower, math.MaxUint64)
		} else {
			it.m.first()
		}
		return it.findForward()
	}
	if it.upper != nil {
		it.m.seekLT(it.upper, math.MaxUint64)
	} else {
		it.m.last()
	}
	return it.findReverse()
}

func (it *iterState) Seek(key []byte) bool {
	if it.done {
		return false
	}
	it.valid, it.yielded = false, false
	if it.empty || len(it.m.srcs) == 0 {
		return false
	}
	if !it.rev {
		if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
			key = it.lower
		}
		if it.upper != nil && bytes.Compare(key, it.upper) >= 0 {
			return false
		}
		if it.treeOnly {
			ok, err := it.tree.c.seekGE(key, math.MaxUint64)
			return it.forwardTree(ok, err, false)
		}
		it.m.seekGE(key, math.MaxUint64)
		return it.findForward()
	}
	if it.upper != nil && bytes.Compare(key, it.upper) >= 0 {
		it.m.seekLT(it.upper, math.MaxUint64)
	} else {
		// The last version of key itself: everything before the first
		// version of key+"\x00", the next key in order.
		it.kbuf = append(append(it.kbuf[:0], key...), 0)
		it.m.seekLT(it.kbuf, math.MaxUint64)
	}
	return it.findReverse()
}

func (it *iterState) Next() bool {
	if it.done || !it.valid {
		it.valid = false
		return false
	}
	it.valid = false
	if it.treeOnly {
		return it.forwardTree(true, nil, true)
	}
	if !it.rev {
		if it.all {
			it.m.step()
		} else {
			it.skipKey(it.key)
		}
		return it.findForward()
	}
	if it.all {
		it.m.step()
	}
	// Without AllVersions the merger already stands on the previous key.
	return it.findReverse()
}

// skipSteps is how many versions of one key skipKey steps over before it
// seeks past the key instead: most keys have one version, but a hot key
// updated many times since the last flush has as many in the write
// buffer, and a scan would otherwise walk all of them.
const skipSteps = 8

// skipKey moves past every version of key (going forward), which must not
// alias a source's buffers (it.key does not).
func (it *iterState) skipKey(key []byte) {
	for range skipSteps {
		if !it.m.valid() || !bytes.Equal(it.m.src().key(), key) {
			return
		}
		it.m.step()
	}
	if it.m.valid() && bytes.Equal(it.m.src().key(), key) {
		it.m.skipPast(key)
	}
}

// findForward moves forward from the merger's position to the next version
// to yield.
func (it *iterState) findForward() bool {
	for it.m.valid() {
		s := it.m.src()
		k := s.key()
		if it.upper != nil && bytes.Compare(k, it.upper) >= 0 {
			break
		}
		ts := s.ts()
		if ts > it.snapTs {
			it.m.step()
			continue
		}
		if it.all && it.repeats(k, ts) {
			it.m.step()
			continue
		}
		kind, inline, ovf := s.entry()
		if !it.all && kind != interfaces.KindSet {
			it.setKey(k)
			it.skipKey(it.key)
			continue
		}
		it.setKey(k)
		return it.yield(ts, kind, inline, ovf)
	}
	return it.stop()
}

// leafRun is forwardTree's place in the leaf the cursor stands on. The
// scan decodes entry after entry, each starting where the previous one
// ended, so the offset array is read only where a run starts (a seek, or
// a step into the next leaf), and the cursor's index in the leaf is not
// kept up to date meanwhile: a tree-only iterator moves its cursor only by
// seeks, which rebuild the path, and nextLeaf, which replaces the leaf.
type leafRun struct {
	l *page.Leaf // the cursor's leaf
	// next is where the next entry to decode starts; left counts the
	// entries from there to the end of the leaf.
	next, left int
	// start is where the leaf's first entry starts: an entry decoded
	// there continues a key from the previous leaf only by comparison.
	start int
	// fresh says tkey does not hold the leaf's prefix yet. It is built
	// when the first key of the leaf is, not when the run starts: until
	// then it.key may be the previous leaf's key, in tkey.
	fresh bool
}

// startRun makes the run begin at entry i of the cursor's leaf.
func (it *iterState) startRun(i int) {
	r := &it.run
	r.l = it.tree.c.leaf()
	r.start = r.l.Offset(0)
	r.next = r.l.Offset(i)
	r.left = r.l.Len() - i
	r.fresh = true
}

// forwardTree is findForward for an iterator whose only source is the
// tree: it reads entries straight from the cursor's leaves, compares keys
// in their split (prefix, suffix) form, and builds only the keys it stops
// on. ok and err are the result of positioning the cursor (a seek); with
// advance, the cursor is where the last call left it and the scan goes on
// from the entry after the current one. This is the loop every scan spends
// its time in.
func (it *iterState) forwardTree(ok bool, err error, advance bool) bool {
	c := &it.tree.c
	if err != nil {
		it.err, it.done = err, true
		return false
	}
	r := &it.run
	if !advance {
		it.haveKey = false
		if !ok {
			return it.endTree()
		}
		it.startRun(c.idx())
	}
	for {
		if r.left == 0 {
			if !c.nextLeaf() {
				break
			}
			it.startRun(0)
		}
		r.left--
		l := r.l
		off := r.next
		// ScanAt returns the entry's parts in registers; slices are made
		// only of what is used.
		ks, kn, ts, flags, vs, vn, next := l.ScanAt(off)
		r.next = next
		img := l.Image()
		// The leaf says when an entry continues the previous one's key;
		// only the first entry of a leaf needs a comparison.
		same := it.haveKey && (flags.SameKey() || (off == r.start && keyEquals(l.Prefix(), img[ks:ks+kn], it.key)))
		if !same {
			suffix := img[ks : ks+kn : ks+kn]
			if it.upper != nil && page.CompareSplit(l.Prefix(), suffix, it.upper) >= 0 {
				break
			}
			if p := l.Prefix(); len(p) == 0 {
				// The image holds the whole key, and outlives the
				// position: no copy.
				it.key = suffix
			} else {
				// tkey holds the leaf's prefix from the first key built
				// in it on: each key then costs a copy of its suffix
				// only. tkey is stored back only when it grows.
				tk := it.tree.tkey
				if r.fresh {
					tk = append(tk[:0], p...)
					it.tree.tkey = tk
					r.fresh = false
				}
				if n := len(p) + len(suffix); n <= cap(tk) {
					tk = tk[:n]
					copy(tk[len(p):], suffix)
				} else {
					tk = append(tk[:len(p)], suffix...)
					it.tree.tkey = tk
				}
				it.key = tk
			}
			it.haveKey, it.handled = true, false
		} else if it.handled && !it.all {
			// An older version of a key already yielded or skipped.
			continue
		}
		if ts > it.snapTs {
			continue
		}
		kind := flags.Kind()
		if !it.all {
			it.handled = true
			if kind != interfaces.KindSet {
				continue
			}
		}
		switch {
		case kind == interfaces.KindSet && !flags.Overflow():
			// yield, for the inline value every scan meets.
			it.ts, it.kind, it.value = ts, kind, img[vs:vs+vn:vs+vn]
			it.yielded, it.valid = true, true
			return true
		case kind == interfaces.KindSet:
			var en page.LeafEntry
			l.DecodeAt(off, &en)
			return it.yield(ts, kind, nil, en.Ovf)
		}
		return it.yield(ts, kind, nil, page.ValueRef{})
	}
	return it.endTree()
}

// endTree ends a forwardTree move that found nothing: the tree is
// exhausted, the bound reached, or the cursor failed.
func (it *iterState) endTree() bool {
	if err := it.tree.c.err; err != nil {
		it.err, it.done = err, true
	}
	it.valid = false
	return false
}

// findReverse moves backward from the merger's position to the next
// version to yield. Without AllVersions it reads every version of a key
// (they come oldest first) and yields the newest one at or below the
// snapshot, leaving the merger on the key before.
func (it *iterState) findReverse() bool {
	for it.m.valid() {
		s := it.m.src()
		k := s.key()
		if it.lower != nil && bytes.Compare(k, it.lower) < 0 {
			break
		}
		if it.all {
			ts := s.ts()
			if ts > it.snapTs || it.repeats(k, ts) {
				it.m.step()
				continue
			}
			kind, inline, ovf := s.entry()
			it.setKey(k)
			return it.yield(ts, kind, inline, ovf)
		}
		it.setKey(k)
		found := false
		var (
			cts    uint64
			ckind  interfaces.EntryKind
			cvalue []byte
			covf   page.ValueRef
		)
		for it.m.valid() && bytes.Equal(it.m.src().key(), it.key) {
			s := it.m.src()
			if ts := s.ts(); ts <= it.snapTs {
				found, cts = true, ts
				ckind, cvalue, covf = s.entry()
			}
			it.m.step()
		}
		if found && ckind == interfaces.KindSet {
			return it.yield(cts, ckind, cvalue, covf)
		}
	}
	return it.stop()
}

// repeats reports whether (k, ts) is the version the iterator yielded
// last: a reader of a state from before a move of the small memtable into
// the big one (Engine.moveYoung) may meet a version in both, one right
// after the other. Only AllVersions needs the test: otherwise every
// version of a yielded key is skipped anyway.
func (it *iterState) repeats(k []byte, ts uint64) bool {
	return it.yielded && ts == it.ts && bytes.Equal(k, it.key)
}

// setKey copies k into the iterator's own buffer and makes it the
// current key.
func (it *iterState) setKey(k []byte) {
	it.kbuf = append(it.kbuf[:0], k...)
	it.key = it.kbuf
}

// yield makes the iterator valid at a version whose key is in it.key.
func (it *iterState) yield(ts uint64, kind interfaces.EntryKind, inline []byte, ovf page.ValueRef) bool {
	it.ts, it.kind = ts, kind
	it.yielded = true
	it.value = inline
	if kind != interfaces.KindSet {
		it.value = nil
	} else if ovf.Page != 0 {
		v, err := it.e.p.readValue(it.s.tree, ovf)
		if err != nil {
			it.err, it.done = err, true
			return false
		}
		it.value = v
	}
	it.valid = true
	return true
}

// stop ends a move: the iterator is exhausted, or failed.
func (it *iterState) stop() bool {
	if err := it.m.err(); err != nil {
		it.err, it.done = err, true
	}
	it.valid = false
	return false
}
