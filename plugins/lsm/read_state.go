package lsm

import "sync/atomic"

// readState is what a read needs: the memtables, newest first, and the
// version. A Get or an iterator takes a reference and so pins all of them:
// their arenas are not recycled and their tables not deleted until it lets
// go. The engine replaces the read state (an atomic pointer swap) at every
// memtable rotation, flush and compaction; readers never lock.
type readState struct {
	refs atomic.Int32
	// mems holds the mutable memtable (when there is one) and then the
	// immutable ones, newest first. Each holds a reference from the read
	// state.
	mems []*memTable
	// v is the version; the read state holds a reference.
	v *version
}

// tryRef adds a reference unless the read state is already released.
func (rs *readState) tryRef() bool {
	for {
		n := rs.refs.Load()
		if n <= 0 {
			return false
		}
		if rs.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref drops a reference; the last one releases the memtables and the
// version.
func (rs *readState) unref() {
	if rs.refs.Add(-1) != 0 {
		return
	}
	for _, m := range rs.mems {
		m.unref()
	}
	rs.v.unref()
}

// acquireReadState returns the current read state with a reference the
// caller drops with unref. The engine's own reference keeps the current
// read state alive, so a tryRef fails only when a newer one replaced it
// meanwhile, and the loop loads that.
func (e *Engine) acquireReadState() *readState {
	for {
		rs := e.rs.Load()
		if rs.tryRef() {
			return rs
		}
	}
}

// installReadStateLocked publishes a read state for the current memtables
// and version, and drops the engine's reference to the previous one.
// Called with mu held (or before the engine is shared).
func (e *Engine) installReadStateLocked() {
	rs := &readState{v: e.current, mems: make([]*memTable, 0, 1+len(e.imm))}
	rs.refs.Store(1)
	e.current.ref()
	if e.mutable != nil {
		e.mutable.ref()
		rs.mems = append(rs.mems, e.mutable)
	}
	for i := len(e.imm) - 1; i >= 0; i-- {
		e.imm[i].ref()
		rs.mems = append(rs.mems, e.imm[i])
	}
	if old := e.rs.Swap(rs); old != nil {
		old.unref()
	}
}
