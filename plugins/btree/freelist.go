package btree

import (
	"math/bits"
	"slices"
)

// Free pages.
//
// A page is in one of four states: reachable from the committed meta (in
// use), free and reusable (in the free set), freed by a committed
// transaction but perhaps still read by a reader pinned to an older tree
// version (pending, tagged with the generation that freed it), or beyond
// the page count. A transaction allocates only from the free set, lowest
// id first — so live pages drift to the start of the file and the end can
// be cut off — or by extending the file. Pages it frees become pending
// when it commits; pending pages freed by generation g join the free set
// once no reader is pinned to a version older than g.
//
// The free set as of each commit (the free set plus every pending page) is
// persisted as a chain of free-list records, newest first from the meta: a
// delta per commit that changed it (pages freed, pages taken, the page
// count cut), back to a snapshot of the whole set. A commit writes one
// delta of a few bytes per changed page, not the whole list; once a chain
// holds as many deltas as the snapshot has pages (at least
// minFreeRecords), the commit writes a new snapshot instead and frees the
// old chain. So the free list costs O(pages changed) per commit, amortised,
// and opening replays a bounded chain.

// minFreeRecords is the chain length below which no snapshot is written.
const minFreeRecords = 8

// freeSet is a set of page ids as a bitmap.
type freeSet struct {
	words []uint64
	count int
	// hint is the lowest word index that may hold a set bit.
	hint int
}

func (f *freeSet) has(id uint64) bool {
	w := id / 64
	return w < uint64(len(f.words)) && f.words[w]&(1<<(id%64)) != 0
}

// add puts id in the set and reports whether it was absent.
func (f *freeSet) add(id uint64) bool {
	w := int(id / 64)
	for w >= len(f.words) {
		f.words = append(f.words, make([]uint64, max(len(f.words), 16))...)
	}
	bit := uint64(1) << (id % 64)
	if f.words[w]&bit != 0 {
		return false
	}
	f.words[w] |= bit
	f.count++
	if w < f.hint {
		f.hint = w
	}
	return true
}

// remove takes id out of the set and reports whether it was present.
func (f *freeSet) remove(id uint64) bool {
	w := id / 64
	bit := uint64(1) << (id % 64)
	if w >= uint64(len(f.words)) || f.words[w]&bit == 0 {
		return false
	}
	f.words[w] &^= bit
	f.count--
	return true
}

// lowest removes and returns the lowest id in the set below limit.
func (f *freeSet) lowest(limit uint64) (uint64, bool) {
	for w := f.hint; w < len(f.words); w++ {
		if f.words[w] == 0 {
			f.hint = w + 1
			continue
		}
		id := uint64(w)*64 + uint64(bits.TrailingZeros64(f.words[w]))
		if id >= limit {
			return 0, false
		}
		f.words[w] &^= 1 << (id % 64)
		f.count--
		return id, true
	}
	return 0, false
}

// truncate removes every id at or above n.
func (f *freeSet) truncate(n uint64) {
	for w := n / 64; w < uint64(len(f.words)); w++ {
		keep := uint64(0)
		if w == n/64 {
			keep = uint64(1)<<(n%64) - 1
		}
		f.count -= bits.OnesCount64(f.words[w] &^ keep)
		f.words[w] &= keep
	}
}

// tailStart returns the lowest k such that every id in [k, n) is in the
// set (n when n-1 is not).
func (f *freeSet) tailStart(n uint64) uint64 {
	k := n
	for k > 2 && f.has(k-1) {
		k--
	}
	return k
}

// appendIDs appends the ids of the set, ascending, to dst.
func (f *freeSet) appendIDs(dst []uint64) []uint64 {
	for w, word := range f.words {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			dst = append(dst, uint64(w)*64+uint64(b))
			word &^= 1 << b
		}
	}
	return dst
}

// pendingFree is the pages one committed transaction freed.
type pendingFree struct {
	gen uint64
	ids []uint64
}

// freeRecordRef is one record of the persisted chain and its pages.
type freeRecordRef struct {
	page, gen uint64
	pages     []uint64
	snapshot  bool
}

// freeList is the engine's free-page state. It is guarded by
// Engine.commitMu: only transactions (and Check, holding it) touch it.
type freeList struct {
	free freeSet
	// pending holds the pages freed by committed transactions that a
	// pinned reader may still read, oldest generation first.
	pending []pendingFree
	// chain is the persisted chain, oldest record first.
	chain []freeRecordRef
	// snapPages is the number of pages of the chain's snapshot.
	snapPages int
}

// pendingCount returns the number of pending pages.
func (fl *freeList) pendingCount() int {
	n := 0
	for _, p := range fl.pending {
		n += len(p.ids)
	}
	return n
}

// release moves the pending pages of generations up to oldest into the
// free set: no reader can reach them any more.
func (fl *freeList) release(oldest uint64) int {
	n := 0
	i := 0
	for ; i < len(fl.pending) && fl.pending[i].gen <= oldest; i++ {
		for _, id := range fl.pending[i].ids {
			fl.free.add(id)
		}
		n += len(fl.pending[i].ids)
	}
	fl.pending = slices.Delete(fl.pending, 0, i)
	return n
}

// persisted returns, sorted, the ids that the persisted free list of the
// last commit holds: the free set and every pending page.
func (fl *freeList) persisted() []uint64 {
	ids := fl.free.appendIDs(make([]uint64, 0, fl.free.count+fl.pendingCount()))
	for _, p := range fl.pending {
		ids = append(ids, p.ids...)
	}
	slices.Sort(ids)
	return ids
}

// chainPages returns the pages of the persisted chain.
func (fl *freeList) chainPages() []uint64 {
	var ids []uint64
	for _, r := range fl.chain {
		ids = append(ids, r.pages...)
	}
	return ids
}
