package lockmgr

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait of a test for something that must happen;
// reaching it means a lost wakeup or a missed handoff.
const waitTimeout = 10 * time.Second

// testingT is what the helpers need of a *testing.T or a *rapid.T.
type testingT interface {
	require.TestingT
	Helper()
}

// lockAsync runs Lock in a goroutine and delivers its result.
func lockAsync(ctx context.Context, m *Manager, txn TxnID, key string, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Lock(ctx, txn, []byte(key), timeout) }()
	return done
}

// isWaiting reports whether txn is queued for a lock.
func isWaiting(m *Manager, txn TxnID) bool {
	m.graphMu.Lock()
	defer m.graphMu.Unlock()
	_, ok := m.waiting[txn]
	return ok
}

// waitingTxns returns the queued transactions, sorted.
func waitingTxns(m *Manager) []TxnID {
	m.graphMu.Lock()
	defer m.graphMu.Unlock()
	out := make([]TxnID, 0, len(m.waiting))
	for t := range m.waiting {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// requireWaiting waits until txn is queued.
func requireWaiting(t testingT, m *Manager, txn TxnID) {
	t.Helper()
	requireWaitingWithin(t, m, txn, waitTimeout)
}

// requireWaitingWithin waits up to d until txn is queued.
func requireWaitingWithin(t testingT, m *Manager, txn TxnID, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return isWaiting(m, txn) }, d, 100*time.Microsecond,
		"txn %d never started waiting", txn)
}

// recvErr receives one result, failing the test if none comes.
func recvErr(t testingT, c <-chan error, what string) error {
	t.Helper()
	return recvErrWithin(t, c, waitTimeout, what)
}

// recvErrWithin receives one result within d, failing the test if none
// comes.
func recvErrWithin(t testingT, c <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(d):
		require.FailNow(t, "no result: "+what)
		return nil
	}
}

// holderOf returns the holder of key, or false when it is free.
func holderOf(m *Manager, key string) (TxnID, bool) {
	e := m.entryOf(key)
	if e == nil {
		return 0, false
	}
	return e.holder, true
}

// entryOf returns the entry of key, or nil. Its fields may be read only
// under the locks that guard them.
func (m *Manager) entryOf(key string) *entry {
	h := maphash.Bytes(m.seed, []byte(key))
	s := &m.keys[h&(numShards-1)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findLocked(h, []byte(key))
}

// checkInvariants verifies every documented invariant of m. It must run
// while no UnlockAll is in progress (UnlockAll removes a transaction's state
// before releasing its keys). It takes graphMu, then every key shard and
// every transaction shard in index order, which cannot deadlock with the
// manager because no manager path takes two shards of a kind at once.
func checkInvariants(m *Manager) error {
	m.graphMu.Lock()
	defer m.graphMu.Unlock()
	for i := range m.keys {
		m.keys[i].mu.Lock()
		defer m.keys[i].mu.Unlock()
	}
	for i := range m.txns {
		m.txns[i].mu.Lock()
		defer m.txns[i].mu.Unlock()
	}

	// Entries: keyed by their key, in their shard, held by a transaction
	// that lists them, queues holding only waiting transactions.
	queued := make(map[*waiter]bool)
	held := make(map[*entry]bool)
	keys := make(map[string]bool)
	for i := range m.keys {
		s := &m.keys[i]
		n := 0
		for h, head := range s.locks {
			if head == nil {
				return fmt.Errorf("shard %d: nil chain", i)
			}
			for e := head; e != nil; e = e.next {
				n++
				k := e.key
				if e.hash != h || maphash.String(m.seed, k) != h || e.shard != s || m.keyShard([]byte(k)) != s {
					return fmt.Errorf("entry %q misplaced", k)
				}
				if keys[k] {
					return fmt.Errorf("entry %q twice", k)
				}
				keys[k] = true
				held[e] = true
				st := m.txnShard(e.holder).txns[e.holder]
				if st == nil || !slices.Contains(st.held, e) {
					return fmt.Errorf("entry %q: holder %d does not list it", k, e.holder)
				}
				for _, w := range e.waiters {
					if w.e != e || w.granted || w.txn == e.holder || m.waiting[w.txn] != w || queued[w] {
						return fmt.Errorf("entry %q: bad waiter %+v", k, *w)
					}
					queued[w] = true
				}
			}
		}
		if n != s.n || s.n > s.peak {
			return fmt.Errorf("shard %d: %d entries, counted %d, peak %d", i, n, s.n, s.peak)
		}
		free := 0
		for e := s.free; e != nil; e = e.next {
			if free++; e.key != "" || e.holder != 0 || e.shard != nil || len(e.waiters) != 0 {
				return fmt.Errorf("shard %d: dirty free entry", i)
			}
		}
		if free != s.nfree || free > maxFree {
			return fmt.Errorf("shard %d: %d free entries, counted %d", i, free, s.nfree)
		}
	}
	if len(queued) != len(m.waiting) {
		return fmt.Errorf("%d waiting, %d queued", len(m.waiting), len(queued))
	}
	// Transaction states: non-empty, every entry listed once and held by it.
	for i := range m.txns {
		if len(m.txns[i].free) > maxFree {
			return fmt.Errorf("txn shard %d: %d free states", i, len(m.txns[i].free))
		}
		for _, st := range m.txns[i].free {
			if len(st.held) != 0 {
				return fmt.Errorf("txn shard %d: dirty free state", i)
			}
		}
		for txn, st := range m.txns[i].txns {
			if m.txnShard(txn) != &m.txns[i] {
				return fmt.Errorf("txn %d misplaced", txn)
			}
			if len(st.held) == 0 {
				return fmt.Errorf("txn %d has an empty state", txn)
			}
			seen := make(map[*entry]bool)
			for _, e := range st.held {
				if !held[e] || e.holder != txn || seen[e] {
					return fmt.Errorf("txn %d lists an entry it does not hold", txn)
				}
				seen[e] = true
			}
		}
	}
	// The graph is acyclic.
	for start := range m.waiting {
		cur, steps := start, 0
		for {
			w, ok := m.waiting[cur]
			if !ok {
				break
			}
			cur = w.e.holder
			if steps++; cur == start || steps > len(m.waiting) {
				return fmt.Errorf("cycle through txn %d", start)
			}
		}
	}
	return nil
}

// requireEmpty checks that m holds and queues nothing.
func requireEmpty(t testingT, m *Manager) {
	t.Helper()
	require.NoError(t, checkInvariants(m))
	st := m.Stats()
	require.Zero(t, st.Held, "locks still held")
	require.Zero(t, st.Waiting, "requests still waiting")
	for i := range m.txns {
		m.txns[i].mu.Lock()
		n := len(m.txns[i].txns)
		m.txns[i].mu.Unlock()
		require.Zero(t, n, "transaction states left behind")
	}
}
