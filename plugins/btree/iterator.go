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
	// the prefix of the leaf whose image starts at tkeyImg, then the
	// suffix of the current key.
	tkey    []byte
	tkeyImg *byte
	// seqOff is where entry seqIdx of the leaf whose image starts at
	// seqImg begins: where forwardTree's last decode ended.
	seqImg *byte
	seqIdx int
	seqOff int
	kb     int
	k      []byte
	t      uint64
	kind   interfaces.EntryKind
	val    []byte
	ovf    page.ValueRef
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

// iterator implements interfaces.Iterator over a pinned read state.
type iterator struct {
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
	// tree is the tree's source, nil for an empty tree and after Close;
	// it comes from treePool.
	tree *treeSource
	// treeOnly: the only source is the tree and the iterator moves
	// forward, so moves run straight on the cursor (forwardTree).
	treeOnly bool
	// haveKey says it.key holds the key of the last entry forwardTree
	// met; handled, that the key was yielded or skipped (its older
	// versions are skipped).
	haveKey, handled bool
	ent              page.LeafEntry // forwardTree's decoded entry
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
	it := &iterator{
		e:      e,
		s:      e.acquire(),
		snapTs: min(opts.ReadTs, applied),
		all:    opts.AllVersions,
		rev:    opts.Reverse,
	}
	it.lower = cloneBytes(opts.LowerBound)
	it.upper = cloneBytes(opts.UpperBound)
	if opts.Prefix != nil {
		if it.lower == nil || bytes.Compare(opts.Prefix, it.lower) > 0 {
			it.lower = cloneBytes(opts.Prefix)
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
		it.tree = treePool.Get().(*treeSource)
		it.tree.c.init(e.p, s.tree)
		srcs = append(srcs, it.tree)
	}
	it.m = merger{srcs: srcs, cur: -1, reverse: it.rev}
	it.treeOnly = len(srcs) == 1 && len(it.mem) == 0 && !it.rev
	e.iterOpened.Add(1)
	return it, nil
}

// treePool recycles tree sources: one is about a kilobyte (the cursor's
// path of frames), and short scans open an iterator per scan.
var treePool = sync.Pool{New: func() any { return new(treeSource) }}

// recycle clears s for reuse, keeping its buffers, and returns it to
// treePool.
func (s *treeSource) recycle() {
	kb := [2][]byte{s.kbufs[0][:0], s.kbufs[1][:0]}
	tkey := s.tkey[:0]
	*s = treeSource{}
	s.kbufs, s.tkey = kb, tkey
	treePool.Put(s)
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

func (it *iterator) First() bool {
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

func (it *iterator) Seek(key []byte) bool {
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

func (it *iterator) Next() bool {
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
func (it *iterator) skipKey(key []byte) {
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
func (it *iterator) findForward() bool {
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

// forwardTree is findForward for an iterator whose only source is the
// tree: it reads entries straight from the cursor, compares keys in their
// split (prefix, suffix) form, and builds only the keys it stops on. ok and
// err are the result of positioning the cursor; with advance it first
// steps past the current entry.
func (it *iterator) forwardTree(ok bool, err error, advance bool) bool {
	c := &it.tree.c
	if err != nil {
		it.err, it.done = err, true
		return false
	}
	if !advance {
		it.haveKey = false
	}
	for ok {
		f := &c.frames[len(c.frames)-1]
		if advance {
			// cursor.next, with the step within a leaf inlined: this is
			// the loop every scan spends its time in.
			if f.i++; f.i >= f.l.Len() {
				if !c.nextLeaf() {
					break
				}
				f = &c.frames[len(c.frames)-1]
			}
		}
		advance = true
		l := &f.l
		i := f.i
		en := &it.ent
		// Entry after entry, each starts where the previous one ended:
		// the offset array is read only after a seek or a leaf change.
		ts := it.tree
		img := l.Image()
		off := ts.seqOff
		if ts.seqImg != &img[0] || ts.seqIdx != i {
			off = l.Offset(i)
		}
		ts.seqOff = l.DecodeAt(off, en)
		ts.seqImg, ts.seqIdx = &img[0], i+1
		// The leaf says when an entry continues the previous one's key;
		// only the first entry of a leaf needs a comparison.
		same := it.haveKey && (en.SameKey || (i == 0 && keyEquals(l.Prefix(), en.Key, it.key)))
		if !same {
			if it.upper != nil && page.CompareSplit(l.Prefix(), en.Key, it.upper) >= 0 {
				break
			}
			if p := l.Prefix(); len(p) == 0 {
				// The image holds the whole key, and outlives the
				// position: no copy.
				it.key = en.Key
			} else {
				// tkey holds the leaf's prefix from the first key built
				// in it on: each key then costs a copy of its suffix
				// only. The leaf is known by its image's first byte,
				// which tkeyImg keeps alive (or a pinned map holds), so
				// no other image can take its address meanwhile.
				if ts.tkeyImg != &img[0] {
					ts.tkey = append(ts.tkey[:0], p...)
					ts.tkeyImg = &img[0]
				}
				ts.tkey = append(ts.tkey[:len(p)], en.Key...)
				it.key = ts.tkey
			}
			it.haveKey, it.handled = true, false
		} else if it.handled && !it.all {
			// An older version of a key already yielded or skipped.
			continue
		}
		if en.Ts > it.snapTs {
			continue
		}
		if !it.all {
			it.handled = true
			if en.Kind != interfaces.KindSet {
				continue
			}
		}
		return it.yield(en.Ts, en.Kind, en.Value, en.Ovf)
	}
	if c.err != nil {
		it.err, it.done = c.err, true
	}
	it.valid = false
	return false
}

// findReverse moves backward from the merger's position to the next
// version to yield. Without AllVersions it reads every version of a key
// (they come oldest first) and yields the newest one at or below the
// snapshot, leaving the merger on the key before.
func (it *iterator) findReverse() bool {
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
func (it *iterator) repeats(k []byte, ts uint64) bool {
	return it.yielded && ts == it.ts && bytes.Equal(k, it.key)
}

// setKey copies k into the iterator's own buffer and makes it the
// current key.
func (it *iterator) setKey(k []byte) {
	it.kbuf = append(it.kbuf[:0], k...)
	it.key = it.kbuf
}

// yield makes the iterator valid at a version whose key is in it.key.
func (it *iterator) yield(ts uint64, kind interfaces.EntryKind, inline []byte, ovf page.ValueRef) bool {
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
func (it *iterator) stop() bool {
	if err := it.m.err(); err != nil {
		it.err, it.done = err, true
	}
	it.valid = false
	return false
}

func (it *iterator) Valid() bool                { return it.valid }
func (it *iterator) Key() []byte                { return it.key }
func (it *iterator) Ts() uint64                 { return it.ts }
func (it *iterator) Kind() interfaces.EntryKind { return it.kind }
func (it *iterator) Value() []byte              { return it.value }
func (it *iterator) Err() error                 { return it.err }

// Close releases the read state and recycles the tree source. Every move
// checks done first, so a closed iterator never touches the source again.
func (it *iterator) Close() error {
	if it.s != nil {
		it.e.release(it.s)
		it.s = nil
	}
	if it.tree != nil {
		it.tree.recycle()
		it.tree = nil
		it.m = merger{}
	}
	// The key may be in the recycled source's buffer.
	it.key, it.value = nil, nil
	it.valid, it.done = false, true
	return it.err
}
