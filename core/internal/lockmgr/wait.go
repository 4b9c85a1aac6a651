package lockmgr

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightning/interfaces"
)

// waiter is a request queued on a held key.
type waiter struct {
	txn TxnID
	e   *entry
	// ready is closed when the key is handed to txn.
	ready chan struct{}
	// granted is set, under graphMu and e.shard.mu, when the key is handed
	// over; a request that gives up checks it under the same mutexes, so a
	// handoff and a timeout racing each other agree on the outcome.
	granted bool
}

// lockSlow queues the request behind the holder of key, unless that would
// deadlock, and waits. The key may have been released since the fast path
// looked, so it looks again under graphMu.
func (m *Manager) lockSlow(ctx context.Context, txn TxnID, s *keyShard, h uint64, key []byte, timeout time.Duration) error {
	m.graphMu.Lock()
	s.mu.Lock()
	e := s.findLocked(h, key)
	switch {
	case e == nil:
		m.grantNewLocked(s, h, key, txn)
		s.mu.Unlock()
		m.graphMu.Unlock()
		return nil
	case e.holder == txn:
		s.mu.Unlock()
		m.graphMu.Unlock()
		return nil
	}
	// s.mu stays held until the request is queued: while e has no waiters
	// its holder may release it under s.mu alone.
	if _, dup := m.waiting[txn]; dup {
		s.mu.Unlock()
		m.graphMu.Unlock()
		return fmt.Errorf("lightning/lockmgr: txn %d is already waiting for a lock (overlapping calls): %w",
			txn, interfaces.ErrInvalidArgument)
	}
	if m.closesCycleLocked(txn, e.holder) {
		s.mu.Unlock()
		m.graphMu.Unlock()
		m.deadlocks.Add(1)
		return ErrDeadlock
	}
	if ctx.Err() != nil {
		s.mu.Unlock()
		m.graphMu.Unlock()
		m.canceled.Add(1)
		return ctxError(ctx)
	}
	w := &waiter{txn: txn, e: e, ready: make(chan struct{})}
	e.waiters = append(e.waiters, w)
	m.waiting[txn] = w
	s.mu.Unlock()
	m.graphMu.Unlock()
	m.waits.Add(1)
	return m.wait(ctx, w, timeout)
}

// closesCycleLocked reports whether txn waiting for holder would close a
// cycle: whether the chain holder → what holder waits for → its holder → …
// reaches txn. Every transaction in the graph has at most one outgoing edge
// and the graph is acyclic, so the chain ends within len(waiting)+1 steps.
// graphMu is held, and the mutex of holder's key: the holders read further
// along are those of keys with waiters, which change only under graphMu.
func (m *Manager) closesCycleLocked(txn, holder TxnID) bool {
	cur := holder
	for range len(m.waiting) + 1 {
		if cur == txn {
			return true
		}
		w, ok := m.waiting[cur]
		if !ok {
			return false
		}
		cur = w.e.holder
	}
	// Unreachable while the graph is acyclic. Were it not, refusing to
	// wait is the answer that cannot hang.
	return true
}

// wait blocks until w is granted, times out or is cancelled.
func (m *Manager) wait(ctx context.Context, w *waiter, timeout time.Duration) error {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ready:
		return nil
	case <-expired:
		return m.abandon(w, ErrLockTimeout, &m.timeouts)
	case <-ctx.Done():
		return m.abandon(w, ctxError(ctx), &m.canceled)
	}
}

// abandon takes w out of its queue and the graph, unless a handoff got to it
// first, in which case w.txn holds the key and the request succeeded. w.e
// cannot have been released meanwhile: it has a waiter, or it is held by
// w.txn, which is blocked here.
func (m *Manager) abandon(w *waiter, err error, counter *atomic.Int64) error {
	m.graphMu.Lock()
	s := w.e.shard
	s.mu.Lock()
	if w.granted {
		s.mu.Unlock()
		m.graphMu.Unlock()
		return nil
	}
	q := w.e.waiters
	for i, x := range q {
		if x == w {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			w.e.waiters = q[:len(q)-1]
			break
		}
	}
	s.mu.Unlock()
	delete(m.waiting, w.txn)
	m.graphMu.Unlock()
	counter.Add(1)
	return err
}

// handOffLocked gives e to its first waiter and wakes it. The remaining
// waiters now wait for the new holder, through e.holder; the new holder has
// just stopped waiting, so no cycle can form. graphMu and e.shard.mu are
// held.
func (m *Manager) handOffLocked(e *entry) {
	q := e.waiters
	w := q[0]
	copy(q, q[1:])
	q[len(q)-1] = nil
	e.waiters = q[:len(q)-1]
	e.holder = w.txn
	w.granted = true
	delete(m.waiting, w.txn)
	ts := m.txnShard(w.txn)
	ts.mu.Lock()
	ts.addLocked(w.txn, e)
	ts.mu.Unlock()
	close(w.ready)
}

// ctxError wraps the error of a done ctx, with its cause when it has one.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("lightning/lockmgr: lock wait: %w: %w", err, cause)
	}
	return fmt.Errorf("lightning/lockmgr: lock wait: %w", err)
}
