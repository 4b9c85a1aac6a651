package ordered_test

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/ordered"
)

// sliceStore is what a third party writes: a Store over its own ordered
// database, here a sorted slice. Its iterators copy the slice, which makes
// them point-in-time views (a live view would do as well).
type sliceStore struct {
	mu   sync.RWMutex
	keys [][]byte // sorted
	vals [][]byte
}

func (s *sliceStore) find(key []byte) (int, bool) {
	return slices.BinarySearchFunc(s.keys, key, bytes.Compare)
}

// Write applies the ops under one lock, so readers see all or none.
func (s *sliceStore) Write(ops []ordered.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		i, found := s.find(op.Key)
		switch {
		case op.Delete && found:
			s.keys = slices.Delete(s.keys, i, i+1)
			s.vals = slices.Delete(s.vals, i, i+1)
		case op.Delete:
		case found:
			s.vals[i] = bytes.Clone(op.Value)
		default:
			s.keys = slices.Insert(s.keys, i, bytes.Clone(op.Key))
			s.vals = slices.Insert(s.vals, i, bytes.Clone(op.Value))
		}
	}
	return nil
}

func (s *sliceStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i, found := s.find(key); found {
		return bytes.Clone(s.vals[i]), nil
	}
	return nil, interfaces.ErrNotFound
}

// NewIterator ignores the bounds, which are only hints.
func (s *sliceStore) NewIterator(_, _ []byte) (ordered.StoreIterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Slices.Clone copies the headers; the stored byte slices are never
	// modified in place (Write replaces them), so sharing them is safe.
	return &sliceIter{keys: slices.Clone(s.keys), vals: slices.Clone(s.vals), i: -1}, nil
}

func (s *sliceStore) Sync() error  { return nil } // memory: nothing to sync
func (s *sliceStore) Close() error { return nil }

// IteratorsAreSnapshots is optional (ordered.SnapshotIterators): it tells the
// adapter that it need not double-check reverse iteration.
func (s *sliceStore) IteratorsAreSnapshots() bool { return true }

type sliceIter struct {
	keys, vals [][]byte
	i          int // -1 or len(keys) when not positioned
}

func (it *sliceIter) at(i int) bool { it.i = i; return i >= 0 && i < len(it.keys) }
func (it *sliceIter) SeekGE(key []byte) bool {
	return it.at(sort.Search(len(it.keys), func(i int) bool { return bytes.Compare(it.keys[i], key) >= 0 }))
}
func (it *sliceIter) SeekLT(key []byte) bool {
	return it.at(sort.Search(len(it.keys), func(i int) bool { return bytes.Compare(it.keys[i], key) >= 0 }) - 1)
}
func (it *sliceIter) First() bool   { return it.at(0) }
func (it *sliceIter) Last() bool    { return it.at(len(it.keys) - 1) }
func (it *sliceIter) Next() bool    { return it.at(it.i + 1) }
func (it *sliceIter) Prev() bool    { return it.at(it.i - 1) }
func (it *sliceIter) Key() []byte   { return it.keys[it.i] }
func (it *sliceIter) Value() []byte { return it.vals[it.i] }
func (it *sliceIter) Err() error    { return nil }
func (it *sliceIter) Close() error  { return nil }

// A third party wraps its ordered store and gets a full Storage: versions,
// snapshots, the crash contract, garbage collection.
func Example_wrapStore() {
	storage, err := ordered.New(&sliceStore{}, ordered.Options{Name: "slice", Ephemeral: true})
	if err != nil {
		panic(err)
	}
	defer storage.Close()

	// The core applies commit groups, each version with its ts.
	_ = storage.Apply([]interfaces.Entry{
		{Key: []byte("apple"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("red")},
		{Key: []byte("banana"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("yellow")},
	})
	_ = storage.Apply([]interfaces.Entry{
		{Key: []byte("apple"), Ts: 2, Kind: interfaces.KindSet, Value: []byte("green")},
		{Key: []byte("banana"), Ts: 2, Kind: interfaces.KindDelete},
	})

	old, _, _ := storage.Get([]byte("apple"), 1)
	cur, ts, _ := storage.Get([]byte("apple"), interfaces.MaxTs)
	fmt.Printf("apple at 1: %s, now: %s (ts %d)\n", old, cur, ts)
	if _, _, err := storage.Get([]byte("banana"), interfaces.MaxTs); err != nil {
		fmt.Println("banana now:", err)
	}

	it, _ := storage.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Printf("%s@%d kind %d %q\n", it.Key(), it.Ts(), it.Kind(), it.Value())
	}
	_ = it.Close()
	// Output:
	// apple at 1: red, now: green (ts 2)
	// banana now: lightning: not found
	// apple@2 kind 1 "green"
	// apple@1 kind 1 "red"
	// banana@2 kind 2 ""
	// banana@1 kind 1 "yellow"
}

// The crash contract over a store that keeps every Write: after a crash,
// exactly the versions up to DurableTs remain.
func ExampleCrashStore() {
	store := ordered.NewCrashStore()
	storage, _ := ordered.New(store, ordered.Options{})
	_ = storage.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("flushed")}})
	durable, _ := storage.Flush()
	_ = storage.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 2, Kind: interfaces.KindSet, Value: []byte("not flushed")}})

	// The machine dies; every unsynced Write happens to survive on disk.
	survivor := store.Crash(1, 0)
	_ = storage.Close()
	storage, _ = ordered.New(survivor, ordered.Options{})
	defer storage.Close()

	v, ts, _ := storage.Get([]byte("k"), interfaces.MaxTs)
	after, _ := storage.DurableTs()
	fmt.Printf("durable %d before, %d after; k = %q at ts %d\n", durable, after, v, ts)
	// Output:
	// durable 1 before, 1 after; k = "flushed" at ts 1
}
