// Package btree is Lightning's page-based B+tree storage engine: one file of
// fixed-size pages, copy-on-write with two meta pages (as bbolt and LMDB
// do), for read-heavy workloads. It claims storage.durable,
// storage.discard, storage.compact and storage.check.
//
// # Structure
//
// Versions are kept in (user key ascending, ts descending) order in the
// leaves of a B+tree; branches hold separators and child pointers. Every
// pointer carries the generation (transaction number) that wrote the page
// it points to, and every page records its own id and generation, so a
// stale, misplaced or replayed page is caught as corruption, never read as
// data.
//
// Writes go to a write buffer first: Apply inserts into a skiplist
// (memtable.go; a large batch in key order, each search starting where the
// previous ended) and returns. The active buffer is two skiplists: a small
// one (8 MiB) that takes the Applies, and a big one into which the small
// one moves, as one sorted run, whenever it fills — random keys then reach
// the big skiplist in runs dense enough that each insert finds most of its
// path in the CPU cache (Engine.moveYoung). Skiplist keys compare by their
// first 16 bytes as two integers before their bytes. When the buffer
// reaches Options.WriteBufferSize it is frozen and a background goroutine
// merges it into the tree; Flush freezes it at once and merges every
// frozen buffer in one transaction. A transaction (txn.go, merge.go) rewrites the nodes the
// buffer touches by copy-on-write, top-down in one pass: unchanged subtrees
// are shared, and runs of changed siblings are repacked together into full
// nodes, which keeps pages full under random inserts and merges nodes that
// deletes emptied (pack.go). It never writes a page the committed tree
// reaches. The commit syncs the new pages, then writes the meta of the new
// generation into the meta slot the previous generation did not use
// (generation g goes to page g%2) and syncs again. Opening takes the valid
// meta with the highest generation; a torn meta fails its checksum and the
// other one wins, and the previous meta's pages were never overwritten.
//
// Reads merge the write buffers with the tree. Get, iterators, Check and
// Stats pin a read state (version.go): the buffers and the committed tree
// version current when they started. Apply, flushes and compaction never
// disturb a pinned state, so iterators are stable snapshots for free.
// An iterator's tree source (the cursor and its key buffer) is recycled
// through a pool when the iterator is closed, since short scans open one
// per scan. A seek descends through parsed branch views kept in the branch
// table (the cursor's path holds pointers to them, so a descent parses and
// copies no branch), then searches the leaf. A forward scan of the tree
// alone (the write buffers empty, as in every settled database) runs
// straight on the cursor: it decodes leaf entries one after another from
// where the previous one ended, each into numbers in registers
// (page.Leaf.ScanAt) rather than a struct, makes slices only of what it
// returns, builds keys by copying only their suffix after the leaf's
// prefix, and offers NextKV, which the core uses to step a scan with one
// dynamic call per step.
//
// Close does not flush; it stops a flush in progress, whose pages past the
// last commit's page count no meta reaches, and cuts the file back to that
// count, so an interrupted flush leaves no garbage on disk.
//
// # Concurrency
//
// Apply holds writeMu; transactions (flushes, Compact's batches,
// shrinking) and Check hold commitMu; replacing the read state takes
// stateMu briefly. Lock order: writeMu, commitMu, stateMu. Get and
// iterators take no lock: they load the read state and count a reference
// with atomics. An iterator is used by one goroutine at a time. Apply and
// a flush run concurrently: Apply writes into a fresh buffer while frozen
// ones are merged. When Options.MaxFrozenBuffers are waiting, Apply blocks
// until a flush finishes, so memory stays bounded.
//
// # Free pages
//
// Pages freed by a transaction wait, tagged with its generation, until no
// reader pins an older tree version; then they join the free set. A
// transaction allocates the lowest free page first, so live pages gather
// at the start of the file. The free set is persisted incrementally as a
// chain of free-list records — a delta per commit listing the pages freed,
// taken and cut, back to a snapshot — and rewritten as a snapshot only
// when the chain holds as many deltas as the snapshot has pages: a commit
// writes O(pages changed) of free list, amortised, not the whole list as
// bbolt does (freelist.go).
//
// # Shrinking online
//
// Every commit cuts the file at the run of free pages that ends it. When
// free pages make up Options.ShrinkRatio of the file after a flush, and
// always in Compact, a relocation transaction moves every node and value
// with a page above the live size into free pages below it (leaves and
// values copied page by page, the branches above rewritten), and a
// following commit truncates the file once readers of older versions are
// gone (shrink.go).
// So the file shrinks after deletes while the database stays open.
//
// # Garbage collection
//
// Flushes drop what the discard ts allows from the runs of nodes they
// rewrite anyway; Compact drops all of it, exactly, in batches of
// Options.CompactBatch versions that end at user key boundaries
// (compact.go).
//
// # Reading pages
//
// Node images are checked (checksum, page id, generation, type, every
// field of the image) when first read, and kept decoded: branches — read
// on every lookup, and about one page in a hundred — in a lock-free table
// indexed by page id, with a parsed view; leaves in the cache, Deps.Cache
// or a private one of Options.CacheSize bytes, keyed {namespace, 0, page
// id}. A node read from the file is decompressed straight into the value
// the cache keeps, its pages assembled in pooled scratch memory: one
// allocation per leaf, which is what a scan of a cold cache pays per leaf
// besides the checksum, the decompression and the check. Searches run in
// place on the image, with no per-entry decoding into objects; a leaf
// keeps its keys apart from its values, so a binary search or a scan reads
// a dense run of keys, and marks the entries that continue the previous
// one's user key, so a scan skips older versions without comparing keys.
// Without a Cipher, and unless Options.DisableMMap, pages are read from a
// read-only shared memory map of the file, and uncompressed single-page
// leaves are searched in the map itself, zero-copy, after a first full
// check recorded in a bitmap. Maps are replaced when the file grows and
// released with the last tree version using them; a page id beyond a
// version's page count, or beyond the file, is corruption, so a damaged
// pointer never reads past the end of a map.
//
// # Compression and encryption
//
// With Deps.Codec, leaf images are compressed, and a compressed leaf takes
// a chain of up to four pages (the packer aims at four pages' capacity
// times the recent compression ratio, at most 60 KiB of image; pack.go):
// a compressed leaf is read through the cache, and fewer, larger leaves
// make that cost a smaller share of a scan, while only the last page of a
// chain is partly empty. Without a codec a leaf is one page, which the
// memory map serves in place. (The file format allows any node to be a
// chain; this is packing policy, not format.) With Deps.Cipher, every page but
// the metas is sealed, with (page id, generation, type) as additional data,
// so a page moved or replayed from another generation fails to open.
//
// # Limits
//
// Values longer than a quarter of a page's capacity are stored out of line
// in chains of value pages. A node image that does not fit one page even
// alone (a key near interfaces.MaxKeySize) takes a chain of pages.
//
// # File format
//
// Directory: DataName ("btree.db"), the data file; "btree.db.tmp" while a
// new data file is made (removed at open); LockName ("LOCK"). The data file
// is an array of pages of the page size recorded in its meta (4 KiB by
// default). Pages 0 and 1 are the meta slots. The layouts of the page
// header, the meta page, leaf and branch images and free-list records are
// drawn byte for byte in package internal/page (doc.go, meta.go, leaf.go,
// branch.go). A value page's payload is a chunk of the value; the chunks of
// a blob, in chain order, are its stored bytes.
//
// All integers are little-endian, varints are unsigned LEB128 (uvarint),
// CRC-32C is the Castagnoli CRC.
package btree
