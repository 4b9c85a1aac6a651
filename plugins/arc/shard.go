package arc

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
)

// Bounds on the number of ghost entries in a shard. The ghost lists are
// bounded in charge (below), which a stream of tiny entries (charge 1)
// would turn into c ghost entries of ~100 bytes of memory each. So the
// ghosts are also bounded in number: at most ghostFactor times the
// resident entries, and never fewer than ghostMin allowed. With unit
// charges and no Delete the charge bounds keep the ghosts below this and
// the count bound never acts.
const (
	ghostFactor = 2
	ghostMin    = 64
	// pendingHits is how many Get hits a shard records before it moves
	// their entries (see shard.get).
	pendingHits = 32
	// maxFree bounds the recycled entry structs a shard keeps.
	maxFree = 64
)

// shard is one ARC (Megiddo & Modha, "ARC: A Self-Tuning, Low Overhead
// Replacement Cache", FAST 2003) over the keys that hash to it, with sizes
// measured in charge (bytes) instead of pages.
//
// Lists, each ordered from most recently used (MRU) to least (LRU):
//
//	T1  resident entries not hit since they were set (recency)
//	T2  resident entries hit at least once since (frequency)
//	B1  ghosts (key and charge only) of entries evicted from T1
//	B2  ghosts of entries evicted from T2
//
// p is the target charge of T1 (and c−p that of T2), adapted on every
// ghost hit: a Set of a key found in B1 means T1 was too small, so p grows
// by δ1; one found in B2 means T2 was too small, so p shrinks by δ2. When
// room is needed, REPLACE evicts T1's LRU entry to B1 while T1 is above p
// (or at p, when the key being set came from B2), and T2's LRU entry to B2
// otherwise.
//
// The paper's cases, as this shard runs them:
//
//	I    Get hit (T1 or T2): move the entry to T2's MRU end.
//	II   Set of a key in B1: p += δ1, REPLACE, the key enters T2.
//	III  Set of a key in B2: p −= δ2, REPLACE (from B2), the key enters T2.
//	IV   Set of a key in no list: REPLACE, the key enters T1.
//
// A Get that misses changes nothing: the caller reads the block and Sets
// it, and that Set is the rest of the paper's request. A Set of a resident
// key replaces its value and charge and moves it to the MRU end of the
// list it is on, without promoting it: two readers that miss the same
// block at once both Set it, and that is one reference, not two. Delete
// forgets a key entirely, ghost included: a deleted block's file is gone,
// and a ghost of it would only mislead the adaptation.
//
// In charge terms: δ1 is the ghost's charge, times |B2|/|B1| when B2 is
// the larger (rounded down), and δ2 likewise with B1 and B2 swapped; p
// stays in [0, c]; REPLACE runs until the new entry fits, not once.
//
// One deliberate departure from the paper: the ghost lists are bounded by
// the targets, |B1| <= c−p and |B2| <= p, instead of |T1|+|B1| <= c.
// (hashicorp/golang-lru's ARC trims toward the same bounds, but by at most
// one ghost per new key and none on a ghost hit, so its ghosts pile up to
// c each; on the loop below it hits 0.2%, like LRU.) The paper's bound forgets every
// eviction while T1 alone fills the cache (its case IV.A), so on a loop
// slightly larger than the cache ARC never sees a ghost hit and, like
// LRU, never hits. With the target bounds the same loop hits more often
// than not (53–72% in bench/cachesim) and the Zipf and scan traces there
// do not change (within 0.03 points). The resident bound c, the directory bound 2c and the
// adaptation are the paper's. trimGhostsLocked restores the ghost bounds
// after every change, dropping LRU ghosts.
//
// Every method with the Locked suffix is called with mu held.
type shard struct {
	// mu guards every field below. It is held for the whole of each Get,
	// Set and Delete: ARC moves an entry on every hit, so even a Get
	// writes.
	mu sync.Mutex

	// capacity is c, this shard's part of the cache's capacity.
	capacity int64
	// p is the target charge of T1.
	// INVARIANT: 0 <= p <= capacity.
	p int64

	// idx indexes every entry of the four lists by key.
	// INVARIANT: idx.n = t1.n + t2.n + b1.n + b2.n, and each entry of idx
	// is on exactly the list its list field names.
	idx index

	// pending holds the entries of Get hits not yet moved to T2's MRU end,
	// oldest first; see get.
	// INVARIANT: each is resident.
	pending  [pendingHits]*entry
	npending int

	// The lists, in charge terms (|X| is the sum of X's charges):
	// INVARIANT: |T1| + |T2| <= c (the resident entries fit).
	// INVARIANT: |B1| <= c - p and |B2| <= p, so |B1| + |B2| <= c and the
	// whole directory |T1| + |T2| + |B1| + |B2| <= 2c.
	// INVARIANT: b1.n + b2.n <= max(ghostFactor*(t1.n+t2.n), ghostMin).
	t1, t2, b1, b2 lruList

	// free holds up to maxFree detached entries for reuse, linked by next.
	free  *entry
	nfree int

	// Counters since the shard was made; see interfaces.CacheStats.
	hits, misses, inserts, evictions int64

	closed bool

	// Keep shards on separate cache lines: they are locked by different
	// goroutines.
	_ [64]byte
}

func (s *shard) init(capacity int64) {
	s.capacity = capacity
	s.t1.init(listT1)
	s.t2.init(listT2)
	s.b1.init(listB1)
	s.b2.init(listB2)
}

func (s *shard) listOf(id listID) *lruList {
	switch id {
	case listT1:
		return &s.t1
	case listT2:
		return &s.t2
	case listB1:
		return &s.b1
	case listB2:
		return &s.b2
	}
	panic(fmt.Sprintf("lightning/arc: entry on no list (%d)", id))
}

// get looks key, whose hash is h, up. A hit is the paper's case I: the
// entry moves to the MRU end of T2. It allocates nothing.
//
// The move is recorded, not made: a hit reads the key's index slot, which
// holds the value, and appends the entry to pending; the moves are made in
// order when pending fills or before anything reads or changes the lists
// (drainLocked). A hit moves a resident entry to T2 and nothing else, so
// every Set, Delete, statistic and check sees exactly the lists an
// immediate move would have left, while the Get itself does not wait on
// the cache misses of unlinking the entry and its neighbours.
func (s *shard) get(key interfaces.CacheKey, h uint64) ([]byte, bool) {
	s.mu.Lock()
	sl := s.idx.find(key, h)
	if sl == nil || !sl.resident || s.closed {
		s.misses++
		s.mu.Unlock()
		return nil, false
	}
	v := sl.value
	if s.npending == pendingHits {
		s.drainLocked()
	}
	s.pending[s.npending] = sl.e
	s.npending++
	s.hits++
	s.mu.Unlock()
	return v, true
}

// drainLocked makes the moves of the pending hits, in the order of the
// hits.
func (s *shard) drainLocked() {
	for i, e := range s.pending[:s.npending] {
		if s.t2.root.next != e { // already T2's MRU entry: nothing moves
			s.listOf(e.list).remove(e)
			s.t2.pushMRU(e)
		}
		s.pending[i] = nil
	}
	s.npending = 0
}

// lockDrained locks s and makes the pending moves, for whatever reads the
// lists next.
func (s *shard) lockDrained() {
	s.mu.Lock()
	s.drainLocked()
}

// mirrorLocked copies e's value and residency into its index slot, after
// either changed.
func (s *shard) mirrorLocked(e *entry, h uint64) {
	sl := s.idx.find(e.key, h)
	sl.value, sl.resident = e.value, e.list.resident()
}

// set stores value under key, whose hash is h, with charge (>= 1).
func (s *shard) set(key interfaces.CacheKey, h uint64, value []byte, charge int64) {
	s.lockDrained()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var e *entry
	if sl := s.idx.find(key, h); sl != nil {
		e = sl.e
	}
	ok := e != nil
	if charge > s.capacity {
		// Never stored; the old entry (or ghost) under key goes, so that
		// a Get cannot return a value older than this Set.
		if ok {
			s.forgetLocked(e)
			s.trimGhostsLocked() // one resident fewer may lower the count bound
		}
		return
	}
	s.inserts++
	switch {
	case !ok:
		// Case IV: key is in no list.
		s.replaceLocked(charge, false)
		e = s.newEntryLocked(key, value, charge)
		s.t1.pushMRU(e)
		sl := s.idx.insert(key, h, e)
		sl.value, sl.resident = value, true

	case e.list == listB1:
		// Case II: T1 was too small to keep this entry. Grow p.
		s.p = min(s.capacity, s.p+delta(e.charge, s.b2.bytes, s.b1.bytes, s.capacity))
		s.b1.remove(e)
		e.value, e.charge = value, charge
		s.replaceLocked(charge, false)
		s.t2.pushMRU(e)
		s.mirrorLocked(e, h)

	case e.list == listB2:
		// Case III: T2 was too small to keep this entry. Shrink p.
		s.p = max(0, s.p-delta(e.charge, s.b1.bytes, s.b2.bytes, s.capacity))
		s.b2.remove(e)
		e.value, e.charge = value, charge
		s.replaceLocked(charge, true)
		s.t2.pushMRU(e)
		s.mirrorLocked(e, h)

	default:
		// A resident key: a new value, not a new reference. It stays on
		// its list, at the MRU end.
		l := s.listOf(e.list)
		l.remove(e)
		e.value, e.charge = value, charge
		s.replaceLocked(charge, false)
		l.pushMRU(e)
		s.mirrorLocked(e, h)
	}
	s.trimGhostsLocked()
}

// delete removes key's entry or ghost, if any; h is key's hash. It is not
// an eviction.
func (s *shard) delete(key interfaces.CacheKey, h uint64) {
	s.lockDrained()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if sl := s.idx.find(key, h); sl != nil {
		s.forgetLocked(sl.e)
		s.trimGhostsLocked()
	}
}

// delta is the paper's adaptation step in charge terms: charge, times
// num/den when num > den (rounded down), at most capacity. On a B1 hit num
// is |B2| and den |B1| (the paper's δ1 = max(1, |B2|/|B1|)); on a B2 hit
// the other way round (δ2).
func delta(charge, num, den, capacity int64) int64 {
	if num <= den || den == 0 {
		return min(charge, capacity)
	}
	hi, lo := bits.Mul64(uint64(charge), uint64(num))
	if hi >= uint64(den) {
		return capacity // the quotient overflows 64 bits
	}
	q, _ := bits.Div64(hi, lo, uint64(den))
	if q > uint64(capacity) {
		return capacity
	}
	return int64(q)
}

// replaceLocked is the paper's REPLACE, run until charge more bytes fit in
// the cache: it moves T1's LRU entry to B1 when T1 holds more than p (or
// exactly p, when the key being set was a B2 ghost), and T2's LRU entry to
// B2 otherwise. Each move is an eviction.
func (s *shard) replaceLocked(charge int64, fromB2 bool) {
	for s.t1.bytes+s.t2.bytes+charge > s.capacity {
		var from, to *lruList
		if s.t1.n > 0 && (s.t1.bytes > s.p || (fromB2 && s.t1.bytes == s.p) || s.t2.n == 0) {
			from, to = &s.t1, &s.b1
		} else {
			from, to = &s.t2, &s.b2
		}
		v := from.lru()
		from.remove(v)
		v.value = nil
		to.pushMRU(v)
		s.mirrorLocked(v, hashKey(v.key))
		s.evictions++
	}
}

// trimGhostsLocked drops LRU ghosts until the ghost bounds on shard hold
// again: a change of p moves them, REPLACE adds ghosts, and a Delete lowers
// the count bound.
func (s *shard) trimGhostsLocked() {
	for s.b1.bytes > s.capacity-s.p {
		s.forgetLocked(s.b1.lru())
	}
	for s.b2.bytes > s.p {
		s.forgetLocked(s.b2.lru())
	}
	for limit := max(ghostFactor*(s.t1.n+s.t2.n), ghostMin); s.b1.n+s.b2.n > limit; {
		if s.b1.n > s.b2.n {
			s.forgetLocked(s.b1.lru())
		} else {
			s.forgetLocked(s.b2.lru())
		}
	}
}

// forgetLocked removes e, resident or ghost, from its list and the index.
// Dropping a ghost and deleting an entry are the same operation; neither
// is an eviction.
func (s *shard) forgetLocked(e *entry) {
	s.listOf(e.list).remove(e)
	s.discardLocked(e)
}

// discardLocked removes the detached e from the index and keeps its struct
// for reuse.
func (s *shard) discardLocked(e *entry) {
	s.idx.remove(e.key, hashKey(e.key))
	e.value = nil
	if s.nfree < maxFree {
		e.next = s.free
		s.free = e
		s.nfree++
	}
}

// newEntryLocked returns a detached entry for key, recycled when it can.
func (s *shard) newEntryLocked(key interfaces.CacheKey, value []byte, charge int64) *entry {
	e := s.free
	if e != nil {
		s.free = e.next
		s.nfree--
		*e = entry{}
	} else {
		e = new(entry)
	}
	e.key, e.value, e.charge = key, value, charge
	return e
}

// closeLocked releases every entry; the counters stay.
func (s *shard) closeLocked() {
	s.closed = true
	s.idx = index{}
	clear(s.pending[:])
	s.npending = 0
	s.free, s.nfree = nil, 0
	s.t1.init(listT1)
	s.t2.init(listT2)
	s.b1.init(listB1)
	s.b2.init(listB2)
}

// checkLocked verifies every invariant of the shard and returns the first
// broken one. Tests call it after each operation. The pending hits must
// have been drained.
func (s *shard) checkLocked() error {
	if s.npending != 0 {
		return fmt.Errorf("%d hits not drained", s.npending)
	}
	c := s.capacity
	if s.p < 0 || s.p > c {
		return fmt.Errorf("p = %d outside [0, %d]", s.p, c)
	}
	if s.t1.bytes+s.t2.bytes > c {
		return fmt.Errorf("|T1|+|T2| = %d > c = %d", s.t1.bytes+s.t2.bytes, c)
	}
	if s.b1.bytes > c-s.p {
		return fmt.Errorf("|B1| = %d > c-p = %d", s.b1.bytes, c-s.p)
	}
	if s.b2.bytes > s.p {
		return fmt.Errorf("|B2| = %d > p = %d", s.b2.bytes, s.p)
	}
	if tot := s.t1.bytes + s.t2.bytes + s.b1.bytes + s.b2.bytes; tot > 2*c {
		return fmt.Errorf("|T1|+|T2|+|B1|+|B2| = %d > 2c = %d", tot, 2*c)
	}
	if limit := max(ghostFactor*(s.t1.n+s.t2.n), ghostMin); s.b1.n+s.b2.n > limit {
		return fmt.Errorf("%d ghosts > %d", s.b1.n+s.b2.n, limit)
	}
	n := 0
	for _, l := range []*lruList{&s.t1, &s.t2, &s.b1, &s.b2} {
		var bytes int64
		count := 0
		for e := l.root.next; e != &l.root; e = e.next {
			if e.next.prev != e || e.prev.next != e {
				return fmt.Errorf("%v: broken links at %v", l.id, e.key)
			}
			if e.list != l.id {
				return fmt.Errorf("%v holds %v, which says it is on %v", l.id, e.key, e.list)
			}
			if e.charge < 1 {
				return fmt.Errorf("%v: %v has charge %d", l.id, e.key, e.charge)
			}
			if !l.id.resident() && e.value != nil {
				return fmt.Errorf("%v: the ghost %v holds a value", l.id, e.key)
			}
			if sl := s.idx.find(e.key, hashKey(e.key)); sl == nil || sl.e != e {
				return fmt.Errorf("%v: %v is not indexed", l.id, e.key)
			}
			bytes += e.charge
			count++
		}
		if bytes != l.bytes || count != l.n {
			return fmt.Errorf("%v: counted %d entries, %d bytes; recorded %d, %d", l.id, count, bytes, l.n, l.bytes)
		}
		n += count
	}
	if n != s.idx.n {
		return fmt.Errorf("%d entries on the lists, %d indexed", n, s.idx.n)
	}
	return s.idx.check()
}
