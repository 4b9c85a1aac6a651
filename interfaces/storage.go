package interfaces

import (
	"fmt"
	"math"
)

// Limits shared by every part. The core rejects larger keys and values with
// ErrInvalidArgument before they reach a part, so a part may rely on them;
// it must accept everything up to them.
const (
	// MaxKeySize is the largest user key, in bytes. The empty key is valid.
	MaxKeySize = 64<<10 - 1
	// MaxValueSize is the largest value, in bytes.
	MaxValueSize = 16 << 20
	// MaxTs reads every version: Get(key, MaxTs) returns the newest.
	MaxTs uint64 = math.MaxUint64
)

// EntryKind says what a version is.
type EntryKind uint8

// Entry kinds. The numbers are stable: they appear in files and on the wire.
const (
	// KindSet is a version holding a value.
	KindSet EntryKind = 1
	// KindDelete is a tombstone: the key has no value at this ts, and
	// older versions are hidden from reads at or above it.
	KindDelete EntryKind = 2
)

// Entry is one version of one user key.
type Entry struct {
	// Key is the user key, at most MaxKeySize bytes.
	Key []byte
	// Ts is the version's commit ts, never 0.
	Ts uint64
	// Kind is KindSet or KindDelete.
	Kind EntryKind
	// Value is the value of a KindSet version (nil and empty are the same
	// value); ignored for KindDelete.
	Value []byte
}

// ValidateEntry checks entries[i] against Apply's preconditions that one
// entry and its predecessor decide: a ts above 0, a known kind, a key of
// at most MaxKeySize bytes, a KindSet value of at most MaxValueSize bytes,
// and a ts not below entries[i-1]'s. It returns nil, or an error matching
// ErrInvalidArgument that names the entry and the reason, for the engine
// to wrap. (Duplicate (key, ts) pairs and a ts at or below the applied ts
// are the engine's to check: they need its state.)
func ValidateEntry(entries []Entry, i int) error {
	en := &entries[i]
	var why string
	switch {
	case en.Ts == 0:
		why = "ts 0"
	case en.Kind != KindSet && en.Kind != KindDelete:
		why = fmt.Sprintf("unknown kind %d", en.Kind)
	case len(en.Key) > MaxKeySize:
		why = fmt.Sprintf("key of %d bytes", len(en.Key))
	case en.Kind == KindSet && len(en.Value) > MaxValueSize:
		why = fmt.Sprintf("value of %d bytes", len(en.Value))
	case i > 0 && en.Ts < entries[i-1].Ts:
		why = fmt.Sprintf("ts %d after ts %d", en.Ts, entries[i-1].Ts)
	default:
		return nil
	}
	return fmt.Errorf("entry %d: %s: %w", i, why, ErrInvalidArgument)
}

// KeyRange is the half-open range of user keys [Start, End). A nil Start is
// unbounded below and a nil End unbounded above; the zero KeyRange is every
// key. An empty non-nil End ([]byte{}) is an empty range.
type KeyRange struct {
	Start []byte
	End   []byte
}

// Storage is a versioned, ordered key-value store: the database engine
// beneath the core. Versions are keyed by (user key, ts) and ordered by user
// key ascending (bytewise, as bytes.Compare), then ts descending.
//
// The core owns the write-ahead log, the clock and transactions; a Storage
// only keeps versions, and need not be durable between Flush calls, because
// the core replays its log above DurableTs after a crash.
//
// # Concurrency
//
// The core makes one Apply call at a time, in ts order. Get, NewIterator
// (and iterator use), Flush, DurableTs, SetDiscardTs, Compact, Check and
// Stats may be called at any time, from any goroutine, concurrently with
// each other and with Apply. Close is called once, after every other call
// has returned and every iterator has been closed; any call after Close
// returns ErrClosed.
//
// # Visibility
//
// A read at read ts R sees, for each user key, the newest version with
// ts <= R, unless that version is a tombstone, in which case the key is
// absent. Versions applied by an Apply call that has returned are visible to
// every read that starts afterwards. A read that runs concurrently with
// Apply may or may not see that Apply's versions; the core never reads at a
// ts it has not finished applying, so a part need not make Apply atomic for
// readers.
type Storage interface {
	// Describe returns the part's self-description. Its Kind is
	// KindStorage.
	Describe() Descriptor

	// Apply adds entries as new versions. The core guarantees that every
	// entry's ts is greater than the ts of every entry in earlier Apply
	// calls (of this instance, and before a crash: greater than
	// DurableTs), that ts values are non-decreasing in slice order, and that
	// no (key, ts) pair appears twice. Entries for one key at several ts may
	// arrive in one call (a commit group). Apply copies what it keeps; the
	// caller reuses entries after it returns.
	//
	// Apply need not be durable: see Flush. After an I/O error a part may
	// answer ErrFailStopped to every later Apply and Flush.
	Apply(entries []Entry) error

	// Get returns the value and ts of key's newest version with
	// ts <= readTs, or ErrNotFound when there is none or it is a tombstone.
	// The returned value belongs to the caller.
	Get(key []byte, readTs uint64) (value []byte, ts uint64, err error)

	// NewIterator returns an iterator over the versions selected by opts,
	// positioned nowhere: call First or Seek. The iterator is a stable
	// snapshot: it sees exactly the versions with ts <= min(opts.ReadTs,
	// the highest ts whose Apply returned before NewIterator was called),
	// however Apply, Flush and compaction proceed meanwhile (within the
	// SetDiscardTs rule). Close every iterator.
	NewIterator(opts IterOptions) (Iterator, error)

	// Flush makes every version applied before the call durable, and
	// returns the highest ts that is now durable (the same value DurableTs
	// reports from then on). Flush may run concurrently with Apply;
	// versions applied meanwhile need not be included.
	//
	// This is the whole crash contract: after a crash or a Close, a
	// reopened instance holds exactly the versions with ts <= DurableTs —
	// none missing, none newer. Without CapDurable, Flush returns the
	// highest applied ts and nothing survives a reopen.
	Flush() (durableTs uint64, err error)

	// DurableTs returns the highest ts made durable by Flush, by this
	// instance or (right after a reopen) by an earlier one; 0 when nothing
	// is durable. It never goes down. Without CapDurable it returns what
	// the last Flush returned, and 0 after a reopen.
	DurableTs() (uint64, error)

	// SetDiscardTs allows garbage collection below ts. For each user key,
	// let V be its newest version with ts <= discardTs. Every version older
	// than V may be dropped, and V itself if it is a tombstone. Nothing
	// else may be dropped: reads at any read ts >= discardTs must not
	// change. Reads below discardTs may then see any subset of the
	// droppable versions (the core never reads there). discardTs never
	// goes down; a lower value is ignored.
	//
	// Without CapDiscard, SetDiscardTs returns ErrUnsupported.
	SetDiscardTs(ts uint64) error

	// Compact reorganises the versions in r (the zero KeyRange is all of
	// them) to make reads and disk use cheaper. With CapDiscard, once
	// Compact(KeyRange{}) returns, no version that SetDiscardTs allowed to
	// drop remains visible to an AllVersions iterator. Reads and writes
	// continue during Compact.
	//
	// Without CapCompact, Compact returns ErrUnsupported.
	Compact(r KeyRange) error

	// Check verifies every checksum and structural invariant the part
	// keeps (on disk and in memory) and returns every problem found,
	// joined; corruption is a *CorruptionError naming file and offset.
	//
	// Without CapCheck, Check returns ErrUnsupported.
	Check() error

	// Stats returns figures about the part for metrics and `lightning
	// stats`.
	Stats() (StorageStats, error)

	// Close releases the part's resources. It does not Flush: versions
	// above DurableTs may be lost, which the core's log covers. A second
	// Close returns ErrClosed.
	Close() error
}

// StorageStats are figures a storage reports. The named fields are common to
// every engine; Metrics carries engine-specific ones under stable names
// ("lsm.compactions", "btree.free_pages") so they cross gRPC and feed
// telemetry without a type per engine.
type StorageStats struct {
	// DiskBytes is the size of the part's files (for a remote part, of its
	// store). A CapDurable part that has flushed versions reports more
	// than 0.
	DiskBytes int64
	// MemBytes is memory held for data: memtables and buffered pages, or
	// everything for an all-in-memory engine.
	MemBytes int64
	// AppliedTs is the highest ts applied.
	AppliedTs uint64
	// DurableTs is as DurableTs reports it.
	DurableTs uint64
	// DiscardTs is the highest ts passed to SetDiscardTs.
	DiscardTs uint64
	// Metrics holds engine-specific counters and gauges.
	Metrics map[string]int64
}

// IterOptions selects what an Iterator sees.
type IterOptions struct {
	// ReadTs is the read ts: versions with larger ts are invisible. Use
	// MaxTs for everything applied.
	ReadTs uint64
	// LowerBound, when non-nil, is the smallest user key visited
	// (inclusive).
	LowerBound []byte
	// UpperBound, when non-nil, is the first user key not visited
	// (exclusive).
	UpperBound []byte
	// Prefix, when non-nil, restricts the iterator to user keys that start
	// with it, in addition to the bounds. Engines may use it to skip
	// files (Bloom filters on prefixes, key ranges).
	Prefix []byte
	// Reverse iterates from the largest key down. An iterator moves in one
	// direction for its whole life; to turn around, open another. (This
	// keeps engines simple and lets an iterator stream in chunks across a
	// process boundary.)
	Reverse bool
	// AllVersions yields every version with ts <= ReadTs, tombstones
	// included, in (user key asc, ts desc) order — or the exact reverse of
	// that order when Reverse is set. Without it the iterator yields the
	// newest visible version of each user key and skips keys whose newest
	// visible version is a tombstone.
	AllVersions bool
}

// Iterator walks versions in one direction. Key, Ts, Kind and Value describe
// the current version and are valid only until the next call that moves the
// iterator; the caller copies what it keeps and never modifies them.
//
// An iterator is used by one goroutine at a time.
type Iterator interface {
	// First moves to the first version in the iterator's direction (the
	// smallest key forward, the largest key in reverse) and reports whether
	// there is one.
	First() bool
	// Seek moves a forward iterator to the first user key >= key, and a
	// reverse iterator to the last user key <= key (with AllVersions, to
	// that key's oldest visible version, the first met going down). It
	// reports whether the iterator is valid. Bounds win over key: a forward
	// Seek below the lower bound starts at the lower bound, and one at or
	// past the upper bound leaves the iterator exhausted; a reverse Seek at
	// or above the upper bound starts at the largest key below it, and one
	// below the lower bound leaves the iterator exhausted.
	Seek(key []byte) bool
	// Next moves one step in the iterator's direction and reports whether
	// it is valid.
	Next() bool
	// Valid reports whether the iterator is positioned at a version.
	Valid() bool
	// Key returns the user key of the current version.
	Key() []byte
	// Ts returns the ts of the current version.
	Ts() uint64
	// Kind returns the kind of the current version; always KindSet unless
	// AllVersions is set.
	Kind() EntryKind
	// Value returns the value of the current version (nil for tombstones).
	Value() []byte
	// Err returns the error that made the iterator invalid, if any. A
	// corrupt block is a *CorruptionError.
	Err() error
	// Close releases the iterator and returns Err. It must be called.
	Close() error
}

// KVStepper is an optional interface of an Iterator that the core uses,
// when the iterator has it, for the step every scan spends its time in.
// NextKV is Next followed, when Next returns true, by Key and Value: one
// dynamic call per step instead of three. Keys and values obey the rules
// of Key and Value. An iterator without it (one served over gRPC, say)
// is stepped with Next, Key and Value.
type KVStepper interface {
	NextKV() (key, value []byte, ok bool)
}
