package interfaces

// CacheKey names a cached entry. Engines cache decoded blocks and pages by
// where they live, so a key is a namespace, a file and an offset.
type CacheKey struct {
	// Namespace separates the users of one shared cache: an engine draws a
	// fresh random namespace each time it opens, so two databases, or two
	// lives of one database, never see each other's entries, and
	// HotKeys(namespace, ...) lists one user's entries only.
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
	// it. It stays valid after the entry is evicted or replaced: a cache
	// never reuses the memory of a value it handed out (readers hold
	// cached blocks past eviction). A hit should not allocate.
	Get(key CacheKey) (value []byte, ok bool)

	// Set stores value under key with the given charge, replacing any
	// entry under key, and evicts entries as needed to keep the total
	// charge within Capacity. The cache takes value as it is: the caller
	// must not modify it afterwards. A charge below 1 counts as 1.
	//
	// A cache may refuse an entry: not store it, and remove any old entry
	// under key, so that a Get never returns a value older than the last
	// Set. It refuses every entry whose charge exceeds Capacity, and it may
	// refuse one whose charge exceeds a per-entry limit that the
	// implementation documents: at most Capacity, and at least
	// max(Capacity/64, 1). A sharded cache, say, cannot store an entry
	// larger than one shard. An entry at or below max(Capacity/64, 1) is
	// always stored (it may be evicted by later Sets). Refusing is not an
	// error, an insert or an eviction: an engine reads an uncacheable block
	// from disk each time, and may use Stats().Inserts to notice.
	//
	// Set may evict before the total charge reaches Capacity (a sharded
	// cache evicts when the key's shard is full), but only to make room:
	// a Set of a new key that is stored adds exactly one entry and evicts
	// any number, and no Set evicts while the total charge, the new entry
	// included, is at most max(Capacity/64, 1).
	Set(key CacheKey, value []byte, charge int64)

	// Delete removes the entry under key, if any.
	Delete(key CacheKey)

	// Capacity returns the bound on the total charge of stored entries: at
	// least 1 and at most the capacity the cache was made with.
	// INVARIANT: after any call returns, Stats().Bytes <= Capacity().
	Capacity() int64

	// Stats returns the cache's counters.
	Stats() CacheStats

	// HotKeys returns up to limit keys of entries in the given namespace,
	// most valuable first (the entries the cache would keep longest), so
	// that an engine can save its own hot keys at Close and, after a
	// restart, warm the cache by reading those blocks again (see package
	// interfaces/cachewarm). An engine that shares the cache with other
	// databases, and draws a new namespace at each open, thus saves
	// exactly its own keys.
	//
	// Every key returned is in namespace, names an entry present during
	// the call (never a deleted, evicted or refused one), and is listed
	// once. Fewer than limit keys means the namespace has no other entries
	// present: a cache must not take its hottest keys of all namespaces
	// and then filter them. A limit of 0 or below returns no keys and a
	// nil error. HotKeys changes no entry and no counter; it may walk every
	// entry of the cache, so it is meant for Close, not for a hot path.
	//
	// Without CapHotKeys it returns ErrUnsupported; after Close, ErrClosed.
	HotKeys(namespace uint64, limit int) ([]CacheKey, error)

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
