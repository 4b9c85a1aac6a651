package ordered

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestGC(t *testing.T) {
	m := NewMemStore()
	s := open(t, m, Options{})
	ref := refModel{}
	apply := func(e ...interfaces.Entry) {
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
	}
	apply(setE("a", 1, "a1"), setE("b", 1, "b1"))
	apply(setE("a", 2, "a2"), delE("c", 2))
	apply(delE("b", 3), setE("a", 3, "a3"))
	apply(setE("a", 4, "a4"), setE("d", 4, "d4"))
	apply(setE("a", 5, "a5"), setE("b", 5, "b5"), delE("d", 5))

	// Nothing is dropped before Compact, nor by Compact below discard 1.
	require.NoError(t, s.Compact(interfaces.KeyRange{}))
	require.Equal(t, ref.expect(allOpts, 5, 0, false), walk(t, s, allOpts))

	require.NoError(t, s.SetDiscardTs(3))
	require.NoError(t, s.SetDiscardTs(2)) // lower: ignored
	require.Equal(t, ref.expect(allOpts, 5, 0, false), walk(t, s, allOpts), "SetDiscardTs alone drops nothing")
	before := map[uint64][]item{}
	for _, r := range []uint64{3, 4, 5, interfaces.MaxTs} {
		before[r] = walk(t, s, interfaces.IterOptions{ReadTs: r})
	}

	require.NoError(t, s.Compact(interfaces.KeyRange{}))
	require.Equal(t, []item{
		{"a", 5, interfaces.KindSet, "a5"}, {"a", 4, interfaces.KindSet, "a4"}, {"a", 3, interfaces.KindSet, "a3"},
		{"b", 5, interfaces.KindSet, "b5"},
		{"d", 5, interfaces.KindDelete, ""}, {"d", 4, interfaces.KindSet, "d4"},
	}, walk(t, s, allOpts))
	require.Equal(t, ref.expect(allOpts, 5, 3, true), walk(t, s, allOpts))
	for r, want := range before {
		require.Equal(t, want, walk(t, s, interfaces.IterOptions{ReadTs: r}), "read at %d changed", r)
	}
	st, err := s.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(5), st.Metrics["ordered.gc_deleted"])
	require.Equal(t, uint64(3), st.DiscardTs)

	// The discard ts persists.
	require.NoError(t, s.Close())
	s = open(t, m.Reopen(), Options{})
	st, err = s.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(3), st.DiscardTs)
}

func TestGCRange(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	ref := refModel{}
	for ts := uint64(1); ts <= 3; ts++ {
		e := []interfaces.Entry{setE("a", ts, "x"), setE("b", ts, "x"), setE("c", ts, "x")}
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
	}
	require.NoError(t, s.SetDiscardTs(3))
	require.NoError(t, s.Compact(interfaces.KeyRange{Start: []byte("b"), End: []byte("c")}))
	got := walk(t, s, allOpts)
	require.Equal(t, []item{
		{"a", 3, interfaces.KindSet, "x"}, {"a", 2, interfaces.KindSet, "x"}, {"a", 1, interfaces.KindSet, "x"},
		{"b", 3, interfaces.KindSet, "x"},
		{"c", 3, interfaces.KindSet, "x"}, {"c", 2, interfaces.KindSet, "x"}, {"c", 1, interfaces.KindSet, "x"},
	}, got)
	require.NoError(t, s.Compact(interfaces.KeyRange{Start: []byte("c")}))
	require.NoError(t, s.Compact(interfaces.KeyRange{End: []byte("b")}))
	require.Equal(t, ref.expect(allOpts, 3, 3, true), walk(t, s, allOpts))

	// Empty and inverted ranges.
	require.NoError(t, s.Compact(interfaces.KeyRange{End: []byte{}}))
	require.NoError(t, s.Compact(interfaces.KeyRange{Start: []byte("b"), End: []byte("b")}))
	require.ErrorIs(t, s.Compact(interfaces.KeyRange{Start: []byte("c"), End: []byte("b")}), interfaces.ErrInvalidArgument)
}

// TestGCFlushesWhenDiscardIsAhead: the discard ts may be above the durable
// ts; Compact flushes so that the shadowing versions are durable before it
// drops what they shadow.
func TestGCFlushesWhenDiscardIsAhead(t *testing.T) {
	cs := NewCrashStore()
	s, err := New(cs, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "old")}))
	_, err = s.Flush()
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 2, "new")}))
	require.NoError(t, s.SetDiscardTs(2))
	require.NoError(t, s.Compact(interfaces.KeyRange{}))
	d, err := s.DurableTs()
	require.NoError(t, err)
	require.Equal(t, uint64(2), d)
	require.Equal(t, []item{{"a", 2, interfaces.KindSet, "new"}}, walk(t, s, allOpts))

	s2 := open(t, cs.Crash(0, 0), Options{})
	_ = s.Close()
	v, ts, err := s2.Get([]byte("a"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
	require.Equal(t, uint64(2), ts)
}

// TestGCTombstoneAcrossBatches: a tombstone whose older versions need more
// than one Write is dropped only after they are synced, so no crash can
// keep its deletion and lose theirs (which would resurrect a value).
func TestGCTombstoneAcrossBatches(t *testing.T) {
	for seed := range uint64(30) {
		cs := NewCrashStore()
		s, err := New(cs, Options{BatchOps: 2})
		require.NoError(t, err)
		ref := refModel{}
		for ts := uint64(1); ts <= 6; ts++ {
			e := []interfaces.Entry{setE("k", ts, fmt.Sprint("v", ts)), setE("z", ts, "z")}
			require.NoError(t, s.Apply(e))
			ref.apply(e...)
		}
		e := []interfaces.Entry{delE("k", 7), setE("z", 7, "z")}
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
		_, err = s.Flush()
		require.NoError(t, err)
		require.NoError(t, s.SetDiscardTs(7))
		require.NoError(t, s.Compact(interfaces.KeyRange{}))
		require.Equal(t, ref.expect(allOpts, 7, 7, true), walk(t, s, allOpts))

		crashed := cs.Crash(0.5, seed)
		_ = s.Close()
		s2 := open(t, crashed, Options{BatchOps: 2})
		for _, r := range []uint64{7, interfaces.MaxTs} {
			require.Equal(t, ref.expect(interfaces.IterOptions{ReadTs: r}, 7, 7, false), walk(t, s2, interfaces.IterOptions{ReadTs: r}), "seed %d read %d", seed, r)
			_, _, err := s2.Get([]byte("k"), r)
			require.ErrorIs(t, err, interfaces.ErrNotFound, "seed %d: the tombstone's victims came back", seed)
		}
	}
}

// TestGCCrashMidCompact crashes a Compact before any of its Writes is
// synced: whichever of them survive, no tombstone may be gone while a value
// it hid is back.
func TestGCCrashMidCompact(t *testing.T) {
	for seed := range uint64(40) {
		cs := NewCrashStore()
		f := &faultyStore{Store: cs}
		s, err := New(f, Options{BatchOps: 2})
		require.NoError(t, err)
		ref := refModel{}
		for ts := uint64(1); ts <= 6; ts++ {
			e := []interfaces.Entry{setE("k", ts, fmt.Sprint("v", ts)), setE("z", ts, "z")}
			require.NoError(t, s.Apply(e))
			ref.apply(e...)
		}
		e := []interfaces.Entry{delE("k", 7), setE("z", 7, "z")}
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
		_, err = s.Flush()
		require.NoError(t, err)
		require.NoError(t, s.SetDiscardTs(7))
		f.failSync.Store(true)
		require.ErrorIs(t, s.Compact(interfaces.KeyRange{}), errInjected)
		require.Positive(t, cs.Unsynced())

		s2 := open(t, cs.Crash(0.5, seed), Options{})
		_ = s.Close()
		_, _, err = s2.Get([]byte("k"), interfaces.MaxTs)
		require.ErrorIs(t, err, interfaces.ErrNotFound, "seed %d: a value hidden by a tombstone came back", seed)
		require.Equal(t, ref.expect(currentOpts, 7, 0, false), walk(t, s2, currentOpts))
	}
}

// TestGCCrashAfterTwoCompacts: the first Compact drops the versions below
// a value, the second drops that value's tombstone successor together with
// it. A crash must not keep the second's work and lose the first's.
func TestGCCrashAfterTwoCompacts(t *testing.T) {
	for seed := range uint64(40) {
		cs := NewCrashStore()
		s, err := New(cs, Options{})
		require.NoError(t, err)
		require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 1, "v1")}))
		require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 2, "v2")}))
		require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 3, "v3")}))
		require.NoError(t, s.Apply([]interfaces.Entry{delE("k", 4)}))
		_, err = s.Flush()
		require.NoError(t, err)
		require.NoError(t, s.SetDiscardTs(3))
		require.NoError(t, s.Compact(interfaces.KeyRange{}))
		require.NoError(t, s.SetDiscardTs(4))
		require.NoError(t, s.Compact(interfaces.KeyRange{}))
		require.Empty(t, walk(t, s, allOpts))

		s2 := open(t, cs.Crash(0.5, seed), Options{})
		_ = s.Close()
		_, _, err = s2.Get([]byte("k"), interfaces.MaxTs)
		require.ErrorIs(t, err, interfaces.ErrNotFound, "seed %d: a value hidden by a tombstone came back", seed)
	}
}

// TestGCHorizonIsDurable applies a version while Compact runs (after it
// chose its horizon, before it scans), with the discard ts above it: the
// new version is not durable, so it must not shadow anything that Compact
// drops, or a crash would lose the key.
func TestGCHorizonIsDurable(t *testing.T) {
	cs := NewCrashStore()
	var s *Storage
	armed := false
	hs := iterHookStore{Store: cs, onNewIterator: func() {
		if armed {
			armed = false
			require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 5, "v5")}))
		}
	}}
	s, err := New(hs, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 1, "v1")}))
	require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 2, "v2")}))
	_, err = s.Flush()
	require.NoError(t, err)
	require.NoError(t, s.SetDiscardTs(10))
	armed = true
	require.NoError(t, s.Compact(interfaces.KeyRange{}))
	require.False(t, armed, "the hook never ran")

	s2 := open(t, cs.Crash(0, 0), Options{})
	_ = s.Close()
	v, ts, err := s2.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err, "the durable version was dropped for one that did not survive")
	require.Equal(t, "v2", string(v))
	require.Equal(t, uint64(2), ts)
}

// TestGCCrashKeepsDiscardTs: a crash that keeps a collection Write keeps
// a discard ts that allowed it.
func TestGCCrashKeepsDiscardTs(t *testing.T) {
	for seed := range uint64(40) {
		cs := NewCrashStore()
		f := &faultyStore{Store: cs}
		s, err := New(f, Options{BatchOps: 1})
		require.NoError(t, err)
		for ts := uint64(1); ts <= 4; ts++ {
			require.NoError(t, s.Apply([]interfaces.Entry{setE("a", ts, "a"), setE("b", ts, "b")}))
		}
		_, err = s.Flush()
		require.NoError(t, err)
		require.NoError(t, s.SetDiscardTs(4))
		f.failSync.Store(true) // the Compact's Writes stay unsynced
		require.ErrorIs(t, s.Compact(interfaces.KeyRange{}), errInjected)

		s2 := open(t, cs.Crash(0.5, seed), Options{})
		_ = s.Close()
		st, err := s2.Stats()
		require.NoError(t, err)
		if n := len(walk(t, s2, allOpts)); n < 8 {
			require.Equal(t, uint64(4), st.DiscardTs, "seed %d: %d versions collected, discard ts lost", seed, 8-n)
		}
	}
}
