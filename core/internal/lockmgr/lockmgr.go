package lockmgr

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Lock.
var (
	// ErrDeadlock is returned by Lock when waiting for the key would close a
	// cycle in the wait-for graph. The requester is the victim: it keeps
	// every lock it held, and the caller is expected to abort it.
	ErrDeadlock = errors.New("lightning: deadlock: transaction chosen as victim")
	// ErrLockTimeout is returned by Lock when the key was not handed to the
	// request within its timeout.
	ErrLockTimeout = errors.New("lightning: lock wait timed out")
)

// TxnID identifies a transaction to the lock manager. Any value is valid;
// the caller keeps the IDs of live transactions distinct.
type TxnID uint64

// Manager is a lock table. The zero value is not usable; call New. Its
// methods are safe for concurrent use, within the per-transaction rule of
// the package documentation.
type Manager struct {
	seed maphash.Seed

	// Lock order: graphMu → keyShard.mu → txnShard.mu. No path holds two
	// key shards or two transaction shards at once, and no path takes
	// graphMu while holding a shard mutex.
	keys [numShards]keyShard
	txns [numShards]txnShard

	// graphMu guards the wait-for graph: waiting, every entry's waiters and
	// waiter.granted, and the holder of every entry that has waiters.
	graphMu sync.Mutex
	// waiting maps each transaction blocked in Lock to its request.
	// INVARIANT: waiting[t] == w iff w.txn == t, w is in w.e.waiters and
	// !w.granted; a transaction appears at most once.
	// INVARIANT: following t → waiting[t].e.holder from any t never
	// returns to t (the graph is acyclic).
	waiting map[TxnID]*waiter

	waits, deadlocks, timeouts, canceled atomic.Int64
}

// New returns an empty lock manager.
func New() *Manager {
	m := &Manager{seed: maphash.MakeSeed(), waiting: make(map[TxnID]*waiter)}
	for i := range m.keys {
		m.keys[i].locks = make(map[uint64]*entry)
	}
	for i := range m.txns {
		m.txns[i].txns = make(map[TxnID]*txnState)
	}
	return m
}

// Lock takes the exclusive lock on key for txn, waiting while another
// transaction holds it. It returns nil once txn holds the lock (at once if
// it already did), ErrDeadlock if waiting would deadlock (txn keeps the
// locks it held), ErrLockTimeout if the lock was not handed over within
// timeout, and ctx's error, wrapped, if ctx is done first. A timeout <= 0
// waits as long as ctx allows. ctx and timeout are consulted only when the
// request must wait: a free or already-held key is granted regardless.
// key is copied.
func (m *Manager) Lock(ctx context.Context, txn TxnID, key []byte, timeout time.Duration) error {
	h := maphash.Bytes(m.seed, key)
	s := &m.keys[h&(numShards-1)]
	s.mu.Lock()
	e := s.findLocked(h, key)
	if e == nil {
		m.grantNewLocked(s, h, key, txn)
		s.mu.Unlock()
		return nil
	}
	if e.holder == txn {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return m.lockSlow(ctx, txn, s, h, key, timeout)
}

// grantNewLocked creates the entry of a free key, held by txn, and lists it
// under txn. s.mu is held.
func (m *Manager) grantNewLocked(s *keyShard, h uint64, key []byte, txn TxnID) {
	e := s.insertLocked(h, key, txn)
	ts := m.txnShard(txn)
	ts.mu.Lock()
	ts.addLocked(txn, e)
	ts.mu.Unlock()
}

// UnlockAll releases every lock txn holds, handing each key to its first
// waiter. A transaction that holds nothing is a no-op.
func (m *Manager) UnlockAll(txn TxnID) {
	ts := m.txnShard(txn)
	ts.mu.Lock()
	st := ts.takeLocked(txn)
	ts.mu.Unlock()
	if st == nil {
		return
	}

	graphLocked := false
	for _, e := range st.held {
		s := e.shard
		s.mu.Lock()
		if len(e.waiters) > 0 && !graphLocked {
			// A handoff changes the graph: take graphMu in lock order and
			// look again (the waiters may have given up meanwhile). Keep
			// it for the remaining keys; a committing transaction with
			// one contended key often has several.
			s.mu.Unlock()
			m.graphMu.Lock()
			graphLocked = true
			s.mu.Lock()
		}
		if len(e.waiters) > 0 {
			m.handOffLocked(e)
		} else {
			s.removeLocked(e)
		}
		s.mu.Unlock()
	}
	if graphLocked {
		m.graphMu.Unlock()
	}
	ts.mu.Lock()
	ts.recycleLocked(st)
	ts.mu.Unlock()
}

// Held returns the number of locks txn holds.
func (m *Manager) Held(txn TxnID) int {
	ts := m.txnShard(txn)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if st := ts.txns[txn]; st != nil {
		return len(st.held)
	}
	return 0
}

// Stats are the lock manager's gauges and counters.
type Stats struct {
	// Held is the number of keys locked now.
	Held int
	// Waiting is the number of requests waiting now.
	Waiting int
	// Waits counts requests that had to wait, whatever their outcome.
	Waits int64
	// Deadlocks counts requests refused with ErrDeadlock.
	Deadlocks int64
	// Timeouts counts requests that returned ErrLockTimeout.
	Timeouts int64
	// Canceled counts requests ended by their context, before or while
	// waiting.
	Canceled int64
}

// Stats returns the current figures. Each is exact, but they are read one
// after the other, not as one snapshot.
func (m *Manager) Stats() Stats {
	var st Stats
	for i := range m.keys {
		s := &m.keys[i]
		s.mu.Lock()
		st.Held += s.n
		s.mu.Unlock()
	}
	m.graphMu.Lock()
	st.Waiting = len(m.waiting)
	m.graphMu.Unlock()
	st.Waits = m.waits.Load()
	st.Deadlocks = m.deadlocks.Load()
	st.Timeouts = m.timeouts.Load()
	st.Canceled = m.canceled.Load()
	return st
}

// keyShard returns the shard of key (for tests and tools; Lock inlines it
// to hash the key once).
func (m *Manager) keyShard(key []byte) *keyShard {
	return &m.keys[maphash.Bytes(m.seed, key)&(numShards-1)]
}

func (m *Manager) txnShard(txn TxnID) *txnShard {
	// Fibonacci hashing: consecutive IDs land on different shards.
	return &m.txns[(uint64(txn)*0x9E3779B97F4A7C15)>>(64-shardBits)]
}
