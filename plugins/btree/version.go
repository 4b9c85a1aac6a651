package btree

import (
	"sync/atomic"
)

// treeVersion is one committed tree: what a meta page describes. It is
// immutable. Readers pin it (through a readState) for as long as they read
// it, and the pages reachable from it are not reused until no reader pins
// it or an older version (see freeList.release).
type treeVersion struct {
	gen       uint64
	root      uint64
	rootGen   uint64
	height    int // levels; 0 for an empty tree
	pageCount uint64
	versions  uint64
	durableTs uint64
	// mapping is the memory map readers of this version use, or nil.
	mapping *mapping
	// refs counts the readStates that hold the version.
	refs atomic.Int32
}

// readState is what a reader sees: the write buffers and the committed
// tree. The active write buffer is two memtables: mem, small, takes the
// Applies, and is moved into big whenever it reaches youngBufferSize
// (Engine.moveYoung), so that big, which holds most of the buffer, takes
// its versions in long sorted runs (see moveYoung for why). Every version
// in mem is newer than every version in big — but for the versions a move
// in progress has copied into big and a reader of the state from before it
// sees in both — every version in big newer than every version in frozen,
// every version in frozen[i] newer than every one in frozen[i+1], and
// every one in frozen newer than every one in the tree. It is immutable
// but for the contents of mem and big, which only grow.
type readState struct {
	mem    *memtable
	big    *memtable
	frozen []*memtable // newest first
	tree   *treeVersion
	// refs counts the engine's reference (while the state is current) and
	// one per reader.
	refs atomic.Int32
	// dead is set once refs has dropped to 0, so a reader that raced the
	// drop (see Engine.acquire) cannot release the tree version twice.
	dead atomic.Bool
}

// acquire returns the current read state with a reference the caller
// drops with release.
func (e *Engine) acquire() *readState {
	for {
		s := e.state.Load()
		s.refs.Add(1)
		// The state may have been replaced, and even released, between
		// the load and the increment; then the increment is undone and
		// the loop reads the new state. A state still current holds the
		// engine's reference, so it cannot have been released.
		if e.state.Load() == s {
			return s
		}
		e.release(s)
	}
}

// release drops a reference taken by acquire (or the engine's own).
func (e *Engine) release(s *readState) {
	if s.refs.Add(-1) == 0 && s.dead.CompareAndSwap(false, true) {
		s.tree.refs.Add(-1)
	}
}

// publishLocked makes s the current read state: it takes the engine's
// reference on s and a reference on s.tree, and drops the engine's
// reference on the state it replaces. e.stateMu is held.
func (e *Engine) publishLocked(s *readState) {
	s.refs.Store(1)
	s.tree.refs.Add(1)
	old := e.state.Swap(s)
	if old != nil {
		e.release(old)
	}
}

// registerVersion adds a committed version to the registry of versions
// that may be pinned. e.commitMu is held.
func (e *Engine) registerVersion(v *treeVersion) {
	e.versionsMu.Lock()
	e.versions = append(e.versions, v)
	e.versionsMu.Unlock()
}

// oldestPinned drops unpinned versions from the registry (unmapping maps no
// version uses any more) and returns the generation of the oldest version a
// reader may still read. e.commitMu is held, so the current version, which
// the current read state pins, is in the registry.
func (e *Engine) oldestPinned() uint64 {
	e.versionsMu.Lock()
	defer e.versionsMu.Unlock()
	cur := e.state.Load().tree
	kept := e.versions[:0]
	for _, v := range e.versions {
		if v.refs.Load() > 0 || v == cur {
			kept = append(kept, v)
			continue
		}
		if err := v.mapping.unref(); err != nil {
			e.log.Warn("unmap", "err", err)
		}
	}
	clear(e.versions[len(kept):])
	e.versions = kept
	oldest := cur.gen
	for _, v := range kept {
		oldest = min(oldest, v.gen)
	}
	return oldest
}
