package core

import (
	"errors"

	"github.com/lightningdb/lightning/core/internal/lockmgr"
	"github.com/lightningdb/lightning/interfaces"
)

// The core's errors. The contract sentinels (not found, closed, corrupt,
// fail-stopped, ...) come from package interfaces and are re-exported here
// so that callers need one import; the transaction sentinels are the core's
// own. Each says when it is returned.

// Re-exported contract sentinels.
var (
	// ErrNotFound is returned by Get when the key has no visible value.
	ErrNotFound = interfaces.ErrNotFound
	// ErrClosed is returned by every method after Close, and by a
	// Snapshot or Iterator used after its Close.
	ErrClosed = interfaces.ErrClosed
	// ErrInvalidArgument is returned for a key longer than MaxKeySize, a
	// value longer than MaxValueSize, or bad options; nothing is written.
	ErrInvalidArgument = interfaces.ErrInvalidArgument
	// ErrCorrupt matches every corruption error; see IsCorruption.
	ErrCorrupt = interfaces.ErrCorrupt
	// ErrFailStopped is returned by every write after a WAL write or sync
	// error, or a storage Apply error: what reached the disk is unknown,
	// so the DB refuses writes (reads keep working) until it is reopened
	// and recovers from its log.
	ErrFailStopped = interfaces.ErrFailStopped
	// ErrIncompatible is returned by Open when the database was made by an
	// engine, format or cipher setting that the options do not match.
	ErrIncompatible = interfaces.ErrIncompatible
	// ErrKeyMismatch is returned by Open when the configured cipher cannot
	// open the database's key check: the wrong key.
	ErrKeyMismatch = interfaces.ErrKeyMismatch
)

// Transaction errors.
var (
	// ErrConflict is returned by Txn.Commit when the transaction conflicts
	// with one that committed after it began: under snapshot isolation,
	// another wrote a key this one writes; under serializable isolation,
	// another also wrote a key (or into a range) this one read. Nothing of
	// the transaction is written; retry it.
	ErrConflict = errors.New("lightning: transaction conflict")
	// ErrDeadlock is returned by Txn.GetForUpdate when waiting for the lock
	// would close a cycle of transactions waiting for each other; the
	// caller's transaction is the victim and should be rolled back.
	ErrDeadlock = lockmgr.ErrDeadlock
	// ErrLockTimeout is returned by Txn.GetForUpdate when the lock was not
	// granted within the lock timeout.
	ErrLockTimeout = lockmgr.ErrLockTimeout
	// ErrTxnTooLarge is returned by a Txn or Batch write that would take it
	// past the entry or byte limit (Options.MaxTxnEntries, MaxTxnBytes).
	// The write is not added; what was added before stays.
	ErrTxnTooLarge = errors.New("lightning: transaction or batch too large")
	// ErrReadOnly is returned by a write in a read-only transaction (View,
	// or Begin with ReadOnly) and by writes to a DB opened read-only.
	ErrReadOnly = errors.New("lightning: read-only transaction")
	// ErrTxnDone is returned by any use of a transaction after Commit or
	// Rollback.
	ErrTxnDone = errors.New("lightning: transaction already committed or rolled back")
)

// IsCorruption reports whether err says that stored data is corrupt.
func IsCorruption(err error) bool { return interfaces.IsCorruption(err) }
