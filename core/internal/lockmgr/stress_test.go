package lockmgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStress runs many goroutines, each a stream of transactions locking a
// random set of keys in random order, and checks mutual exclusion with
// counters of its own. Without timeouts, only deadlock detection and
// handoffs end waits, so a missed cycle or a lost wakeup hangs the test,
// which a watchdog turns into a failure with every goroutine's stack.
func TestStress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeouts bool
	}{
		{"deadlock detection only", false},
		{"with timeouts and deadlines", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iterations := 2000
			if testing.Short() {
				iterations = 300
			}
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			runStress(t, stressConfig{
				keys:       12,
				workers:    16,
				iterations: iterations,
				maxKeys:    4,
				timeouts:   tc.timeouts,
				seed:       seed,
			})
		})
	}
}

type stressConfig struct {
	keys, workers, iterations, maxKeys int
	timeouts                           bool
	seed                               uint64
}

func runStress(t *testing.T, cfg stressConfig) {
	m := New()
	keyNames := make([][]byte, cfg.keys)
	for i := range keyNames {
		keyNames[i] = fmt.Appendf(nil, "key-%02d", i)
	}
	// inside[k] counts the transactions that believe they hold key k; it
	// must never exceed 1. owner[k] is which one.
	inside := make([]atomic.Int32, cfg.keys)
	owner := make([]atomic.Uint64, cfg.keys)
	var nextTxn atomic.Uint64
	var committed, deadlocks, timeouts, canceled atomic.Int64

	worker := func(w int) {
		r := rand.New(rand.NewPCG(cfg.seed, uint64(w)))
		buf := make([]byte, 0, 16)
		for range cfg.iterations {
			txn := TxnID(nextTxn.Add(1))
			var mine []int
			ok := true
			for _, k := range r.Perm(cfg.keys)[:1+r.IntN(cfg.maxKeys)] {
				// The caller's buffer is reused and scribbled over after
				// each call, as the core does.
				buf = append(buf[:0], keyNames[k]...)
				ctx, timeout := context.Background(), time.Duration(0)
				var cancel context.CancelFunc = func() {}
				if cfg.timeouts {
					d := time.Duration(1+r.IntN(3000)) * time.Microsecond
					if r.IntN(4) == 0 {
						ctx, cancel = context.WithTimeout(ctx, d)
					} else {
						timeout = d
					}
				}
				err := m.Lock(ctx, txn, buf, timeout)
				cancel()
				copy(buf, "garbage")
				switch {
				case err == nil:
					if n := inside[k].Add(1); n != 1 {
						t.Errorf("key %d: %d holders after txn %d got it", k, n, txn)
					}
					owner[k].Store(uint64(txn))
					mine = append(mine, k)
					// Re-entry must not change anything.
					if r.IntN(4) == 0 {
						if err := m.Lock(context.Background(), txn, keyNames[k], 0); err != nil {
							t.Errorf("re-entry: %v", err)
						}
					}
					continue
				case errors.Is(err, ErrDeadlock):
					deadlocks.Add(1)
				case errors.Is(err, ErrLockTimeout):
					timeouts.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					canceled.Add(1)
				default:
					t.Errorf("txn %d: unexpected error %v", txn, err)
				}
				ok = false
				break
			}
			if ok {
				committed.Add(1)
				if r.IntN(8) == 0 {
					runtime.Gosched()
				}
			}
			if got := m.Held(txn); got != len(mine) {
				t.Errorf("txn %d: Held = %d, acquired %d", txn, got, len(mine))
			}
			for _, k := range mine {
				if o := owner[k].Load(); o != uint64(txn) {
					t.Errorf("key %d: owned by %d while txn %d holds it", k, o, txn)
				}
				inside[k].Add(-1)
			}
			m.UnlockAll(txn)
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() { worker(w) })
	}
	go func() { wg.Wait(); close(done) }()
	// Stats and Held may be called from anywhere, at any time.
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			if st := m.Stats(); st.Held > cfg.keys || st.Waiting > cfg.workers {
				t.Errorf("impossible stats %+v", st)
			}
			if n := m.Held(TxnID(nextTxn.Load())); n > cfg.maxKeys {
				t.Errorf("Held = %d > %d", n, cfg.maxKeys)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
		t.Fatalf("stress run hung (lost wakeup or missed deadlock); stats %+v\n%s", m.Stats(), stacks.String())
	}

	<-monitorDone
	st := m.Stats()
	t.Logf("%d transactions: %d committed, %d deadlocks, %d timeouts, %d deadlines; %d waits",
		nextTxn.Load(), committed.Load(), deadlocks.Load(), timeouts.Load(), canceled.Load(), st.Waits)
	require.Equal(t, deadlocks.Load(), st.Deadlocks)
	require.Equal(t, timeouts.Load(), st.Timeouts)
	require.Equal(t, canceled.Load(), st.Canceled)
	require.Positive(t, st.Waits, "the run never contended")
	if !cfg.timeouts {
		require.Zero(t, st.Timeouts+st.Canceled)
	}
	requireEmpty(t, m)
}
