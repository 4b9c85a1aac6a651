package core

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRegisterVisibleHoldsBackDiscard replays the race registerVisible
// closes: a reader has loaded the visible ts (10) but not yet registered
// it when the visible ts moves on (12) and the discard ts is advanced. The
// advance must wait for the registration and then honour it; computing
// the minimum before waiting would return 12 and let the engine drop
// versions the reader at 10 needs.
func TestRegisterVisibleHoldsBackDiscard(t *testing.T) {
	r := newReaders()
	var visible atomic.Uint64
	visible.Store(10)

	// registerVisible, one step at a time.
	e := r.enterPoint()
	ts := visible.Load()
	visible.Store(12)
	done := make(chan uint64)
	go func() { done <- r.safeDiscardTs(visible.Load) }()
	select {
	case d := <-done:
		t.Fatalf("discard ts advanced to %d while a reader at %d was registering", d, ts)
	case <-time.After(20 * time.Millisecond):
	}
	r.register(ts)
	r.exitPoint(e)
	require.Equal(t, uint64(10), <-done)

	// Registered: later advances stay at it until it goes.
	require.Equal(t, uint64(10), r.safeDiscardTs(visible.Load))
	r.unregister(ts)
	require.Equal(t, uint64(12), r.safeDiscardTs(visible.Load))

	// A reader that registers after an advance began its wait sees a
	// visible ts at or above the candidate, whatever it registers.
	got := r.registerVisible(&visible)
	require.Equal(t, uint64(12), got)
	require.Equal(t, 1, r.count())
	require.Equal(t, uint64(12), r.safeDiscardTs(visible.Load))
	r.unregister(got)
	require.Zero(t, r.count())
}
