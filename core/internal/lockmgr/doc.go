// Package lockmgr is the pessimistic lock manager behind Txn.GetForUpdate:
// exclusive, re-entrant locks on user keys, FIFO waiting, and deadlock
// detection on a wait-for graph.
//
// # Semantics
//
// A transaction (a TxnID) takes an exclusive lock on a key with Lock. A lock
// is re-entrant: asking again for a key one already holds returns at once. A
// request for a key held by another transaction waits, first come first
// served among the waiters for that key, until the lock is handed to it,
// until its timeout passes (ErrLockTimeout) or until its context is done (the
// context's error, wrapped). UnlockAll releases every lock of a transaction
// at commit or rollback and hands each key straight to its first waiter, so a
// newcomer never overtakes a waiter.
//
// # Deadlocks
//
// A transaction waits on at most one key at a time, so the wait-for graph has
// at most one outgoing edge per waiting transaction: waiter → holder of the
// key it waits on. The graph is not stored as edges but derived from the lock
// table (Manager.waiting maps a waiting transaction to its queued request,
// which points at the key's entry, whose holder is current), so when a key is
// handed to its next waiter the edges of the remaining waiters move to the new
// holder by construction.
//
// A request that would wait first follows the chain holder → the key that
// holder waits on → its holder → …; if the chain comes back to the requester,
// waiting would close a cycle, and the requester is the victim: Lock returns
// ErrDeadlock at once, and the transaction keeps every lock it held (the
// caller aborts it, which releases them). The graph is therefore acyclic at
// all times, and it stays so under every other change: a timeout or a
// cancellation only removes an edge, and a handoff only redirects edges to the
// new holder, which has just stopped waiting and so has no outgoing edge.
//
// Checking only the edge to the holder is enough although a waiter also waits
// behind the waiters queued before it: every path out of a key's queue leaves
// through that key's holder, so the full graph (holder and queue-order edges)
// has a cycle exactly when the holder-only graph has one. The model test
// checks this against the full graph.
//
// # Concurrency and cost
//
// Keys are hashed into shards, each with its own mutex and map; transactions
// into shards of their own. Taking a free key, re-entering a held one and
// releasing a key nobody waits for touch only those two shard mutexes. The
// global graph mutex is taken only when a request must wait, when a waiter
// gives up, and when UnlockAll releases a key somebody waits for. Map entries
// are removed the moment a key is free, and a shard's map is reallocated when
// it empties after having grown large, so memory follows the locks held now,
// not the most ever held.
//
// The calls for one TxnID must not overlap (a transaction is used by one
// goroutine at a time): a transaction blocked in Lock must not be the subject
// of another Lock or of UnlockAll. Held and Stats may be called from anywhere.
// Keys are copied; callers may reuse their buffers.
package lockmgr
