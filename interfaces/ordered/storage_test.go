package ordered

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestDescribe(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	d := s.Describe()
	require.Equal(t, interfaces.KindStorage, d.Kind)
	require.Equal(t, "ordered", d.Name)
	require.Equal(t, DefaultVersion, d.Version)
	require.Equal(t, interfaces.StorageContractVersion, d.ContractVersion)
	for _, c := range []interfaces.Capability{interfaces.CapDurable, interfaces.CapDiscard, interfaces.CapCompact, interfaces.CapCheck} {
		require.True(t, d.Has(c), c)
	}

	e := open(t, NewMemStore(), Options{Name: "bbolt", Version: "0.3.0", Ephemeral: true})
	d = e.Describe()
	require.Equal(t, "bbolt", d.Name)
	require.Equal(t, "0.3.0", d.Version)
	require.False(t, d.Has(interfaces.CapDurable))
	require.True(t, d.Has(interfaces.CapDiscard))
}

func TestOptionsValidate(t *testing.T) {
	_, err := New(NewMemStore(), Options{BatchOps: -1})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	_, err = New(NewMemStore(), Options{BatchBytes: -1})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	_, err = New(nil, Options{})
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestVisibility(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "a1"), setE("b", 1, "b1")}))
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 3, "a3"), delE("b", 3), setE("a", 4, "a4")}))
	require.NoError(t, s.Apply([]interfaces.Entry{setE("b", 6, "b6")}))

	tests := []struct {
		key    string
		readTs uint64
		value  string
		ts     uint64 // 0: not found
	}{
		{"a", 0, "", 0},
		{"a", 1, "a1", 1},
		{"a", 2, "a1", 1},
		{"a", 3, "a3", 3},
		{"a", 4, "a4", 4},
		{"a", interfaces.MaxTs, "a4", 4},
		{"b", 2, "b1", 1},
		{"b", 3, "", 0},
		{"b", 5, "", 0},
		{"b", 6, "b6", 6},
		{"c", interfaces.MaxTs, "", 0},
		{"", interfaces.MaxTs, "", 0},
		{"a\x00", interfaces.MaxTs, "", 0},
	}
	for _, tt := range tests {
		v, ts, err := s.Get([]byte(tt.key), tt.readTs)
		if tt.ts == 0 {
			require.ErrorIs(t, err, interfaces.ErrNotFound, "Get(%q, %d)", tt.key, tt.readTs)
			continue
		}
		require.NoError(t, err, "Get(%q, %d)", tt.key, tt.readTs)
		require.Equal(t, tt.value, string(v), "Get(%q, %d)", tt.key, tt.readTs)
		require.Equal(t, tt.ts, ts)
	}

	// The value belongs to the caller.
	v, _, err := s.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	v[0] = 'X'
	v2, _, err := s.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "a4", string(v2))

	require.Equal(t, []item{{"a", 4, interfaces.KindSet, "a4"}, {"b", 6, interfaces.KindSet, "b6"}}, walk(t, s, currentOpts))
	require.Equal(t, []item{{"a", 1, interfaces.KindSet, "a1"}, {"b", 1, interfaces.KindSet, "b1"}},
		walk(t, s, interfaces.IterOptions{ReadTs: 2}))
	require.Equal(t, []item{{"a", 4, interfaces.KindSet, "a4"}}, walk(t, s, interfaces.IterOptions{ReadTs: 5}))
	require.Equal(t, []item{
		{"b", 1, interfaces.KindSet, "b1"}, {"b", 3, interfaces.KindDelete, ""}, {"b", 6, interfaces.KindSet, "b6"},
		{"a", 1, interfaces.KindSet, "a1"}, {"a", 3, interfaces.KindSet, "a3"}, {"a", 4, interfaces.KindSet, "a4"},
	}, walk(t, s, interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true, Reverse: true}))
}

func TestApplyValidation(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 5, "v")}))
	bad := map[string][]interfaces.Entry{
		"ts 0":             {setE("b", 0, "v")},
		"ts not above":     {setE("b", 5, "v")},
		"ts below":         {setE("b", 4, "v")},
		"decreasing":       {setE("b", 7, "v"), setE("c", 6, "v")},
		"unknown kind":     {{Key: []byte("b"), Ts: 6, Kind: 9}},
		"zero kind":        {{Key: []byte("b"), Ts: 6}},
		"key too large":    {setE(string(make([]byte, interfaces.MaxKeySize+1)), 6, "")},
		"value too large":  {{Key: []byte("b"), Ts: 6, Kind: interfaces.KindSet, Value: make([]byte, interfaces.MaxValueSize+1)}},
		"bad in the tail":  {setE("b", 6, "v"), setE("c", 0, "v")},
		"kind in the tail": {setE("b", 6, "v"), {Key: []byte("c"), Ts: 7, Kind: 3}},
	}
	for name, entries := range bad {
		require.ErrorIs(t, s.Apply(entries), interfaces.ErrInvalidArgument, name)
	}
	// Nothing was applied, and the Storage is not fail-stopped.
	require.Equal(t, []item{{"a", 5, interfaces.KindSet, "v"}}, walk(t, s, allOpts))
	require.NoError(t, s.Apply(nil))
	require.NoError(t, s.Apply([]interfaces.Entry{setE("b", 6, "v"), setE("b", 7, "w"), setE("a", 7, "x")}))
	st, err := s.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(7), st.AppliedTs)
}

func TestLimits(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	// The worst case for escaping: a key of 0x00 bytes doubles.
	zeros := make([]byte, interfaces.MaxKeySize)
	ffs := bytes.Repeat([]byte{0xff}, interfaces.MaxKeySize)
	big := bytes.Repeat([]byte{7}, interfaces.MaxValueSize)
	require.NoError(t, s.Apply([]interfaces.Entry{
		{Key: zeros, Ts: 1, Kind: interfaces.KindSet, Value: big},
		{Key: ffs, Ts: 1, Kind: interfaces.KindSet, Value: []byte("f")},
		{Key: []byte{}, Ts: 1, Kind: interfaces.KindSet},
	}))
	v, _, err := s.Get(zeros, 1)
	require.NoError(t, err)
	require.Equal(t, big, v)
	v, _, err = s.Get(nil, 1)
	require.NoError(t, err)
	require.Empty(t, v)
	got := walk(t, s, interfaces.IterOptions{ReadTs: 1, Reverse: true})
	require.Len(t, got, 3)
	require.Equal(t, string(ffs), got[0].key)
	require.Equal(t, string(zeros), got[1].key)
	require.Equal(t, "", got[2].key)
	// The big arena is not pinned.
	require.Nil(t, s.applyArena)
}

// TestMetadataIsolation applies user keys that look like the adapter's
// metadata keys, byte for byte, and checks they stay user data.
func TestMetadataIsolation(t *testing.T) {
	cs := NewCrashStore()
	s, err := New(cs, Options{})
	require.NoError(t, err)
	lookalikes := []string{
		string(keyFormat), string(keyDurable), string(keyDiscard), string(keyApplied),
		"\x00", "\x00\x00", "\x00\x01", "\x00\x00\x00", "\x00\xff", "",
	}
	var entries []interfaces.Entry
	for i, k := range lookalikes {
		// Values that would parse as a huge ts if they landed in metadata.
		entries = append(entries, interfaces.Entry{Key: []byte(k), Ts: uint64(i + 1), Kind: interfaces.KindSet, Value: bytes.Repeat([]byte{0xff}, 8)})
	}
	require.NoError(t, s.Apply(entries))
	d, err := s.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(len(lookalikes)), d)
	require.NoError(t, s.SetDiscardTs(3))

	check := func(s *Storage) {
		for i, k := range lookalikes {
			v, ts, err := s.Get([]byte(k), interfaces.MaxTs)
			require.NoError(t, err, "%q", k)
			require.Equal(t, uint64(i+1), ts)
			require.Equal(t, bytes.Repeat([]byte{0xff}, 8), v)
		}
		require.Len(t, walk(t, s, currentOpts), len(lookalikes))
		st, err := s.Stats()
		require.NoError(t, err)
		require.Equal(t, uint64(len(lookalikes)), st.DurableTs)
		require.Equal(t, uint64(len(lookalikes)), st.AppliedTs)
		require.Equal(t, uint64(3), st.DiscardTs)
		require.NoError(t, s.Check())
	}
	check(s)

	// The metadata itself sits apart in the store, below every version.
	it, err := cs.NewIterator(nil, nil)
	require.NoError(t, err)
	var meta [][]byte
	for ok := it.First(); ok && bytes.HasPrefix(it.Key(), metaPrefix); ok = it.Next() {
		meta = append(meta, bytes.Clone(it.Key()))
	}
	require.NoError(t, it.Close())
	require.Equal(t, [][]byte{keyFormat, keyDurable, keyDiscard, keyApplied}, meta)

	require.NoError(t, s.Close())
	s = open(t, cs.Reopen(), Options{})
	check(s)
}

func TestEphemeral(t *testing.T) {
	m := NewMemStore()
	s, err := New(m, Options{Ephemeral: true})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1"), setE("a", 2, "2")}))
	d, err := s.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(2), d)
	require.NoError(t, s.SetDiscardTs(2))
	require.NoError(t, s.Compact(interfaces.KeyRange{}))
	require.Equal(t, []item{{"a", 2, interfaces.KindSet, "2"}}, walk(t, s, allOpts))
	st, err := s.Stats()
	require.NoError(t, err)
	require.Zero(t, st.Metrics["ordered.syncs"])
	require.NoError(t, s.Close())

	// A reopen starts empty.
	s = open(t, m.Reopen(), Options{Ephemeral: true})
	require.Empty(t, walk(t, s, allOpts))
	d, err = s.DurableTs()
	require.NoError(t, err)
	require.Zero(t, d)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "again")}))
}

func TestForeignStoreRefused(t *testing.T) {
	m := NewMemStore()
	require.NoError(t, m.Write([]Op{{Key: []byte("someone else's"), Value: []byte("data")}}))
	_, err := New(m, Options{})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)

	m = NewMemStore()
	require.NoError(t, m.Write([]Op{{Key: keyFormat, Value: []byte("lightning/ordered v9")}}))
	_, err = New(m, Options{})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)

	m = NewMemStore()
	require.NoError(t, m.Write([]Op{{Key: keyFormat, Value: []byte(formatValue)}, {Key: keyDurable, Value: []byte{1}}}))
	_, err = New(m, Options{})
	require.True(t, interfaces.IsCorruption(err), "%v", err)

	m = NewMemStore()
	require.NoError(t, m.Write([]Op{
		{Key: keyFormat, Value: []byte(formatValue)},
		{Key: keyDurable, Value: appendMetaTs(nil, 5)},
		{Key: keyApplied, Value: appendMetaTs(nil, 4)},
	}))
	_, err = New(m, Options{})
	require.True(t, interfaces.IsCorruption(err), "%v", err)
}

func TestUseAfterClose(t *testing.T) {
	s, err := New(NewMemStore(), Options{})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))
	it, err := s.NewIterator(currentOpts)
	require.NoError(t, err)
	require.True(t, it.First())
	require.NoError(t, it.Close())
	require.ErrorIs(t, it.Close(), interfaces.ErrClosed)
	require.False(t, it.First())
	require.ErrorIs(t, it.Err(), interfaces.ErrClosed)

	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), interfaces.ErrClosed)
	require.ErrorIs(t, s.Apply([]interfaces.Entry{setE("a", 2, "2")}), interfaces.ErrClosed)
	_, _, err = s.Get([]byte("a"), 1)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = s.NewIterator(currentOpts)
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = s.Flush()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	_, err = s.DurableTs()
	require.ErrorIs(t, err, interfaces.ErrClosed)
	require.ErrorIs(t, s.SetDiscardTs(1), interfaces.ErrClosed)
	require.ErrorIs(t, s.Compact(interfaces.KeyRange{}), interfaces.ErrClosed)
	require.ErrorIs(t, s.Check(), interfaces.ErrClosed)
	_, err = s.Stats()
	require.ErrorIs(t, err, interfaces.ErrClosed)
}

func TestFailStop(t *testing.T) {
	f := &faultyStore{Store: NewMemStore()}
	s := open(t, f, Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))

	f.failWrite.Store(true)
	require.ErrorIs(t, s.Apply([]interfaces.Entry{setE("a", 2, "2")}), errInjected)
	f.failWrite.Store(false)
	err := s.Apply([]interfaces.Entry{setE("a", 3, "3")})
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.Equal(t, interfaces.CodeFailStopped, interfaces.CodeOf(err))
	_, err = s.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, s.SetDiscardTs(1), interfaces.ErrFailStopped)
	require.ErrorIs(t, s.Compact(interfaces.KeyRange{}), interfaces.ErrFailStopped)

	// Reads keep working.
	v, _, err := s.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	require.Len(t, walk(t, s, currentOpts), 1)

	// A failed sync fail-stops too, and Flush does not claim durability.
	g := &faultyStore{Store: NewMemStore()}
	s2 := open(t, g, Options{})
	require.NoError(t, s2.Apply([]interfaces.Entry{setE("a", 1, "1")}))
	g.failSync.Store(true)
	_, err = s2.Flush()
	require.ErrorIs(t, err, errInjected)
	d, err := s2.DurableTs()
	require.NoError(t, err)
	require.Zero(t, d)
	g.failSync.Store(false)
	_, err = s2.Flush()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
}

func TestStats(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1"), setE("b", 2, "22")}))
	_, _, _ = s.Get([]byte("a"), 1)
	walk(t, s, currentOpts)
	_, err := s.Flush()
	require.NoError(t, err)
	st, err := s.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(2), st.AppliedTs)
	require.Equal(t, uint64(2), st.DurableTs)
	require.Positive(t, st.MemBytes)
	require.Zero(t, st.DiskBytes)
	require.Equal(t, int64(1), st.Metrics["ordered.applies"])
	require.Equal(t, int64(2), st.Metrics["ordered.entries"])
	require.Equal(t, int64(1), st.Metrics["ordered.gets"])
	require.Equal(t, int64(1), st.Metrics["ordered.iterators"])
	require.Equal(t, int64(1), st.Metrics["ordered.flushes"])
	require.Equal(t, int64(3), st.Metrics["ordered.syncs"], "one to create the store, two per Flush")
}

// TestCheckFindsCorruption writes bad keys and values straight into the
// store and checks that Check names each, and that an iterator meeting one
// reports corruption instead of yielding garbage.
func TestCheckFindsCorruption(t *testing.T) {
	tests := []struct {
		name   string
		ops    []Op
		iterOK bool // a current-version iterator does not meet the damage
	}{
		{"unknown metadata", []Op{{Key: []byte("\x00\x00meta/9-other"), Value: []byte("x")}}, true},
		{"short metadata", []Op{{Key: keyDiscard, Value: []byte{1, 2}}}, true},
		{"bad format", []Op{{Key: keyFormat, Value: []byte("other")}}, true},
		{"durable above applied", []Op{{Key: keyDurable, Value: appendMetaTs(nil, 99)}}, true},
		{"no terminator", []Op{{Key: []byte("zzzzzzzzzzzz"), Value: []byte{1}}}, false},
		{"bad escape", []Op{{Key: interfaces.AppendVersionKey([]byte("\x00\x07"), nil, 1), Value: []byte{1}}}, false},
		{"bad kind", []Op{{Key: interfaces.AppendVersionKey(nil, []byte("m"), 1), Value: []byte{9}}}, false},
		{"empty value", []Op{{Key: interfaces.AppendVersionKey(nil, []byte("m"), 1), Value: nil}}, false},
		{"tombstone with value", []Op{{Key: interfaces.AppendVersionKey(nil, []byte("m"), 1), Value: []byte{2, 0}}}, false},
		{"ts 0", []Op{{Key: interfaces.AppendVersionKey(nil, []byte("m"), 0), Value: []byte{1}}}, false},
		{"above applied", []Op{{Key: interfaces.AppendVersionKey(nil, []byte("m"), 50), Value: []byte{1, 'x'}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemStore()
			s, err := New(m, Options{})
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Close()) }()
			require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1"), setE("m", 2, "x")}))
			require.NoError(t, s.Check())
			require.NoError(t, m.Write(tt.ops))

			err = s.Check()
			require.Error(t, err)
			require.True(t, interfaces.IsCorruption(err), "%v", err)
			var ce *interfaces.CorruptionError
			require.ErrorAs(t, err, &ce)

			if !tt.iterOK {
				it, err := s.NewIterator(allOpts)
				require.NoError(t, err)
				for ok := it.First(); ok; ok = it.Next() {
				}
				require.True(t, interfaces.IsCorruption(it.Err()), "iterator: %v", it.Err())
				require.True(t, interfaces.IsCorruption(it.Close()))
			}
		})
	}
}

func TestCheckOrder(t *testing.T) {
	// A store that returns keys out of order is caught.
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1"), setE("b", 1, "1")}))
	_, err := s.Flush()
	require.NoError(t, err)
	s2, err := New(reversedStore{s.store.(*MemStore).Reopen()}, Options{})
	require.NoError(t, err)
	defer s2.Close()
	err = s2.Check()
	require.True(t, interfaces.IsCorruption(err))
	require.Contains(t, err.Error(), "out of order")
}

// reversedStore's iterators walk backwards when asked to go forwards.
type reversedStore struct{ *MemStore }

func (r reversedStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	it, err := r.MemStore.NewIterator(lower, upper)
	return reversedIter{it}, err
}

type reversedIter struct{ StoreIterator }

func (r reversedIter) First() bool { return r.StoreIterator.Last() }

func (r reversedIter) Next() bool { return r.StoreIterator.Prev() }

func TestConcurrentReadsAndWrites(t *testing.T) {
	s := open(t, NewCrashStore(), Options{BatchOps: 8})
	const writers = 200
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for ts := uint64(1); ts <= writers; ts++ {
			e := []interfaces.Entry{setE(fmt.Sprint("k", ts%10), ts, fmt.Sprint(ts))}
			if ts%7 == 0 {
				e = append(e, delE(fmt.Sprint("k", (ts+3)%10), ts))
			}
			if err := s.Apply(e); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			if _, err := s.Flush(); err != nil {
				t.Error(err)
			}
			st, err := s.Stats()
			if err != nil {
				t.Error(err)
			}
			if err := s.SetDiscardTs(st.AppliedTs / 2); err != nil {
				t.Error(err)
			}
			if err := s.Compact(interfaces.KeyRange{}); err != nil {
				t.Error(err)
			}
			if err := s.Check(); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			st, err := s.Stats()
			if err != nil {
				t.Error(err)
				return
			}
			// Reads at or above the discard ts: each key's value is the
			// newest version at or below the read ts.
			r := max(st.AppliedTs, st.DiscardTs)
			it, err := s.NewIterator(interfaces.IterOptions{ReadTs: r})
			if err != nil {
				t.Error(err)
				return
			}
			for ok := it.First(); ok; ok = it.Next() {
				if it.Ts() > r || string(it.Value()) != fmt.Sprint(it.Ts()) {
					t.Errorf("read at %d yields %q@%d=%q", r, it.Key(), it.Ts(), it.Value())
				}
			}
			if err := it.Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	require.NoError(t, s.Check())
}

func TestGetErrorsFromStore(t *testing.T) {
	s := open(t, errIterStore{NewMemStore()}, Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))
	_, _, err := s.Get([]byte("a"), 1)
	require.ErrorIs(t, err, errInjected)
	it, err := s.NewIterator(currentOpts)
	require.NoError(t, err)
	require.False(t, it.First())
	require.ErrorIs(t, it.Err(), errInjected)
	require.ErrorIs(t, it.Close(), errInjected)
}

// errIterStore's iterators fail on every seek once the store has data.
type errIterStore struct{ *MemStore }

func (e errIterStore) NewIterator(lower, upper []byte) (StoreIterator, error) {
	it, err := e.MemStore.NewIterator(lower, upper)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(lower, versionSpaceStart) || (lower != nil && !bytes.HasPrefix(lower, metaPrefix)) {
		return failingIter{it}, nil
	}
	return it, nil
}

type failingIter struct{ StoreIterator }

func (failingIter) SeekGE([]byte) bool { return false }

func (failingIter) SeekLT([]byte) bool { return false }

func (failingIter) Last() bool { return false }

func (failingIter) Err() error { return errInjected }

func (f failingIter) Close() error {
	_ = f.StoreIterator.Close()
	return errInjected
}

// errorsIsNotFound guards the store contract the adapter relies on.
func TestMemStoreNotFound(t *testing.T) {
	_, err := NewMemStore().Get([]byte("x"))
	require.True(t, errors.Is(err, interfaces.ErrNotFound))
}
