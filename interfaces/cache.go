package interfaces

// CacheKey names a cached entry. Engines cache decoded blocks and pages by
// where they live, so a key is a namespace, a file and an offset.
type CacheKey struct {
	// Namespace separates the users of one shared cache: an engine draws a
	// fresh random namespace each time it opens, so two databases, or two
	// lives of one database, never see each other's entries.
	Namespace uint64
	// File is the file number (or page file id) within the namespace.
	File uint64
	// Offset is the block offset or page id within the file.
	Offset uint64
}

// Cache is a bounded, concurrent cache of byte slices, each with a charge
// (normally its size in bytes). Engines keep decoded blocks and pages in it.
//
// A cache is an optimisation: Get may miss at any time, and a cache that
// fails (a crashed plugin, say) simply misses. That is why Get and Set
// return no error.
//
// All methods are safe for concurrent use. After Close, Get misses, Set and
// Delete do nothing, and HotKeys returns ErrClosed (or ErrUnsupported, when
// the cache does not claim CapHotKeys).
type Cache interface {
	// Describe returns the part's self-description. Its Kind is
	// KindCache.
	Describe() Descriptor

	// Get returns the value stored under key, if present. The slice is
	// shared with the cache and other readers: the caller must not modify
	// it. A hit should not allocate.
	Get(key CacheKey) (value []byte, ok bool)

	// Set stores value under key with the given charge, replacing any
	// entry under key, and evicts entries as needed to keep the total
	// charge within Capacity. The cache takes value as it is: the caller
	// must not modify it afterwards. An entry whose charge exceeds Capacity
	// is not stored (and any old entry under key is removed). A charge
	// below 1 counts as 1.
	Set(key CacheKey, value []byte, charge int64)

	// Delete removes the entry under key, if any.
	Delete(key CacheKey)

	// Capacity returns the bound on the total charge of stored entries: at
	// least 1 and at most the capacity the cache was made with.
	// INVARIANT: after any call returns, Stats().Bytes <= Capacity().
	Capacity() int64

	// Stats returns the cache's counters.
	Stats() CacheStats

	// HotKeys returns up to limit keys of the entries the cache would keep
	// longest, most valuable first, so that after a restart an engine can
	// warm a new cache by reading those blocks again. Without CapHotKeys it
	// returns ErrUnsupported.
	HotKeys(limit int) ([]CacheKey, error)

	// Close releases the cache and its entries.
	Close() error
}

// CacheStats are a cache's counters since it was made.
type CacheStats struct {
	Hits      int64 // Get calls that found an entry
	Misses    int64 // Get calls that did not
	Inserts   int64 // Set calls that stored an entry
	Evictions int64 // entries removed to make room (not by Delete)
	Entries   int64 // entries stored now
	Bytes     int64 // total charge of the entries stored now
	Capacity  int64 // as Capacity returns
	// Metrics holds implementation-specific gauges ("arc.p" per shard,
	// summed), under stable names.
	Metrics map[string]int64
}
