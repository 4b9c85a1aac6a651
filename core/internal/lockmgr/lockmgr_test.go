package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// outcome is what a step expects of a Lock request.
type outcome int

const (
	granted outcome = iota
	waits
	deadlock
)

// step is one operation of a scenario: a Lock (expecting an outcome) or,
// with unlock set, an UnlockAll that must wake exactly the listed waiters.
type step struct {
	txn    TxnID
	key    string
	want   outcome
	unlock bool
	wake   []TxnID
	// held, when not nil, is the expected Held(txn) after the step.
	held *int
}

func lock(txn TxnID, key string, want outcome) step { return step{txn: txn, key: key, want: want} }
func unlock(txn TxnID, wake ...TxnID) step          { return step{txn: txn, unlock: true, wake: wake} }
func heldIs(txn TxnID, n int) step                  { return step{txn: txn, held: &n} }

func TestScenarios(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"grant and re-entry", []step{
			lock(1, "a", granted), lock(1, "a", granted), heldIs(1, 1),
			lock(1, "b", granted), heldIs(1, 2), unlock(1), heldIs(1, 0),
		}},
		{"empty key is a key", []step{
			lock(1, "", granted), lock(2, "", waits), unlock(1, 2), unlock(2),
		}},
		{"free key is granted again after release", []step{
			lock(1, "a", granted), unlock(1), lock(2, "a", granted), unlock(2),
		}},
		{"wait and handoff", []step{
			lock(1, "a", granted), lock(2, "a", waits), heldIs(2, 0),
			unlock(1, 2), heldIs(2, 1), unlock(2),
		}},
		{"handoff is FIFO", []step{
			lock(1, "a", granted), lock(2, "a", waits), lock(3, "a", waits), lock(4, "a", waits),
			unlock(1, 2), unlock(2, 3), unlock(3, 4), unlock(4),
		}},
		{"re-entry while others wait does not queue", []step{
			lock(1, "a", granted), lock(2, "a", waits), lock(1, "a", granted), heldIs(1, 1),
			unlock(1, 2), unlock(2),
		}},
		{"UnlockAll hands every key to its first waiter", []step{
			lock(1, "a", granted), lock(1, "b", granted), lock(1, "c", granted),
			lock(2, "a", waits), lock(3, "b", waits), lock(4, "c", waits), lock(5, "c", waits),
			unlock(1, 2, 3, 4), unlock(4, 5), unlock(2), unlock(3), unlock(5),
		}},
		{"deadlock of two", []step{
			lock(1, "a", granted), lock(2, "b", granted),
			lock(1, "b", waits), lock(2, "a", deadlock), heldIs(2, 1),
			unlock(2, 1), heldIs(1, 2), unlock(1),
		}},
		{"deadlock of three", []step{
			lock(1, "a", granted), lock(2, "b", granted), lock(3, "c", granted),
			lock(1, "b", waits), lock(2, "c", waits), lock(3, "a", deadlock), heldIs(3, 1),
			unlock(3, 2), unlock(2, 1), unlock(1),
		}},
		{"a chain is not a cycle", []step{
			lock(1, "a", granted), lock(2, "b", granted),
			lock(2, "a", waits), lock(3, "b", waits), lock(4, "b", waits),
			unlock(1, 2), unlock(2, 3), unlock(3, 4), unlock(4),
		}},
		{"a long chain is not a cycle", []step{
			lock(1, "a", granted), lock(2, "b", granted), lock(3, "c", granted), lock(4, "d", granted),
			lock(2, "a", waits), lock(3, "b", waits), lock(4, "c", waits), lock(5, "d", waits),
			unlock(1, 2), unlock(2, 3), unlock(3, 4), unlock(4, 5), unlock(5),
		}},
		{"waiting behind a waiter of the same holder is not a cycle", []step{
			lock(1, "a", granted), lock(2, "a", waits), lock(3, "a", waits),
			unlock(1, 2), unlock(2, 3), unlock(3),
		}},
		{"edges move to the new holder on handoff", []step{
			lock(1, "k", granted), lock(3, "x", granted),
			lock(2, "k", waits), lock(3, "k", waits),
			unlock(1, 2), // 3 now waits for 2
			lock(2, "x", deadlock), heldIs(2, 1),
			unlock(2, 3), unlock(3),
		}},
		{"cycle closed through a queue-order wait", []step{
			// 3 waits behind 2 for k; 2 waits for 1; 1 asks for what 3 holds.
			lock(1, "k", granted), lock(3, "x", granted),
			lock(2, "k", waits), lock(3, "k", waits),
			lock(1, "x", deadlock),
			unlock(1, 2), unlock(2, 3), unlock(3),
		}},
		{"victim's release lets a longer chain finish", []step{
			lock(1, "a", granted), lock(2, "b", granted), lock(3, "c", granted), lock(4, "d", granted),
			lock(1, "b", waits), lock(2, "c", waits), lock(3, "d", waits), lock(4, "a", deadlock),
			unlock(4, 3), unlock(3, 2), unlock(2, 1), unlock(1),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			pending := make(map[TxnID]<-chan error)
			for i, s := range tc.steps {
				what := fmt.Sprintf("step %d %+v", i, s)
				switch {
				case s.held != nil:
					require.Equal(t, *s.held, m.Held(s.txn), what)
				case s.unlock:
					m.UnlockAll(s.txn)
					for _, w := range s.wake {
						require.NoError(t, recvErr(t, pending[w], what), what)
						delete(pending, w)
					}
					// Handoffs happen inside UnlockAll: whoever is still
					// pending must still be queued.
					var still []TxnID
					for w := range pending {
						still = append(still, w)
					}
					require.ElementsMatch(t, still, waitingTxns(m), what)
				default:
					c := lockAsync(context.Background(), m, s.txn, s.key, 0)
					switch s.want {
					case granted:
						require.NoError(t, recvErr(t, c, what), what)
					case deadlock:
						require.ErrorIs(t, recvErr(t, c, what), ErrDeadlock, what)
					case waits:
						requireWaiting(t, m, s.txn)
						pending[s.txn] = c
					}
				}
				require.NoError(t, checkInvariants(m), what)
			}
			require.Empty(t, pending)
			requireEmpty(t, m)
		})
	}
}

func TestStatsCount(t *testing.T) {
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("a"), 0))
	require.NoError(t, m.Lock(ctx, 2, []byte("b"), 0))
	c := lockAsync(ctx, m, 1, "b", 0)
	requireWaiting(t, m, 1)
	require.Equal(t, Stats{Held: 2, Waiting: 1, Waits: 1}, m.Stats())
	require.ErrorIs(t, m.Lock(ctx, 2, []byte("a"), 0), ErrDeadlock)
	require.ErrorIs(t, m.Lock(ctx, 3, []byte("a"), time.Millisecond), ErrLockTimeout)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, m.Lock(cancelled, 3, []byte("a"), 0))
	m.UnlockAll(2)
	require.NoError(t, recvErr(t, c, "handoff"))
	require.Equal(t, Stats{Held: 2, Waits: 2, Deadlocks: 1, Timeouts: 1, Canceled: 1}, m.Stats())
	m.UnlockAll(1)
	requireEmpty(t, m)
}

func TestTimeout(t *testing.T) {
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("a"), 0))
	const d = 20 * time.Millisecond
	start := time.Now()
	err := m.Lock(ctx, 2, []byte("a"), d)
	require.ErrorIs(t, err, ErrLockTimeout)
	require.GreaterOrEqual(t, time.Since(start), d)
	require.Zero(t, m.Held(2))
	require.Equal(t, int64(1), m.Stats().Timeouts)
	require.Empty(t, waitingTxns(m), "a timed-out request leaves the queue")
	require.NoError(t, checkInvariants(m))
	m.UnlockAll(1)
	requireEmpty(t, m)
}

func TestTimeoutRemovesTheEdge(t *testing.T) {
	// 1 timed out waiting for 2; 2 then waiting for 1 is not a deadlock.
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("a"), 0))
	require.NoError(t, m.Lock(ctx, 2, []byte("b"), 0))
	require.ErrorIs(t, m.Lock(ctx, 1, []byte("b"), 5*time.Millisecond), ErrLockTimeout)
	c := lockAsync(ctx, m, 2, "a", 0)
	requireWaiting(t, m, 2)
	m.UnlockAll(1)
	require.NoError(t, recvErr(t, c, "handoff"))
	require.Equal(t, 2, m.Held(2))
	m.UnlockAll(2)
	requireEmpty(t, m)
}

func TestTimeoutKeepsQueueOrder(t *testing.T) {
	// The middle waiter leaves; the others keep their order.
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("k"), 0))
	c2 := lockAsync(ctx, m, 2, "k", 0)
	requireWaiting(t, m, 2)
	c3 := lockAsync(ctx, m, 3, "k", 10*time.Millisecond)
	requireWaiting(t, m, 3)
	c4 := lockAsync(ctx, m, 4, "k", 0)
	requireWaiting(t, m, 4)
	require.ErrorIs(t, recvErr(t, c3, "timeout"), ErrLockTimeout)
	m.UnlockAll(1)
	require.NoError(t, recvErr(t, c2, "2 first"))
	require.Equal(t, []TxnID{4}, waitingTxns(m))
	m.UnlockAll(2)
	require.NoError(t, recvErr(t, c4, "4 next"))
	m.UnlockAll(4)
	m.UnlockAll(3)
	requireEmpty(t, m)
}

func TestContext(t *testing.T) {
	m := New()
	bg := context.Background()
	require.NoError(t, m.Lock(bg, 1, []byte("k"), 0))

	t.Run("cancel while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		c := lockAsync(ctx, m, 2, "k", time.Hour)
		requireWaiting(t, m, 2)
		cancel()
		err := recvErr(t, c, "cancel")
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrLockTimeout)
		require.Contains(t, err.Error(), "lightning/lockmgr: ")
		require.False(t, isWaiting(m, 2))
	})
	t.Run("cause is kept", func(t *testing.T) {
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(bg)
		c := lockAsync(ctx, m, 2, "k", 0)
		requireWaiting(t, m, 2)
		cancel(cause)
		err := recvErr(t, c, "cancel")
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, cause)
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(bg, 5*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, m.Lock(ctx, 2, []byte("k"), 0), context.DeadlineExceeded)
	})
	t.Run("already done does not queue", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		cancel()
		waits := m.Stats().Waits
		require.ErrorIs(t, m.Lock(ctx, 2, []byte("k"), 0), context.Canceled)
		require.Equal(t, waits, m.Stats().Waits)
	})
	t.Run("already done still grants a free or held key", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		cancel()
		require.NoError(t, m.Lock(ctx, 1, []byte("k"), 0), "re-entry")
		require.NoError(t, m.Lock(ctx, 3, []byte("free"), 0))
		m.UnlockAll(3)
	})
	require.Equal(t, int64(4), m.Stats().Canceled)
	m.UnlockAll(1)
	requireEmpty(t, m)
}

func TestWaitForeverWithoutTimeout(t *testing.T) {
	// timeout <= 0 and a context that is never done: only a handoff ends
	// the wait.
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("k"), 0))
	c := lockAsync(ctx, m, 2, "k", -1)
	requireWaiting(t, m, 2)
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-c:
		require.FailNow(t, "returned without a handoff", "%v", err)
	default:
	}
	m.UnlockAll(1)
	require.NoError(t, recvErr(t, c, "handoff"))
	m.UnlockAll(2)
	requireEmpty(t, m)
}

func TestHandoffRacingTimeout(t *testing.T) {
	// A release and the waiter's timeout fire together. Either the waiter
	// got the key (nil, holds it) or it gave up (timeout, holds nothing);
	// never both, never neither, and nothing leaks.
	m := New()
	ctx := context.Background()
	var gotKey, timedOut int
	for i := range 300 {
		holder, w := TxnID(2*i+1), TxnID(2*i+2)
		require.NoError(t, m.Lock(ctx, holder, []byte("k"), 0))
		// The waiter may queue before or after the release, and time out
		// before, during or after it: all are fine, as long as the outcome
		// is consistent.
		c := lockAsync(ctx, m, w, "k", time.Millisecond)
		time.Sleep(time.Duration(i%6) * 250 * time.Microsecond)
		m.UnlockAll(holder)
		err := recvErr(t, c, "result")
		if err == nil {
			gotKey++
			require.Equal(t, 1, m.Held(w))
			h, ok := holderOf(m, "k")
			require.True(t, ok)
			require.Equal(t, w, h)
		} else {
			timedOut++
			require.ErrorIs(t, err, ErrLockTimeout)
			require.Zero(t, m.Held(w))
		}
		require.NoError(t, checkInvariants(m))
		m.UnlockAll(w)
		requireEmpty(t, m)
	}
	t.Logf("handed over %d, timed out %d", gotKey, timedOut)
}

func TestKeysAreCopied(t *testing.T) {
	m := New()
	ctx := context.Background()
	buf := []byte("alpha")
	require.NoError(t, m.Lock(ctx, 1, buf, 0))
	copy(buf, "omega")
	require.ErrorIs(t, m.Lock(ctx, 2, []byte("alpha"), time.Millisecond), ErrLockTimeout,
		"the lock is on the key as it was passed")
	require.NoError(t, m.Lock(ctx, 2, []byte("omega"), 0), "the reused buffer's new content is free")
	m.UnlockAll(1)
	m.UnlockAll(2)
	requireEmpty(t, m)
}

func TestManyKeysReleasedAndMapsShrink(t *testing.T) {
	m := New()
	ctx := context.Background()
	const n = 100_000
	key := make([]byte, 8)
	for i := range n {
		key = fmt.Appendf(key[:0], "k%07d", i)
		require.NoError(t, m.Lock(ctx, 7, key, 0))
	}
	require.Equal(t, n, m.Held(7))
	require.Equal(t, n, m.Stats().Held)
	m.UnlockAll(7)
	requireEmpty(t, m)
	for i := range m.keys {
		require.Zero(t, m.keys[i].peak, "shard %d kept its grown map", i)
	}
}

func TestOverlappingCallsRejected(t *testing.T) {
	m := New()
	ctx := context.Background()
	require.NoError(t, m.Lock(ctx, 1, []byte("a"), 0))
	require.NoError(t, m.Lock(ctx, 1, []byte("b"), 0))
	c := lockAsync(ctx, m, 2, "a", 0)
	requireWaiting(t, m, 2)
	err := m.Lock(ctx, 2, []byte("b"), 0)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	require.Equal(t, []TxnID{2}, waitingTxns(m), "the first wait is untouched")
	m.UnlockAll(1)
	require.NoError(t, recvErr(t, c, "handoff"))
	m.UnlockAll(2)
	requireEmpty(t, m)
}

func TestUnlockAllOfNothing(t *testing.T) {
	m := New()
	m.UnlockAll(42)
	require.Zero(t, m.Held(42))
	requireEmpty(t, m)
}

func TestDisjointTransactionsInParallel(t *testing.T) {
	// The fast path under concurrency: no waits at all when key sets are
	// disjoint, and every lock is accounted for.
	m := New()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			key := make([]byte, 0, 16)
			for i := range 2000 {
				txn := TxnID(g*1_000_000 + i + 1)
				for k := range 5 {
					key = fmt.Appendf(key[:0], "g%d-%d", g, k)
					if err := m.Lock(ctx, txn, key, 0); err != nil {
						t.Error(err)
						return
					}
				}
				if m.Held(txn) != 5 {
					t.Errorf("txn %d holds %d", txn, m.Held(txn))
				}
				m.UnlockAll(txn)
			}
		})
	}
	wg.Wait()
	require.Zero(t, m.Stats().Waits)
	requireEmpty(t, m)
}
