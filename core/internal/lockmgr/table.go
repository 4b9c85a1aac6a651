package lockmgr

import "sync"

const (
	// shardBits sets the number of key shards and of transaction shards: a
	// power of two, so a hash picks one with a mask or a shift.
	shardBits = 6
	numShards = 1 << shardBits
	// shrinkAbove is the size past which a key shard's map is reallocated
	// once it empties: Go maps never give back the room they grew into.
	shrinkAbove = 1024
	// maxFree bounds each shard's free list of entries or states, so the
	// memory kept for reuse is a constant, whatever the peak.
	maxFree = 64
	// maxKeptHeld and maxKeptWaiters cap the slice capacity a recycled
	// state or entry keeps, so one huge transaction or one long queue does
	// not stay pinned in a free list.
	maxKeptHeld    = 256
	maxKeptWaiters = 16
)

// keyShard is one shard of the lock table.
type keyShard struct {
	// mu guards the fields below and the holder of every entry in the
	// shard. Taken after Manager.graphMu, before txnShard.mu.
	mu sync.Mutex
	// locks maps the hash of a key to its entry, and to the other entries
	// whose keys share the hash through entry.next (64-bit hashes collide
	// almost never, but a collision must not merge two keys). Keying by the
	// hash spares the map hashing the key string again on every insert,
	// lookup and delete.
	// INVARIANT: every entry reachable from locks is held (entry.holder is
	// its owner), lives in this shard, is reachable from locks[entry.hash]
	// and nowhere else, and no two reachable entries have the same key. A
	// key nobody holds has no entry.
	locks map[uint64]*entry
	// n is the number of entries reachable from locks; peak the largest n
	// since locks was last allocated.
	n, peak int
	// free is a list of released entries, chained through next, for reuse.
	// INVARIANT: nfree entries, each zeroed but for its waiters array
	// (empty); nfree <= maxFree.
	free  *entry
	nfree int
	// Keep two shards' mutexes off one cache line; the fast paths of two
	// goroutines on different shards would otherwise contend for it.
	_ [64]byte
}

// entry is a held key.
type entry struct {
	// key is an owned copy of the key; hash its hash under Manager.seed.
	// Both immutable while the entry is in the table.
	key  string
	hash uint64
	// next chains entries whose keys share a hash, or the free list.
	next *entry
	// shard is the key shard the entry lives in.
	shard *keyShard
	// holder owns the lock. Guarded by shard.mu; while waiters is not empty
	// it changes only with Manager.graphMu held as well, which is what lets
	// the deadlock check read it under graphMu alone.
	holder TxnID
	// waiters are the requests queued for the key, oldest first. Changed
	// only with both graphMu and shard.mu held, so readable under either.
	// INVARIANT: a waiter's txn is never the holder.
	waiters []*waiter
}

// findLocked returns the entry of key, hashed to h, or nil. s.mu is held.
func (s *keyShard) findLocked(h uint64, key []byte) *entry {
	for e := s.locks[h]; e != nil; e = e.next {
		if e.key == string(key) {
			return e
		}
	}
	return nil
}

// insertLocked creates the entry of a free key, held by txn. s.mu is held.
func (s *keyShard) insertLocked(h uint64, key []byte, txn TxnID) *entry {
	e := s.free
	if e != nil {
		s.free, e.next = e.next, nil
		s.nfree--
	} else {
		e = new(entry)
	}
	e.key = string(key)
	e.hash = h
	e.shard = s
	e.holder = txn
	e.next = s.locks[h]
	s.locks[h] = e
	s.n++
	s.peak = max(s.peak, s.n)
	return e
}

// removeLocked deletes e, which nobody waits for, and recycles it. s.mu is
// held.
func (s *keyShard) removeLocked(e *entry) {
	if head := s.locks[e.hash]; head == e {
		if e.next == nil {
			delete(s.locks, e.hash)
		} else {
			s.locks[e.hash] = e.next
		}
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == e {
				p.next = e.next
				break
			}
		}
	}
	s.n--
	if s.n == 0 && s.peak > shrinkAbove {
		s.locks = make(map[uint64]*entry)
		s.peak = 0
	}
	if s.nfree >= maxFree {
		return
	}
	q := e.waiters[:0]
	if cap(q) > maxKeptWaiters {
		q = nil
	}
	*e = entry{waiters: q, next: s.free}
	s.free = e
	s.nfree++
}

// txnShard is one shard of the per-transaction lock lists.
type txnShard struct {
	// mu guards the fields below and every state in them. Taken last.
	mu sync.Mutex
	// txns maps a transaction to the locks it holds.
	// INVARIANT: a transaction has a state iff it holds at least one lock,
	// except while UnlockAll releases them (the state is removed first).
	txns map[TxnID]*txnState
	// free holds released states for reuse, each with an empty held slice.
	// INVARIANT: len(free) <= maxFree.
	free []*txnState
	_    [64]byte
}

// txnState lists the keys a transaction holds.
type txnState struct {
	// INVARIANT: e is in held iff e.holder is this transaction (outside
	// UnlockAll), each at most once.
	held []*entry
}

// addLocked records that txn holds e. ts.mu is held.
func (ts *txnShard) addLocked(txn TxnID, e *entry) {
	st := ts.txns[txn]
	if st == nil {
		if n := len(ts.free); n > 0 {
			st = ts.free[n-1]
			ts.free[n-1] = nil
			ts.free = ts.free[:n-1]
		} else {
			st = new(txnState)
		}
		ts.txns[txn] = st
	}
	st.held = append(st.held, e)
}

// takeLocked removes and returns txn's state, or nil. ts.mu is held.
func (ts *txnShard) takeLocked(txn TxnID) *txnState {
	st := ts.txns[txn]
	if st != nil {
		delete(ts.txns, txn)
	}
	return st
}

// recycleLocked keeps a released state for reuse. ts.mu is held.
func (ts *txnShard) recycleLocked(st *txnState) {
	if len(ts.free) >= maxFree || cap(st.held) > maxKeptHeld {
		return
	}
	clear(st.held)
	st.held = st.held[:0]
	ts.free = append(ts.free, st)
}
