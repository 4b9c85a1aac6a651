// Package core is the database itself: one write-ahead log, one clock, and
// the transactions on top, over any interfaces.Storage engine.
//
// # One log, one clock
//
// Every write becomes a commit with the next ts. Concurrent commits form a
// group: one WAL write, at most one fsync, one Storage.Apply, after which
// the group's ts becomes visible, in order (commit.go). The ts is at once the
// MVCC timestamp, the WAL position and the checkpoint watermark: after a
// crash, Open replays the WAL records above the engine's DurableTs
// (recovery.go). The engine is asked to Flush when the WAL grows past
// Options.CheckpointBytes, and WAL segments below its durable ts are deleted
// or archived (background.go).
//
// # Transactions
//
// Reads run at a read ts. Optimistic transactions (txn.go) buffer writes and
// are checked at commit against the writes committed since they began
// (oracle.go): write-write conflicts under snapshot isolation, read-write
// conflicts (keys and iterated ranges) under serializable. Pessimistic
// locks (Txn.GetForUpdate) go through a lock manager with wait-for-graph
// deadlock detection. The oldest live read ts feeds Storage.SetDiscardTs,
// so old versions are collected once no reader needs them (readers.go).
//
// # Failure
//
// An error from a WAL write or sync, or from the engine's Apply, is
// fail-stop: every commit waiting in the group fails, and the DB refuses
// writes (ErrFailStopped) until it is reopened; reads keep working. An fsync
// is never retried.
//
// # Concurrency
//
// DB, Snapshot and their methods are safe for concurrent use. A Txn, a
// Batch and an Iterator are used by one goroutine at a time.
package core
