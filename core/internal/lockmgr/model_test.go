package lockmgr

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// model is the reference lock table. Its deadlock rule is written
// differently from the manager's on purpose: it builds the full wait-for
// graph, where a waiter waits for the holder and for every waiter queued
// before it, and searches it for a cycle. The manager follows holder edges
// only; agreement checks that doing so loses nothing.
type model struct {
	holder  map[string]TxnID
	queue   map[string][]TxnID
	waitsOn map[TxnID]string
}

// edges returns the transactions t waits for in the full graph.
func (md *model) edges(t TxnID) []TxnID {
	k, ok := md.waitsOn[t]
	if !ok {
		return nil
	}
	q := md.queue[k]
	return append([]TxnID{md.holder[k]}, q[:slices.Index(q, t)]...)
}

// wouldDeadlock reports whether t queueing on k closes a cycle.
func (md *model) wouldDeadlock(t TxnID, k string) bool {
	stack := append([]TxnID{md.holder[k]}, md.queue[k]...)
	seen := map[TxnID]bool{}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if u == t {
			return true
		}
		if !seen[u] {
			seen[u] = true
			stack = append(stack, md.edges(u)...)
		}
	}
	return false
}

// heldBy returns the keys t holds, sorted.
func (md *model) heldBy(t TxnID) []string {
	var ks []string
	for k, h := range md.holder {
		if h == t {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// modelWait bounds the model's waits. Every outcome it waits for is
// decided synchronously by the call before (a handoff inside UnlockAll, a
// grant or refusal inside Lock), so only scheduling delays it; a short bound
// keeps failing runs, and their shrinking, fast.
const modelWait = 3 * time.Second

type request struct {
	done   <-chan error
	cancel context.CancelFunc
}

// TestModel drives the manager with random Lock, UnlockAll and cancel
// operations, one at a time, and compares every outcome, every handoff and
// the whole table with the model after each.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const txns = 5
		keys := []string{"a", "b", "c", "d"}
		m := New()
		md := &model{holder: map[string]TxnID{}, queue: map[string][]TxnID{}, waitsOn: map[TxnID]string{}}
		pending := map[TxnID]request{}
		t.Cleanup(func() {
			for _, r := range pending {
				r.cancel()
				<-r.done
			}
		})
		idle := func(t *rapid.T) TxnID {
			txn := TxnID(rapid.IntRange(1, txns).Draw(t, "txn"))
			if _, ok := pending[txn]; ok {
				t.Skip("txn is waiting")
			}
			return txn
		}

		t.Repeat(map[string]func(*rapid.T){
			"lock": func(t *rapid.T) {
				txn := idle(t)
				k := rapid.SampledFrom(keys).Draw(t, "key")
				ctx, cancel := context.WithCancel(context.Background())
				done := lockAsync(ctx, m, txn, k, 0)
				h, held := md.holder[k]
				switch {
				case !held:
					md.holder[k] = txn
					fallthrough
				case h == txn:
					require.NoError(t, recvErrWithin(t, done, modelWait, "grant"))
					cancel()
				case md.wouldDeadlock(txn, k):
					require.ErrorIs(t, recvErrWithin(t, done, modelWait, "deadlock"), ErrDeadlock)
					cancel()
				default:
					md.queue[k] = append(md.queue[k], txn)
					md.waitsOn[txn] = k
					requireWaitingWithin(t, m, txn, modelWait)
					pending[txn] = request{done, cancel}
				}
			},
			"unlockAll": func(t *rapid.T) {
				txn := idle(t)
				var woken []TxnID
				for _, k := range md.heldBy(txn) {
					q := md.queue[k]
					if len(q) == 0 {
						delete(md.holder, k)
						continue
					}
					md.holder[k] = q[0]
					md.queue[k] = q[1:]
					delete(md.waitsOn, q[0])
					woken = append(woken, q[0])
				}
				m.UnlockAll(txn)
				for _, w := range woken {
					require.NoError(t, recvErrWithin(t, pending[w].done, modelWait, fmt.Sprintf("handoff to %d", w)))
					pending[w].cancel()
					delete(pending, w)
				}
			},
			"cancel": func(t *rapid.T) {
				var ws []TxnID
				for w := range pending {
					ws = append(ws, w)
				}
				if len(ws) == 0 {
					t.Skip("nobody waits")
				}
				slices.Sort(ws)
				w := rapid.SampledFrom(ws).Draw(t, "waiter")
				pending[w].cancel()
				require.ErrorIs(t, recvErrWithin(t, pending[w].done, modelWait, "cancel"), context.Canceled)
				delete(pending, w)
				k := md.waitsOn[w]
				md.queue[k] = slices.DeleteFunc(md.queue[k], func(x TxnID) bool { return x == w })
				delete(md.waitsOn, w)
			},
			"": func(t *rapid.T) {
				require.NoError(t, checkInvariants(m))
				for _, k := range keys {
					h, ok := holderOf(m, k)
					mh, mok := md.holder[k]
					require.Equal(t, mok, ok, "key %q held", k)
					require.Equal(t, mh, h, "holder of %q", k)
					want := md.queue[k]
					if len(want) == 0 {
						want = nil
					}
					require.Equal(t, want, queueOf(m, k), "queue of %q", k)
				}
				for txn := TxnID(1); txn <= txns; txn++ {
					require.Equal(t, len(md.heldBy(txn)), m.Held(txn), "Held(%d)", txn)
				}
				require.Len(t, waitingTxns(m), len(md.waitsOn))
			},
		})
	})
}

// queueOf returns the transactions queued for key, oldest first.
func queueOf(m *Manager, key string) []TxnID {
	m.graphMu.Lock()
	defer m.graphMu.Unlock()
	e := m.entryOf(key)
	if e == nil || len(e.waiters) == 0 {
		return nil
	}
	out := make([]TxnID, len(e.waiters))
	for i, w := range e.waiters {
		out[i] = w.txn
	}
	return out
}
