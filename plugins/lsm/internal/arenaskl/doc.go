// Package arenaskl is the LSM engine's memtable: a skiplist of internal keys
// and values that lives entirely inside one byte arena.
//
// # Layout
//
// A Skiplist allocates its arena once, at New. Every node, with its user key
// right behind it, is carved from the start of the arena by bumping an
// offset, and its value from the end by bumping another down, so that
// searches, which read nodes and keys only, find them packed together; Add
// performs no heap allocation and the garbage collector sees a single
// pointer-free object. Nodes refer to each other by uint32 arena offsets;
// offset 0 is the head node, which doubles as "nil" (no node links to the
// head, and a level-0 backward link to it means "no previous entry").
//
// When an entry does not fit, Add returns ErrArenaFull and the caller
// rotates to a new memtable. Whether an entry fits depends only on the sizes
// of its key and value (see Fits and EntrySize), never on the random tower
// height, so the decision is reproducible and a whole batch can be checked
// up front. CapacityFor sizes an arena for one entry of any size, so a
// value of interfaces.MaxValueSize always finds a home.
//
// On Linux the arena is advised to use transparent huge pages: lookups hop
// between random nodes, and with 4 KiB pages most hops in a large memtable
// would also miss the TLB.
//
// # Concurrency
//
// Exactly one goroutine at a time may call Add (the engine serialises
// Apply), so the writer needs no compare-and-swap loops: it finds where the
// key goes, fills in a node that no reader can reach yet, and publishes it
// with atomic stores, level 0 first, then the successor's backward link,
// then the upper levels. Any number of goroutines may read meanwhile,
// without locks and without ever blocking the writer. A reader reaches a
// node only through an atomic load of a link stored after the node was
// complete, so it never sees a torn key or value, and every level it walks
// is strictly sorted.
//
// A reader that runs during an Add may or may not see the new entry. A
// forward walk sees it once its level-0 link is stored, a backward walk an
// instant later, once the successor's backward link is; a walk that began
// before an Add returned may include the entry or not, but never anything
// out of order. The engine's snapshots filter by ts, so a live view is all
// they need.
//
// Readers allocate nothing: Key and Value alias the arena, and an Iterator
// can be embedded and re-initialised with Init.
//
// # Lifetimes
//
// Keys and values returned by an iterator alias the arena and stay valid
// until Reset: the arena is never compacted, so the bytes behind a
// returned slice never change. That is longer than base.InternalIterator
// promises, but a caller must not rely on it beyond the memtable's life,
// and a slice kept anywhere keeps the whole arena alive; copy what
// outlives the memtable.
package arenaskl
