package ordered_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/ordered"
)

// crashHarness runs the Storage suite against New over a CrashStore: Crash
// crashes the store (each unsynced Write surviving with probability
// keepUnsynced, which exercises New's cleanup of versions above DurableTs),
// and Reopen wraps a new handle on the same store.
type crashHarness struct {
	opts ordered.Options
	// wrap turns the CrashStore into the Store under test.
	wrap func(*ordered.CrashStore) ordered.Store

	mu     sync.Mutex
	stores map[interfaces.Storage]*ordered.CrashStore // INVARIANT: every live instance is here
}

func newCrashHarness(opts ordered.Options, wrap func(*ordered.CrashStore) ordered.Store) *crashHarness {
	return &crashHarness{opts: opts, wrap: wrap, stores: map[interfaces.Storage]*ordered.CrashStore{}}
}

func (h *crashHarness) New(conformance.T) (interfaces.Storage, error) {
	return h.openOn(ordered.NewCrashStore())
}

func (h *crashHarness) openOn(cs *ordered.CrashStore) (interfaces.Storage, error) {
	s, err := ordered.New(h.wrap(cs), h.opts)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.stores[s] = cs
	h.mu.Unlock()
	return s, nil
}

func (h *crashHarness) take(s interfaces.Storage) (*ordered.CrashStore, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, ok := h.stores[s]
	if !ok {
		return nil, fmt.Errorf("storage %p was not made by this harness", s)
	}
	delete(h.stores, s)
	return cs, nil
}

func (h *crashHarness) Crash(_ conformance.T, s interfaces.Storage, keepUnsynced float64, seed uint64) (interfaces.Storage, error) {
	cs, err := h.take(s)
	if err != nil {
		return nil, err
	}
	survivor := cs.Crash(keepUnsynced, seed)
	_ = s.Close() // the old machine is gone; this only releases it
	return h.openOn(survivor)
}

func (h *crashHarness) Reopen(_ conformance.T, s interfaces.Storage) (interfaces.Storage, error) {
	cs, err := h.take(s)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("close before reopen: %w", err)
	}
	return h.openOn(cs.Reopen())
}

func asStore(cs *ordered.CrashStore) ordered.Store { return cs }

func TestConformance(t *testing.T) {
	t.Run("CrashStore", func(t *testing.T) {
		conformance.TestStorage(t, newCrashHarness(ordered.Options{}, asStore))
	})
	// Tiny batches split every cleanup and collection into many Writes, and
	// live-view iterators that ignore the bounds are the least a Store may
	// offer: the adapter must still pass.
	t.Run("LiveView", func(t *testing.T) {
		conformance.TestStorage(t, newCrashHarness(ordered.Options{BatchOps: 2},
			func(cs *ordered.CrashStore) ordered.Store { return liveView{cs} }))
	})
	// The third-party store of Example_wrapStore, as an ephemeral part.
	t.Run("Ephemeral", func(t *testing.T) {
		conformance.TestStorage(t, ephemeralHarness{})
	})
}

// ephemeralHarness wraps a fresh sliceStore each time with
// Options.Ephemeral: a reopen or a crash starts empty.
type ephemeralHarness struct{}

func (ephemeralHarness) New(conformance.T) (interfaces.Storage, error) {
	return ordered.New(&sliceStore{}, ordered.Options{Ephemeral: true})
}

func (h ephemeralHarness) Crash(t conformance.T, s interfaces.Storage, _ float64, _ uint64) (interfaces.Storage, error) {
	_ = s.Close()
	return h.New(t)
}

func (h ephemeralHarness) Reopen(t conformance.T, s interfaces.Storage) (interfaces.Storage, error) {
	if err := s.Close(); err != nil {
		return nil, err
	}
	return h.New(t)
}

// liveView is a Store whose iterators are live views of another Store:
// every move opens a fresh iterator on the latest contents, and the bounds
// are ignored.
type liveView struct{ ordered.Store }

func (l liveView) NewIterator(_, _ []byte) (ordered.StoreIterator, error) {
	return &liveIter{store: l.Store}, nil
}

// Size passes the wrapped store's sizes through.
func (l liveView) Size() (diskBytes, memBytes int64, err error) {
	if sz, ok := l.Store.(ordered.Sizer); ok {
		return sz.Size()
	}
	return 0, 0, nil
}

type liveIter struct {
	store      ordered.Store
	key, value []byte
	err        error
}

// move positions on the latest contents with fn and copies the result.
func (l *liveIter) move(fn func(it ordered.StoreIterator) bool) bool {
	it, err := l.store.NewIterator(nil, nil)
	if err != nil {
		l.err = err
		return false
	}
	ok := fn(it)
	if ok {
		l.key, l.value = bytes.Clone(it.Key()), bytes.Clone(it.Value())
	}
	if err := it.Close(); err != nil {
		l.err = err
		return false
	}
	return ok
}

func (l *liveIter) SeekGE(k []byte) bool {
	return l.move(func(it ordered.StoreIterator) bool { return it.SeekGE(k) })
}

func (l *liveIter) SeekLT(k []byte) bool {
	return l.move(func(it ordered.StoreIterator) bool { return it.SeekLT(k) })
}
func (l *liveIter) First() bool { return l.move(ordered.StoreIterator.First) }
func (l *liveIter) Last() bool  { return l.move(ordered.StoreIterator.Last) }
func (l *liveIter) Next() bool {
	next := append(bytes.Clone(l.key), 0x00)
	return l.move(func(it ordered.StoreIterator) bool { return it.SeekGE(next) })
}

func (l *liveIter) Prev() bool {
	cur := l.key
	return l.move(func(it ordered.StoreIterator) bool { return it.SeekLT(cur) })
}
func (l *liveIter) Key() []byte   { return l.key }
func (l *liveIter) Value() []byte { return l.value }
func (l *liveIter) Err() error    { return l.err }
func (l *liveIter) Close() error  { return l.err }
