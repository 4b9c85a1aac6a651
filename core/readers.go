package core

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// readers tracks the read ts of every read in progress, so the core can
// tell the engine how far garbage collection may go (Storage.SetDiscardTs):
// the discard ts must never pass the read ts of a live read.
//
// Long-lived readers (transactions, snapshots, iterators) register their ts
// in a multiset. Point reads are too frequent for a mutex, so they use two
// epoch counters instead: a Get increments the counter of the current epoch,
// loads the visible ts, reads, and decrements. To advance the discard ts the
// core computes a candidate, flips the epoch and waits for the old epoch's
// counter to drain. A Get's increment counts for epoch e only if the epoch
// was e both before and after it; then the first flip after the increment
// has e as its old epoch and waits for the Get, and any flip before it
// computed its candidate before the Get loaded the (monotonic) visible ts.
type readers struct {
	epoch    atomic.Uint64
	inflight [2]paddedCounter

	mu sync.Mutex
	// active counts registered readers per read ts.
	// INVARIANT: every count is > 0; a ts with no reader is absent.
	active map[uint64]int
}

type paddedCounter struct {
	n atomic.Int64
	_ [56]byte // keep the two counters on separate cache lines
}

func newReaders() *readers {
	return &readers{active: make(map[uint64]int)}
}

// enterPoint marks the start of a point read and returns the token to pass
// to exitPoint. The caller loads the visible ts after enterPoint.
func (r *readers) enterPoint() uint64 {
	for {
		e := r.epoch.Load()
		r.inflight[e&1].n.Add(1)
		// The increment counts only if no flip happened around it: then
		// the first flip after it has e as its old epoch and waits for
		// this read.
		if r.epoch.Load() == e {
			return e & 1
		}
		r.inflight[e&1].n.Add(-1)
	}
}

// exitPoint marks the end of the point read started with token e.
func (r *readers) exitPoint(e uint64) {
	r.inflight[e].n.Add(-1)
}

// registerVisible adds a long-lived reader at the visible ts, which it
// loads and returns. The load and the registration run as a point read
// does, inside an epoch, so that an advance of the discard ts either waits
// for them and then sees the registration, or computed its candidate
// before the load (see safeDiscardTs). Registering a ts loaded earlier
// with register has no such guarantee: the discard ts may pass it in
// between.
func (r *readers) registerVisible(visible *atomic.Uint64) uint64 {
	e := r.enterPoint()
	ts := visible.Load()
	r.register(ts)
	r.exitPoint(e)
	return ts
}

// register adds a long-lived reader at ts.
func (r *readers) register(ts uint64) {
	r.mu.Lock()
	r.active[ts]++
	r.mu.Unlock()
}

// unregister removes a reader added by register.
func (r *readers) unregister(ts uint64) {
	r.mu.Lock()
	if n := r.active[ts]; n <= 1 {
		delete(r.active, ts)
	} else {
		r.active[ts] = n - 1
	}
	r.mu.Unlock()
}

// count returns the number of registered long-lived readers.
func (r *readers) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.active {
		n += c
	}
	return n
}

// safeDiscardTs returns a ts at or below the read ts of every live and
// future read, given the visible ts now: the minimum registered read ts, or
// visible when there is none. It waits for the point reads that might have
// started below it, and only then reads the registrations, so that it sees
// every reader registered with registerVisible in the old epoch.
func (r *readers) safeDiscardTs(visible func() uint64) uint64 {
	cand := visible()
	old := r.epoch.Add(1) - 1
	for spins := 0; r.inflight[old&1].n.Load() != 0; spins++ {
		if spins < 64 {
			runtime.Gosched()
		} else {
			// A point read is a storage Get: microseconds. Sleeping
			// a little keeps a stalled read from burning a core.
			sleepBrief()
		}
	}
	r.mu.Lock()
	for ts := range r.active {
		if ts < cand {
			cand = ts
		}
	}
	r.mu.Unlock()
	return cand
}
