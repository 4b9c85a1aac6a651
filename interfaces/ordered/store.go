package ordered

// Store is the contract a third party implements to put Lightning on an
// ordered byte store: bbolt, Pebble, goleveldb, a remote service. New turns
// a Store into a full interfaces.Storage; the adapter does the versioning,
// visibility, snapshots, crash recovery and garbage collection, so a Store
// only has to keep bytes in order.
//
// # What a Store must guarantee
//
//   - Order: keys are ordered bytewise, as bytes.Compare orders them, with
//     no custom comparator. (The adapter's keys are built so that bytewise
//     order is the Storage order.)
//   - Atomic Write: after Write returns nil, every op of the call is
//     visible to later Get and NewIterator calls; a concurrent reader or a
//     crash sees either all of a Write's ops or none of them.
//   - Durability at Sync: every Write that returned before a Sync call
//     survives a crash once Sync returns nil. Writes after the last Sync may
//     be lost in a crash, in any combination (the adapter does not need the
//     survivors to be a prefix), but each survives whole or not at all.
//     A Store that persists every Write eagerly (bbolt with its default
//     fsync per transaction) satisfies this with a Sync that does nothing.
//   - Concurrency: every method may be called from several goroutines at
//     once. The adapter issues at most a few Writes at a time (one from
//     Storage.Apply, one from a flush or a compaction) and never calls
//     Write from a goroutine that holds an open iterator of its own, so a
//     store whose writers wait for readers (bbolt re-mapping its file)
//     cannot deadlock on the adapter; it can still be stalled by iterators
//     the adapter's users keep open.
//   - Ownership: slices passed in belong to the caller and may be reused
//     as soon as the call returns, so a Store copies what it keeps. Get's
//     result belongs to the caller.
//
// The adapter owns the whole key space of the store: it keeps its metadata
// beside the versions and refuses (interfaces.ErrIncompatible) to open a
// store holding keys it did not write. To share one database between
// several users, give each a bucket, a column family or a key prefix inside
// the Store implementation.
//
// Keys the adapter writes are never empty and are at most
// 2*interfaces.MaxKeySize+10 bytes long (a user key of 0x00 bytes doubles
// when escaped); values are at most interfaces.MaxValueSize+1 bytes and
// never empty. A store with smaller limits (bbolt accepts keys up to 32 KiB)
// rejects the writes beyond them with an error, which the adapter reports.
type Store interface {
	// Write applies ops in order, atomically: all of them become visible
	// together, and a crash keeps all or none. Deleting an absent key is
	// not an error. Ops of one call never repeat a key.
	Write(ops []Op) error

	// Get returns the value stored under key, or an error matching
	// interfaces.ErrNotFound (errors.Is) when there is none. The value
	// belongs to the caller.
	Get(key []byte) ([]byte, error)

	// NewIterator returns an iterator over the store, positioned nowhere.
	//
	// lower (inclusive) and upper (exclusive) are hints, nil meaning
	// unbounded: the iterator may confine itself to [lower, upper) where
	// that is cheap (Pebble's IterOptions bounds, goleveldb's util.Range),
	// or ignore them; the adapter never relies on them.
	//
	// The iterator may be a point-in-time view of the store (Pebble,
	// goleveldb and a bbolt read transaction are) or a live view that
	// reflects concurrent Writes. A live view must still return each key
	// that is present for the whole iteration exactly once, in order; keys
	// written or deleted meanwhile may or may not appear. The adapter makes
	// both kinds honour the Storage snapshot contract by filtering on
	// timestamps, because the versions it writes are immutable.
	NewIterator(lower, upper []byte) (StoreIterator, error)

	// Sync makes every Write that returned before the call durable (see
	// above). A store that is durable at every Write implements it as a
	// no-op.
	Sync() error

	// Close releases the store. The adapter calls it once, from
	// Storage.Close, after closing its own iterators; no other call follows.
	Close() error
}

// Op is one change in a Store.Write.
type Op struct {
	// Key is the key to set or delete; never empty.
	Key []byte
	// Value is the value to store; ignored when Delete is set.
	Value []byte
	// Delete removes Key instead of setting it.
	Delete bool
}

// StoreIterator walks a Store's keys in bytewise order. The positioning
// methods (SeekGE, SeekLT, First, Last, Next, Prev) report whether the
// iterator stopped on a key; false means it ran off the end or failed, and
// Err tells which.
//
// The adapter uses an iterator in one direction between seeks: after SeekGE
// or First it moves only with Next, after SeekLT or Last only with Prev,
// and it calls Next, Prev, Key and Value only while positioned on a key. A
// store that streams results in chunks (a remote service) can therefore
// read ahead in the direction of the last seek.
//
// An iterator is used by one goroutine at a time.
type StoreIterator interface {
	// SeekGE moves to the first key >= key.
	SeekGE(key []byte) bool
	// SeekLT moves to the last key < key.
	SeekLT(key []byte) bool
	// First moves to the first key.
	First() bool
	// Last moves to the last key.
	Last() bool
	// Next moves to the next key.
	Next() bool
	// Prev moves to the previous key.
	Prev() bool
	// Key returns the current key. It is valid until the next positioning
	// call or Close; the adapter never modifies it.
	Key() []byte
	// Value returns the current value, valid as long as Key.
	Value() []byte
	// Err returns the error that stopped the iterator, or nil when it
	// simply ran off the end.
	Err() error
	// Close releases the iterator (a bbolt read transaction, a Pebble
	// snapshot) and returns Err.
	Close() error
}

// Sizer is implemented by a Store that can report its size (bbolt's
// Tx.Size, Pebble's Metrics().DiskSpaceUsage). The adapter fills
// StorageStats.DiskBytes and MemBytes from it and leaves them 0 without
// it. It is optional for the adapter, but conformance.TestStorage expects a
// durable Storage holding flushed data to report DiskBytes above 0, so a
// durable store should implement it.
type Sizer interface {
	// Size returns the bytes the store holds on disk and in memory.
	Size() (diskBytes, memBytes int64, err error)
}

// SnapshotIterators is implemented by a Store that can promise its
// iterators are point-in-time views (Pebble, goleveldb, a bbolt read
// transaction, MemStore). It is optional and only saves work: over a Store
// without it, a reverse iterator confirms each key it yields with one
// Store.Get, because a live view may show a key's older versions from
// before a garbage-collection Write and miss its newer ones after it.
type SnapshotIterators interface {
	// IteratorsAreSnapshots reports whether every iterator from
	// NewIterator sees the store as it was when NewIterator was called.
	IteratorsAreSnapshots() bool
}

// RangeCompacter is implemented by a Store with its own compaction (Pebble's
// Compact, goleveldb's CompactRange). It is optional: Storage.Compact
// garbage-collects versions either way, then calls CompactRange on the key
// range it processed so the store can reclaim the space.
type RangeCompacter interface {
	// CompactRange compacts the keys in [lower, upper); nil is unbounded.
	CompactRange(lower, upper []byte) error
}
