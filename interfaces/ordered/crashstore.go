package ordered

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// CrashStore is a MemStore that can simulate a machine crash, for testing
// the adapter's crash contract and anything built on it. It remembers the
// contents at the last Sync and every Write since; Crash returns a new
// store holding the synced contents plus any chosen subset of the later
// Writes, applied in order, each whole or not at all — the weakest promise
// the Store contract allows.
//
// A CrashStore is safe for concurrent use.
type CrashStore struct {
	st     *crashState
	closed atomic.Bool
}

// crashState is what the handles of one simulated machine share.
type crashState struct {
	tree    *memTree
	mu      sync.Mutex // orders Writes with Sync and Crash; guards the fields below
	synced  *node      // the contents at the last Sync (nodes are immutable, so this is free)
	pending [][]Op     // Writes since the last Sync, deep-copied, in order
	crashed atomic.Bool
}

// NewCrashStore returns an empty CrashStore.
func NewCrashStore() *CrashStore {
	return &CrashStore{st: &crashState{tree: newMemTree(nil)}}
}

var (
	_ Store             = (*CrashStore)(nil)
	_ Sizer             = (*CrashStore)(nil)
	_ SnapshotIterators = (*CrashStore)(nil)
)

// errCrashed is returned by every call on a store after Crash.
var errCrashed = errors.New("lightning/ordered: crash store: the machine crashed; use the store Crash returned")

func (c *CrashStore) check() error {
	switch {
	case c.st.crashed.Load():
		return errCrashed
	case c.closed.Load():
		return errMemClosed
	}
	return nil
}

func (c *CrashStore) Write(ops []Op) error {
	if err := c.check(); err != nil {
		return err
	}
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.crashed.Load() {
		return errCrashed
	}
	st.tree.write(ops)
	cp := make([]Op, len(ops))
	for i, op := range ops {
		cp[i] = Op{Key: bytes.Clone(op.Key), Value: bytes.Clone(op.Value), Delete: op.Delete}
	}
	st.pending = append(st.pending, cp)
	return nil
}

func (c *CrashStore) Get(key []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.st.tree.get(key)
}

func (c *CrashStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return newMemIter(c.st.tree.root.Load(), lower, upper), nil
}

// Sync makes every Write so far survive a Crash.
func (c *CrashStore) Sync() error {
	if err := c.check(); err != nil {
		return err
	}
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.synced = st.tree.root.Load()
	st.pending = nil
	return nil
}

// Close closes this handle. Unsynced Writes stay in the machine's memory, as
// in a file closed without fsync: a later Crash of any handle may still lose
// them.
func (c *CrashStore) Close() error {
	if c.st.crashed.Load() {
		return nil // the machine is gone; releasing it cannot fail
	}
	if !c.closed.CompareAndSwap(false, true) {
		return errMemClosed
	}
	return nil
}

// Size reports the bytes of keys and values held as disk bytes: a
// CrashStore simulates a store on disk, whose files hold every Write, synced
// or not.
func (c *CrashStore) Size() (diskBytes, memBytes int64, err error) {
	if err := c.check(); err != nil {
		return 0, 0, err
	}
	return c.st.tree.bytes.Load(), 0, nil
}

// IteratorsAreSnapshots reports true, as for MemStore.
func (c *CrashStore) IteratorsAreSnapshots() bool { return true }

// Reopen returns a new handle on the same simulated machine, as reopening a
// file after a clean Close would; c may be closed.
func (c *CrashStore) Reopen() *CrashStore { return &CrashStore{st: c.st} }

// Unsynced returns the number of Writes a Crash could lose.
func (c *CrashStore) Unsynced() int {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	return len(c.st.pending)
}

// Crash simulates the machine dying and returns a store opened on what
// survived: the contents at the last Sync, then each later Write applied
// (whole) with probability keepUnsynced, in order, drawn from seed. Every
// handle on the crashed machine fails from then on.
func (c *CrashStore) Crash(keepUnsynced float64, seed uint64) *CrashStore {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.crashed.Store(true)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t := newMemTree(st.synced)
	for _, ops := range st.pending {
		if rng.Float64() < keepUnsynced {
			t.write(ops)
		}
	}
	// What survived is on the disk now: it is the new machine's synced state.
	return &CrashStore{st: &crashState{tree: t, synced: t.root.Load()}}
}
