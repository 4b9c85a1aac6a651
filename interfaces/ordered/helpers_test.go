package ordered

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// testT is what the helpers need of *testing.T and *rapid.T.
type testT interface {
	require.TestingT
	Helper()
}

// item is one version as an iterator yields it.
type item struct {
	key   string
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

func (i item) String() string {
	if i.kind == interfaces.KindDelete {
		return fmt.Sprintf("%q@%d:del", i.key, i.ts)
	}
	return fmt.Sprintf("%q@%d=%q", i.key, i.ts, i.value)
}

func setE(key string, ts uint64, value string) interfaces.Entry {
	return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindSet, Value: []byte(value)}
}

func delE(key string, ts uint64) interfaces.Entry {
	return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindDelete}
}

// refVersion is a version in the reference model.
type refVersion struct {
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

// refModel is the reference: every version of every key, newest first.
type refModel map[string][]refVersion

func (m refModel) apply(entries ...interfaces.Entry) {
	for _, e := range entries {
		v := refVersion{ts: e.Ts, kind: e.Kind}
		if e.Kind == interfaces.KindSet {
			v.value = string(e.Value)
		}
		m[string(e.Key)] = append([]refVersion{v}, m[string(e.Key)]...)
	}
}

// truncate drops the versions above ts, as a crash with DurableTs ts does.
func (m refModel) truncate(ts uint64) {
	for k, vs := range m {
		vs = slices.DeleteFunc(slices.Clone(vs), func(v refVersion) bool { return v.ts > ts })
		if len(vs) == 0 {
			delete(m, k)
		} else {
			m[k] = vs
		}
	}
}

func (m refModel) keys() []string { return slices.Sorted(maps.Keys(m)) }

// get is what Get(key, readTs) returns at or above the discard ts.
func (m refModel) get(key string, readTs uint64) (refVersion, bool) {
	for _, v := range m[key] {
		if v.ts <= readTs {
			return v, v.kind == interfaces.KindSet
		}
	}
	return refVersion{}, false
}

// droppable reports whether version i of vs (newest first) may go under
// discard.
func droppable(vs []refVersion, i int, discard uint64) bool {
	for j, v := range vs {
		if v.ts <= discard {
			return i > j || (i == j && v.kind == interfaces.KindDelete)
		}
	}
	return false
}

func inRange(key string, opts interfaces.IterOptions) bool {
	k := []byte(key)
	return (opts.LowerBound == nil || bytes.Compare(k, opts.LowerBound) >= 0) &&
		(opts.UpperBound == nil || bytes.Compare(k, opts.UpperBound) < 0) &&
		(opts.Prefix == nil || bytes.HasPrefix(k, opts.Prefix))
}

// expect returns what an iterator with opts yields when the Storage has
// applied up to applied, with droppable versions (under discard) left out
// when drop is set.
func (m refModel) expect(opts interfaces.IterOptions, applied, discard uint64, drop bool) []item {
	readTs := min(opts.ReadTs, applied)
	var out []item
	for _, k := range m.keys() {
		if !inRange(k, opts) {
			continue
		}
		vs := m[k]
		if !opts.AllVersions {
			if v, ok := m.get(k, readTs); ok {
				out = append(out, item{k, v.ts, v.kind, v.value})
			}
			continue
		}
		for i, v := range vs {
			if v.ts <= readTs && !(drop && droppable(vs, i, discard)) {
				out = append(out, item{k, v.ts, v.kind, v.value})
			}
		}
	}
	if opts.Reverse {
		slices.Reverse(out)
	}
	return out
}

// seekIndex is where Seek(target) lands in want (in iterator order).
func seekIndex(want []item, target []byte, reverse bool) int {
	for i, w := range want {
		c := bytes.Compare([]byte(w.key), target)
		if (!reverse && c >= 0) || (reverse && c <= 0) {
			return i
		}
	}
	return len(want)
}

// drain reads the iterator from its current position (ok says whether it
// is valid there) to its end.
func drain(t testT, it interfaces.Iterator, ok bool) []item {
	t.Helper()
	var out []item
	for ; ok; ok = it.Next() {
		require.True(t, it.Valid())
		out = append(out, item{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
		require.Less(t, len(out), 1_000_000, "iterator does not end")
	}
	require.False(t, it.Valid())
	require.NoError(t, it.Err())
	return out
}

// walk reads a whole iterator with opts and closes it.
func walk(t testT, s interfaces.Storage, opts interfaces.IterOptions) []item {
	t.Helper()
	it, err := s.NewIterator(opts)
	require.NoError(t, err)
	got := drain(t, it, it.First())
	require.NoError(t, it.Close())
	return got
}

var (
	allOpts     = interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
	currentOpts = interfaces.IterOptions{ReadTs: interfaces.MaxTs}
)

// open wraps store with New and closes the Storage when the test ends,
// unless the test closed it (or handed it to a crash) first.
func open(t testing.TB, store Store, opts Options) *Storage {
	t.Helper()
	s, err := New(store, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if !s.closed.Load() {
			require.NoError(t, s.Check())
			require.NoError(t, s.Close())
		}
	})
	return s
}

// faultyStore fails Writes or Syncs on demand: every one while failWrite
// or failSync is set, and every Sync from the failSyncFrom-th on (counting
// from 1) when that is above 0.
type faultyStore struct {
	Store
	failWrite    atomic.Bool
	failSync     atomic.Bool
	failSyncFrom atomic.Int64
	writes       atomic.Int64
	syncs        atomic.Int64
}

var errInjected = errors.New("injected fault")

func (f *faultyStore) Write(ops []Op) error {
	if f.failWrite.Load() {
		return errInjected
	}
	f.writes.Add(1)
	return f.Store.Write(ops)
}

func (f *faultyStore) Sync() error {
	n := f.syncs.Add(1)
	if f.failSync.Load() || (f.failSyncFrom.Load() > 0 && n >= f.failSyncFrom.Load()) {
		return errInjected
	}
	return f.Store.Sync()
}

// liveStore is a Store whose iterators are live views rather than
// snapshots, and which ignores the bounds hints: every move re-reads the
// latest contents. It is the least a Store may offer, and the adapter must
// still honour the Storage snapshot contract over it.
type liveStore struct{ *MemStore }

// IteratorsAreSnapshots overrides MemStore's claim.
func (liveStore) IteratorsAreSnapshots() bool { return false }

func (l liveStore) NewIterator(_, _ []byte) (StoreIterator, error) {
	if l.closed.Load() {
		return nil, errMemClosed
	}
	return &liveIter{t: l.t}, nil
}

// hookedStore is a liveStore whose iterators call beforeMove with their
// current key (nil when not positioned) before every move, so a test can
// change the store at an exact point of an iteration.
type hookedStore struct {
	liveStore
	beforeMove func(key []byte)
}

func (h hookedStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	it, err := h.liveStore.NewIterator(lower, upper)
	if err != nil {
		return nil, err
	}
	it.(*liveIter).beforeMove = h.beforeMove
	return it, nil
}

type liveIter struct {
	t          *memTree
	key, value []byte
	pos        bool
	beforeMove func(key []byte)
}

// at repositions on the latest tree with fn and copies the result (the
// tree it came from is gone by the next move).
func (l *liveIter) at(fn func(it *memIter) bool) bool {
	if l.beforeMove != nil {
		var cur []byte
		if l.pos {
			cur = l.key
		}
		l.beforeMove(cur)
	}
	it := newMemIter(l.t.root.Load(), nil, nil)
	l.pos = fn(it)
	if l.pos {
		l.key, l.value = bytes.Clone(it.Key()), bytes.Clone(it.Value())
	}
	return l.pos
}

func (l *liveIter) SeekGE(k []byte) bool {
	return l.at(func(it *memIter) bool { return it.SeekGE(k) })
}

func (l *liveIter) SeekLT(k []byte) bool {
	return l.at(func(it *memIter) bool { return it.SeekLT(k) })
}
func (l *liveIter) First() bool { return l.at((*memIter).First) }
func (l *liveIter) Last() bool  { return l.at((*memIter).Last) }
func (l *liveIter) Next() bool {
	next := append(bytes.Clone(l.key), 0x00)
	return l.at(func(it *memIter) bool { return it.SeekGE(next) })
}

func (l *liveIter) Prev() bool {
	cur := l.key
	return l.at(func(it *memIter) bool { return it.SeekLT(cur) })
}
func (l *liveIter) Key() []byte   { return l.key }
func (l *liveIter) Value() []byte { return l.value }
func (l *liveIter) Err() error    { return nil }
func (l *liveIter) Close() error  { return nil }

// iterHookStore wraps a Store so that onNewIterator runs at the start of
// every NewIterator call, before the store makes its iterator.
type iterHookStore struct {
	Store
	onNewIterator func()
}

func (h iterHookStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	if h.onNewIterator != nil {
		h.onNewIterator()
	}
	return h.Store.NewIterator(lower, upper)
}
