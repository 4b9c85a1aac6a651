package ordered

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// TestCrashDropsUnflushedVersions crashes a store that kept every Write, so
// the versions above DurableTs survive in it and New must delete them.
func TestCrashDropsUnflushedVersions(t *testing.T) {
	cs := NewCrashStore()
	s, err := New(cs, Options{BatchOps: 2})
	require.NoError(t, err)
	ref := refModel{}
	ts := uint64(0)
	for i := range 5 {
		ts++
		e := []interfaces.Entry{setE(fmt.Sprint("k", i%3), ts, fmt.Sprint("v", ts)), delE("gone", ts)}
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
	}
	d, err := s.Flush()
	require.NoError(t, err)
	require.Equal(t, uint64(5), d)
	for i := range 6 {
		ts++
		require.NoError(t, s.Apply([]interfaces.Entry{setE(fmt.Sprint("k", i%4), ts, "late"), setE("new", ts, "late")}))
	}
	require.Positive(t, cs.Unsynced())

	crashed := cs.Crash(1, 1) // every unsynced Write survives
	_ = s.Close()
	s = open(t, crashed, Options{BatchOps: 2})
	got, err := s.DurableTs()
	require.NoError(t, err)
	require.Equal(t, uint64(5), got)
	require.Equal(t, ref.expect(allOpts, 5, 0, false), walk(t, s, allOpts))
	st, err := s.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(12), st.Metrics["ordered.recovery_deleted"])
	require.Equal(t, uint64(5), st.AppliedTs)
	_, _, err = s.Get([]byte("new"), interfaces.MaxTs)
	require.ErrorIs(t, err, interfaces.ErrNotFound)

	// The store's applied ts is back at the durable ts, so a second reopen
	// has nothing to do, and ts above 5 are free again.
	require.NoError(t, s.Close())
	s = open(t, crashed.Reopen(), Options{})
	st, err = s.Stats()
	require.NoError(t, err)
	require.Zero(t, st.Metrics["ordered.recovery_deleted"])
	require.NoError(t, s.Apply([]interfaces.Entry{setE("k0", 6, "again")}))
}

// TestCloseWithoutFlush: a clean Close does not flush, so a reopen drops
// what was not flushed, as after a crash.
func TestCloseWithoutFlush(t *testing.T) {
	m := NewMemStore()
	s, err := New(m, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))
	_, err = s.Flush()
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 2, "2"), setE("b", 2, "2")}))
	require.NoError(t, s.Close())

	s = open(t, m.Reopen(), Options{})
	require.Equal(t, []item{{"a", 1, interfaces.KindSet, "1"}}, walk(t, s, allOpts))
	d, err := s.DurableTs()
	require.NoError(t, err)
	require.Equal(t, uint64(1), d)
}

// TestRecoveryCrashMidway crashes during the cleanup itself: whatever part
// of it survives, the next open finishes it.
func TestRecoveryCrashMidway(t *testing.T) {
	for seed := range uint64(20) {
		cs := NewCrashStore()
		s, err := New(cs, Options{BatchOps: 1})
		require.NoError(t, err)
		require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))
		_, err = s.Flush()
		require.NoError(t, err)
		for ts := uint64(2); ts < 10; ts++ {
			require.NoError(t, s.Apply([]interfaces.Entry{setE("a", ts, "x"), setE(fmt.Sprint("b", ts), ts, "x")}))
		}
		_ = s.Close()

		// Open over a store that fails its first sync: the cleanup's deletes
		// are written but never synced, and New fails.
		first := cs.Crash(1, seed)
		f := &faultyStore{Store: first}
		f.failSync.Store(true)
		_, err = New(f, Options{BatchOps: 1})
		require.ErrorIs(t, err, errInjected)
		require.Positive(t, first.Unsynced())

		// Crash again, losing a random part of the cleanup.
		second := first.Crash(0.5, seed)
		s = open(t, second, Options{BatchOps: 1})
		require.Equal(t, []item{{"a", 1, interfaces.KindSet, "1"}}, walk(t, s, allOpts), "seed %d", seed)
	}
}

// TestFlushSyncsBeforeRecording checks the order of Flush's store calls: a
// store that loses any unsynced Write must never come back with a durable
// ts above versions it lost.
func TestFlushSyncsBeforeRecording(t *testing.T) {
	for seed := range uint64(50) {
		cs := NewCrashStore()
		s, err := New(cs, Options{})
		require.NoError(t, err)
		ref := refModel{}
		for ts := uint64(1); ts <= 4; ts++ {
			e := []interfaces.Entry{setE(fmt.Sprint("k", ts%2), ts, fmt.Sprint(ts))}
			require.NoError(t, s.Apply(e))
			ref.apply(e...)
		}
		d, err := s.Flush()
		require.NoError(t, err)
		crashed := cs.Crash(0.5, seed)
		_ = s.Close()
		s2 := open(t, crashed, Options{})
		got, err := s2.DurableTs()
		require.NoError(t, err)
		require.Equal(t, d, got)
		require.Equal(t, ref.expect(allOpts, d, 0, false), walk(t, s2, allOpts))
	}
}

// TestFlushCrashBetweenSyncs crashes a Flush after it wrote the durable
// ts but before it synced it: the record may survive, and then so must
// every version it vouches for.
func TestFlushCrashBetweenSyncs(t *testing.T) {
	for seed := range uint64(40) {
		cs := NewCrashStore()
		f := &faultyStore{Store: cs}
		s, err := New(f, Options{})
		require.NoError(t, err)
		ref := refModel{}
		for ts := uint64(1); ts <= 4; ts++ {
			e := []interfaces.Entry{setE(fmt.Sprint("k", ts), ts, fmt.Sprint(ts))}
			require.NoError(t, s.Apply(e))
			ref.apply(e...)
		}
		f.failSyncFrom.Store(f.syncs.Load() + 2) // Flush's second sync
		_, err = s.Flush()
		require.ErrorIs(t, err, errInjected)

		s2 := open(t, cs.Crash(0.5, seed), Options{})
		_ = s.Close()
		d, err := s2.DurableTs()
		require.NoError(t, err)
		require.Contains(t, []uint64{0, 4}, d)
		require.Equal(t, ref.expect(allOpts, d, 0, false), walk(t, s2, allOpts), "seed %d", seed)
	}
}

// TestDurableTsSurvivesReopenThenCrash: a durable ts a Flush wrote but
// could not sync is reported by the next instance, which must make it
// durable before a crash can take it back down.
func TestDurableTsSurvivesReopenThenCrash(t *testing.T) {
	cs := NewCrashStore()
	f := &faultyStore{Store: cs}
	s, err := New(f, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{setE("k", 1, "1")}))
	f.failSyncFrom.Store(f.syncs.Load() + 2)
	_, err = s.Flush()
	require.ErrorIs(t, err, errInjected)
	require.NoError(t, s.Close())

	s2, err := New(cs.Reopen(), Options{})
	require.NoError(t, err)
	d, err := s2.DurableTs()
	require.NoError(t, err)
	require.Equal(t, uint64(1), d, "the durable ts reached the store")

	s3 := open(t, cs.Crash(0, 0), Options{})
	_ = s2.Close()
	d3, err := s3.DurableTs()
	require.NoError(t, err)
	require.GreaterOrEqual(t, d3, d, "DurableTs went down")
}

func TestFlushNothing(t *testing.T) {
	f := &faultyStore{Store: NewMemStore()}
	s := open(t, f, Options{})
	d, err := s.Flush()
	require.NoError(t, err)
	require.Zero(t, d)
	syncs := f.syncs.Load()
	d, err = s.Flush()
	require.NoError(t, err)
	require.Zero(t, d)
	require.Equal(t, syncs, f.syncs.Load(), "an idle Flush touches nothing")
}
