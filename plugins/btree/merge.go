package btree

import (
	"bytes"
	"fmt"
	"math"
	"slices"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// The tree rewrite. A transaction merges a sorted stream of edits —
// versions to add (a flush of the write buffers) or to drop (garbage
// collection) — into the tree in one top-down pass, and can also force
// every node with a page at or above a limit to move (shrinking the file).
//
// At each level the pass walks a branch's children in order. A child with
// no edits and nothing to move keeps its pointer: its whole subtree is
// shared with the previous version. A changed child is replaced by its
// items — for a leaf, its versions merged with its edits; for a branch, the
// pointers its own rewrite returned — and consecutive replaced children
// form a run whose items are packed together into as few full nodes as
// they need. Packing runs rather than single nodes keeps pages full under
// random inserts (a batch touching most leaves of a branch rewrites them
// densely) and merges nodes that deletes emptied. A run that still packs
// into one node under a quarter full absorbs an unchanged neighbour.
//
// Separators between new leaves are shortened to the shortest user key
// that separates the two leaves (with ts MaxTs), unless one user key spans
// the boundary.

// edit is one change to merge: a version to add, or (drop) a version to
// remove.
type edit struct {
	key   []byte
	ts    uint64
	kind  interfaces.EntryKind
	value []byte
	drop  bool
}

// editIter is a sorted stream of edits. The keys and values of its edits
// stay valid for the whole transaction (they live in frozen write buffers
// or in the scan that listed them).
type editIter interface {
	// cur returns the current edit, or nil at the end.
	cur() *edit
	next()
}

// ref points at a node and carries its lower bound: the first child of a
// level has the bound of the level (nil key, for the whole tree).
type ref struct {
	key       []byte
	ts        uint64
	page, gen uint64
}

// bound is an upper bound of a range: +inf when inf.
type bound struct {
	key []byte
	ts  uint64
	inf bool
}

func (b bound) above(key []byte, ts uint64) bool {
	return b.inf || page.Compare(key, ts, b.key, b.ts) < 0
}

var infBound = bound{inf: true}

// rewriteTree merges src into the tree, forcing pages at or above
// t.allocLimit to move when relocate is set, and leaves the new root in t.
func (t *txn) rewriteTree(src editIter, relocate bool) error {
	var out []ref
	level := t.height - 1
	if t.root == 0 {
		// An empty tree: every edit that adds makes the first leaves.
		var items []page.LeafEntry
		if h, ok := src.(interface{ countHint() int }); ok {
			// A first flush can be half a million versions: growing
			// the slice by doubling would copy it about twice over.
			items = make([]page.LeafEntry, 0, h.countHint())
		}
		for e := src.cur(); e != nil; e = src.cur() {
			if !e.drop {
				items = append(items, page.LeafEntry{Key: e.key, Ts: e.ts, Kind: e.kind, Value: e.value})
				t.versions++
			}
			src.next()
		}
		items = t.gcRun(items, infBound)
		refs, err := t.packLeaves(items, nil, 0)
		if err != nil {
			return err
		}
		out, level = refs, 0
	} else {
		refs, _, err := t.rewriteLevel([]ref{{page: t.root, gen: t.rootGen}}, level, infBound, src, relocate)
		if err != nil {
			return err
		}
		out = refs
	}
	for len(out) > 1 {
		refs, err := t.packBranches(out)
		if err != nil {
			return err
		}
		out = refs
		level++
	}
	if len(out) == 0 {
		t.root, t.rootGen, t.height = 0, 0, 0
		return nil
	}
	root := out[0]
	// A root branch with one child gives way to the child.
	for level > 0 {
		n, err := t.p.readNode(t.shadow(), root.page, root.gen, page.TypeBranch)
		if err != nil {
			return err
		}
		b, _ := page.ParseBranch(n.img)
		if b.Len() != 1 {
			break
		}
		t.free(n.pages(root.page)...)
		c := b.Child(0)
		root = ref{page: c.Page, gen: c.Gen}
		level--
	}
	t.root, t.rootGen, t.height = root.page, root.gen, level+1
	return nil
}

// shadow returns a tree version through which the transaction can read the
// pages it wrote itself (bounds-checked against its own page count).
func (t *txn) shadow() *treeVersion {
	return &treeVersion{gen: t.gen, pageCount: t.pageCount}
}

// run is a sequence of consecutive replaced children being collected for
// packing.
type run struct {
	lo      *ref // the lower bound of the first child
	leaves  []page.LeafEntry
	refs    []ref
	members int
}

func (r *run) size(leaf bool) int {
	n := 0
	if leaf {
		for i := range r.leaves {
			n += page.LeafEntrySize(&r.leaves[i])
		}
		return n
	}
	for i := range r.refs {
		n += branchRefSize(&r.refs[i])
	}
	return n
}

func branchRefSize(r *ref) int {
	c := page.Child{Key: r.key, Ts: r.ts, Page: r.page, Gen: r.gen}
	return page.BranchChildSize(&c)
}

// rewriteLevel rewrites children, the nodes at level (0 for leaves) that
// together cover a range ending at hi, merging the edits of src below hi.
// It returns the pointers that replace them and whether anything changed.
func (t *txn) rewriteLevel(children []ref, level int, hi bound, src editIter, relocate bool) ([]ref, bool, error) {
	leaf := level == 0
	out := make([]ref, 0, len(children)+4)
	// unchanged[i] says out[i] is an original child, which a run may
	// absorb.
	unchanged := make([]bool, 0, len(children)+4)
	changedAny := false
	var cur run
	target := t.nodeTarget(leaf)

	childHi := func(i int) bound {
		if i+1 < len(children) {
			return bound{key: children[i+1].key, ts: children[i+1].ts}
		}
		return hi
	}
	// take adds child i's items to cur (reading and freeing the child),
	// merged with its edits.
	take := func(i int, r *run) error {
		c := children[i]
		if r.members == 0 {
			r.lo = &children[i]
		}
		r.members++
		if leaf {
			entries, err := t.mergeLeaf(c, childHi(i), src)
			if err != nil {
				return err
			}
			// Collect garbage leaf by leaf, so the size of the run, which
			// decides whether it absorbs a neighbour, is what remains.
			entries = t.gcRun(entries, childHi(i))
			if relocate {
				// After the collection: a value moved in this transaction
				// cannot be read back (dropped) before the commit.
				if err := t.moveValues(entries); err != nil {
					return err
				}
			}
			r.leaves = append(r.leaves, entries...)
			return nil
		}
		n, err := t.p.readNode(t.base, c.page, c.gen, page.TypeBranch)
		if err != nil {
			return err
		}
		t.free(n.pages(c.page)...)
		t.stats.nodesFreed++
		grand := t.branchRefs(n, c)
		refs, _, err := t.rewriteLevel(grand, level-1, childHi(i), src, relocate)
		if err != nil {
			return err
		}
		r.refs = append(r.refs, refs...)
		return nil
	}
	// flushRun packs cur into nodes appended to out.
	flushRun := func(r *run) error {
		if r.members == 0 {
			return nil
		}
		var refs []ref
		var err error
		if leaf {
			refs, err = t.packLeaves(r.leaves, r.lo.key, r.lo.ts)
		} else {
			if len(r.refs) > 0 {
				r.refs[0].key, r.refs[0].ts = r.lo.key, r.lo.ts
			}
			refs, err = t.packBranches(r.refs)
		}
		if err != nil {
			return err
		}
		for range refs {
			unchanged = append(unchanged, false)
		}
		out = append(out, refs...)
		*r = run{}
		return nil
	}

	for i := 0; i < len(children); i++ {
		if t.e.closing.Load() {
			return nil, false, errClosing
		}
		c := children[i]
		hasEdits := src.cur() != nil && childHi(i).above(src.cur().key, src.cur().ts)
		touch := hasEdits
		copyLeaf := false
		if !touch && relocate {
			var err error
			if leaf {
				// A leaf whose own pages must move is copied page by page,
				// as it is; one whose values must move is rewritten.
				copyLeaf, touch, err = t.leafMustMove(c)
			} else {
				touch, err = t.mustMove(c, level, childHi(i), src)
			}
			if err != nil {
				return nil, false, err
			}
		}
		if copyLeaf && !(cur.members > 0 && cur.size(leaf) < target/4) {
			changedAny = true
			if err := flushRun(&cur); err != nil {
				return nil, false, err
			}
			id, err := t.copyBlob(c.page, c.gen, page.TypeLeaf)
			if err != nil {
				return nil, false, err
			}
			out = append(out, ref{key: c.key, ts: c.ts, page: id, gen: t.gen})
			unchanged = append(unchanged, false)
			continue
		}
		if touch || copyLeaf {
			changedAny = true
			if err := take(i, &cur); err != nil {
				return nil, false, err
			}
			continue
		}
		// An unchanged child ends the run. A run too small to stand alone
		// takes this child in first.
		if cur.members > 0 && cur.size(leaf) < target/4 {
			if err := take(i, &cur); err != nil {
				return nil, false, err
			}
			continue
		}
		if err := flushRun(&cur); err != nil {
			return nil, false, err
		}
		out = append(out, c)
		unchanged = append(unchanged, true)
	}
	if cur.members > 0 && cur.size(leaf) < target/4 && len(out) > 0 && unchanged[len(out)-1] {
		// The last run is small and has an unchanged left neighbour: take
		// the neighbour in, in front of the run.
		prev := out[len(out)-1]
		out, unchanged = out[:len(out)-1], unchanged[:len(unchanged)-1]
		var pr run
		idx := -1
		for j := range children {
			if children[j].page == prev.page {
				idx = j
			}
		}
		if idx < 0 {
			return nil, false, fmt.Errorf("lightning/btree: run neighbour %d not among the children", prev.page)
		}
		// The neighbour has no edits (they would have made it part of the
		// run), so taking it consumes none of src.
		if err := take(idx, &pr); err != nil {
			return nil, false, err
		}
		pr.leaves = append(pr.leaves, cur.leaves...)
		pr.refs = append(pr.refs, cur.refs...)
		pr.members += cur.members
		cur = pr
	}
	if err := flushRun(&cur); err != nil {
		return nil, false, err
	}
	if !changedAny {
		return children, false, nil
	}
	return out, true, nil
}

// branchRefs decodes a branch's children as refs; child 0 gets the
// branch's own lower bound.
func (t *txn) branchRefs(n node, self ref) []ref {
	b, _ := page.ParseBranch(n.img)
	refs := make([]ref, b.Len())
	for i := range refs {
		c := b.Child(i)
		refs[i] = ref{page: c.Page, gen: c.Gen}
		if i == 0 {
			refs[i].key, refs[i].ts = self.key, self.ts
		} else {
			k, ts := b.AppendSeparator(t.sep[:0], i)
			t.sep = k
			refs[i].key, refs[i].ts = t.keep(k), ts
		}
	}
	return refs
}

// mergeLeaf reads leaf c, frees it, and returns its versions merged with
// the edits of src below hi. Dropped versions free their out-of-line
// values.
func (t *txn) mergeLeaf(c ref, hi bound, src editIter) ([]page.LeafEntry, error) {
	n, err := t.p.readNode(t.base, c.page, c.gen, page.TypeLeaf)
	if err != nil {
		return nil, err
	}
	t.free(n.pages(c.page)...)
	t.stats.nodesFreed++
	l, _ := page.ParseLeaf(n.img)
	out := make([]page.LeafEntry, 0, l.Len()+8)
	prefix := l.Prefix()
	i := 0
	var kb, kb0 []byte
	for {
		var le page.LeafEntry
		haveLeaf := i < l.Len()
		if haveLeaf {
			le = l.Entry(i)
			kb = le.Key
			if len(prefix) > 0 {
				kb = append(append(kb0[:0], prefix...), le.Key...)
				kb0 = kb
			}
		}
		e := src.cur()
		haveEdit := e != nil && hi.above(e.key, e.ts)
		if !haveLeaf && !haveEdit {
			break
		}
		c := 0
		switch {
		case !haveEdit:
			c = -1
		case !haveLeaf:
			c = 1
		default:
			c = page.Compare(kb, le.Ts, e.key, e.ts)
		}
		switch {
		case c < 0:
			if len(prefix) > 0 {
				le.Key = t.keep(kb)
			}
			out = append(out, le)
			i++
		case c > 0:
			if !e.drop {
				out = append(out, page.LeafEntry{Key: e.key, Ts: e.ts, Kind: e.kind, Value: e.value})
				t.versions++
			}
			src.next()
		default:
			// The same version in the leaf and in the edits: a drop
			// removes it; an add (a replayed version) replaces it.
			if le.Overflow() {
				if err := t.freeValue(le.Ovf); err != nil {
					return nil, err
				}
			}
			if !e.drop {
				out = append(out, page.LeafEntry{Key: e.key, Ts: e.ts, Kind: e.kind, Value: e.value})
			} else {
				t.versions--
				t.e.gcDropped.Add(1)
			}
			i++
			src.next()
		}
	}
	return out, nil
}

// mustMove reports whether the child at level must be rewritten for the
// file to shrink below t.allocLimit: a page of it, of its out-of-line
// values, or of its subtree is at or above the limit. For a branch child it
// looks inside, which reads the subtree.
func (t *txn) mustMove(c ref, level int, hi bound, src editIter) (bool, error) {
	lim := t.allocLimit
	if c.page >= lim {
		return true, nil
	}
	typ := page.TypeBranch
	if level == 0 {
		typ = page.TypeLeaf
	}
	n, err := t.p.readNode(t.base, c.page, c.gen, typ)
	if err != nil {
		return false, err
	}
	for _, id := range n.pages(c.page)[1:] {
		if id >= lim {
			return true, nil
		}
	}
	if level == 0 {
		l, _ := page.ParseLeaf(n.img)
		for i := range l.Len() {
			e := l.Entry(i)
			if !e.Overflow() {
				continue
			}
			ids, err := t.p.blobPages(t.base, e.Ovf.Page, e.Ovf.Gen, page.TypeValue)
			if err != nil {
				return false, err
			}
			for _, id := range ids {
				if id >= lim {
					return true, nil
				}
			}
		}
		return false, nil
	}
	grand := t.branchRefs(n, c)
	for i, g := range grand {
		gh := hi
		if i+1 < len(grand) {
			gh = bound{key: grand[i+1].key, ts: grand[i+1].ts}
		}
		move, err := t.mustMove(g, level-1, gh, src)
		if err != nil || move {
			return move, err
		}
	}
	return false, nil
}

// leafMustMove reports, for relocation to below t.allocLimit, whether the
// leaf's own pages must move (it can be copied as it is) and whether any
// of its out-of-line values must (it must be rewritten).
func (t *txn) leafMustMove(c ref) (copyPages, rewrite bool, err error) {
	lim := t.allocLimit
	n, err := t.p.readNode(t.base, c.page, c.gen, page.TypeLeaf)
	if err != nil {
		return false, false, err
	}
	for _, id := range n.pages(c.page) {
		copyPages = copyPages || id >= lim
	}
	l, _ := page.ParseLeaf(n.img)
	var e page.LeafEntry
	for i := range l.Len() {
		l.Decode(i, &e)
		if !e.Overflow() {
			continue
		}
		ids, err := t.p.blobPages(t.base, e.Ovf.Page, e.Ovf.Gen, page.TypeValue)
		if err != nil {
			return false, false, err
		}
		for _, id := range ids {
			if id >= lim {
				return copyPages, true, nil
			}
		}
	}
	return copyPages, false, nil
}

// moveValues copies the out-of-line values of entries that have a page at
// or above t.allocLimit below it.
func (t *txn) moveValues(entries []page.LeafEntry) error {
	for i := range entries {
		e := &entries[i]
		if !e.Overflow() || e.Ovf.Gen == t.gen {
			continue
		}
		ids, err := t.p.blobPages(t.base, e.Ovf.Page, e.Ovf.Gen, page.TypeValue)
		if err != nil {
			return err
		}
		if slices.Max(ids) < t.allocLimit {
			continue
		}
		id, err := t.copyBlob(e.Ovf.Page, e.Ovf.Gen, page.TypeValue)
		if err != nil {
			return err
		}
		e.Ovf.Page, e.Ovf.Gen = id, t.gen
	}
	return nil
}

// copyBlob writes the blob at (id, gen) of type typ to newly allocated
// pages, with the stored bytes as they are — no decompression, no
// re-encoding, only new headers (and new seals, which name the page) — and
// frees the old pages. It returns the new first page.
func (t *txn) copyBlob(id, gen uint64, typ page.Type) (uint64, error) {
	var stored []byte
	var first page.Header
	var old []uint64
	cont := false
	for cur := id; cur != 0; {
		raw, buf, err := t.p.readRaw(t.base, cur)
		if err != nil {
			return 0, err
		}
		h, err := t.p.checkPage(raw, cur, gen, typ, cont)
		if err == nil {
			stored, err = t.p.payload(stored, raw, h, true)
		}
		t.p.putBuf(buf)
		if err != nil {
			return 0, err
		}
		if !cont {
			first = h
		}
		old = append(old, cur)
		if len(old) > interfaces.MaxDecodedLen/t.p.capacity+2 {
			return 0, t.p.corrupt(id, "blob chain does not end")
		}
		cur, cont = h.Next, true
	}
	var codec interfaces.CodecID
	if first.Flags&page.FlagCompressed != 0 {
		codec = interfaces.CodecID(first.Codec)
	}
	ids, err := t.writeStored(typ, int(first.RawLen), stored, codec)
	if err != nil {
		return 0, err
	}
	t.free(old...)
	t.stats.nodesWritten++
	return ids[0], nil
}

// nodeTarget returns the size in image bytes that packing aims a node at.
func (t *txn) nodeTarget(leaf bool) int {
	if leaf {
		return t.e.leafTarget()
	}
	return t.p.capacity
}

// gcRun drops from a run of versions (in order: a leaf's, or the first
// leaves of an empty tree) those that the discard ts lets go, as far as the
// run alone shows. For each user key, versions above
// the discard ts stay; of the rest, the newest stays if it is a value and
// the others go. When the newest is a tombstone it goes too, with all it
// hides, but only when the run shows the key's last version — the run ends
// with another key, or hi does not continue the key — because an older
// version of the key in the next node would otherwise reappear. Starting
// mid-key is safe: the first version at or below the discard ts that the
// run sees is then either the key's newest such version, or older than it
// and droppable anyway.
func (t *txn) gcRun(items []page.LeafEntry, hi bound) []page.LeafEntry {
	d := t.e.discardTs.Load()
	if d == 0 || len(items) == 0 {
		return items
	}
	out := items[:0]
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && bytes.Equal(items[j].Key, items[i].Key) {
			j++
		}
		f := i
		for f < j && items[f].Ts > d {
			f++
		}
		out = append(out, items[i:f]...)
		if f < j {
			endsHere := j < len(items) || hi.inf || !bytes.Equal(hi.key, items[i].Key)
			dropFrom := f + 1
			if items[f].Kind == interfaces.KindDelete && endsHere {
				dropFrom = f
			} else {
				out = append(out, items[f])
			}
			for k := dropFrom; k < j; k++ {
				t.dropEntry(&items[k])
			}
		}
		i = j
	}
	return out
}

// dropEntry accounts for a version garbage collection removes.
func (t *txn) dropEntry(e *page.LeafEntry) {
	t.versions--
	t.e.gcDropped.Add(1)
	if e.Overflow() {
		if err := t.freeValue(e.Ovf); err != nil {
			// The value's pages stay allocated but unreachable: a leak Check
			// reports, not a wrong answer.
			t.e.log.Warn("free dropped value", "page", e.Ovf.Page, "err", err)
		}
	}
}

// separator returns the shortest version key s with a < s <= b, as a key
// and a ts, for versions a < b of the tree order.
func separator(aKey []byte, bKey []byte, bTs uint64) ([]byte, uint64) {
	if bytes.Equal(aKey, bKey) {
		return bKey, bTs
	}
	n := 0
	for n < len(aKey) && n < len(bKey) && aKey[n] == bKey[n] {
		n++
	}
	return bKey[:n+1], math.MaxUint64
}
