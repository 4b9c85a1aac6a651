// Package lsm is Lightning's default Storage engine: a log-structured merge
// tree. It claims storage.durable, storage.discard, storage.compact and
// storage.check.
//
// # Structure
//
// Versions are internal keys (package base: the user key and a trailer of
// ts<<8 | kind) ordered by user key ascending, then ts descending. They
// live in:
//
//   - memtables: arena skiplists (package arenaskl). Apply inserts into the
//     mutable memtable; a full one becomes immutable, waits in a queue and
//     is flushed to an L0 table by a background goroutine. A memtable holds
//     whole Apply calls, so each ts lives in one memtable.
//   - tables (package sstable), in seven levels. L0 holds one table per
//     flushed memtable, newest first, with disjoint ts ranges; L1 to L6
//     hold tables with disjoint key ranges, each level targeting
//     Options.LevelMultiplier times the size of the one above. A user key's
//     versions are never split between two tables of one level.
//
// For every user key, a newer place (memtables, then L0 newest first,
// then L1, L2, ...) holds newer versions: flushes go to L0 in memtable
// order, and a compaction takes every table of the next level that
// overlaps its inputs, and in L0 every table that overlaps another input.
// Get relies on it: it stops at the first place with a version at or
// below the read ts.
//
// # Versions, read states, and when files go
//
// A version is the immutable set of tables of every level. Every flush,
// compaction and move makes a new one by applying a version edit, which is
// appended to the manifest and synced before it takes effect. The memtables
// and the version together form the read state, published with one atomic
// pointer: Get and NewIterator take a reference to it (an atomic
// increment), so what they read cannot be recycled or deleted under them,
// and never lock. Tables hold a count of the versions that contain them;
// when it drops to zero the table is obsolete and a background goroutine
// deletes its file. Memtable arenas of the standard size are reused once no
// read state holds them.
//
// # Concurrency
//
// writeMu serialises the writer: Apply, and the memtable rotation of
// Flush. mu guards the version set, the flush queue, the manifest and the
// compaction state; cond (on mu) is broadcast on every change a waiter
// cares about. Lock order: writeMu, then mu. Manifest writes happen under
// mu. Readers take neither lock.
//
// Apply publishes the applied ts after its last insert; reads use
// min(read ts, applied ts), so an Apply in progress is invisible, and an
// iterator is a stable snapshot at min(ReadTs, applied ts at NewIterator).
//
// Apply stalls (blocks on cond) while Options.MaxImmutableMemtables
// memtables wait for their flush, or L0 holds L0StopWritesTrigger tables,
// so memory stays bounded. One goroutine flushes; CompactionConcurrency
// goroutines compact, picking by score: L0's table count against
// L0CompactionTrigger, each level's size against its target; inputs are
// marked compacting, and a compaction whose inputs are taken waits.
//
// # Durability
//
// Flush queues the mutable memtable and waits until every queued memtable
// up to it is in an L0 table and the edit recording it is synced. The edit
// records the memtable's highest ts as the durable ts, which DurableTs
// reports (also after a reopen). Tables are synced, and then their
// directory, before the edit that names them is written, so a crash
// leaves the manifest naming only whole tables; tables a crash left
// unrecorded are deleted at the next open.
//
// A failed flush, and a failed manifest write, fail-stop the engine: Apply,
// Flush and Compact return interfaces.ErrFailStopped until it is reopened,
// because what reached the disk is unknown; reads continue. A compaction
// that fails before its manifest write is logged and retried later: its
// inputs are intact.
//
// # Garbage collection
//
// Flushes and compactions drop versions under the discard ts: for each
// user key, every version above it stays, and the newest version at or
// below it, V, stays unless it is a tombstone and no level below the
// output holds the key; everything older than V goes. Compact(r) flushes,
// compacts every level's tables in r down the tree, and rewrites the
// bottommost tables in r that may hold droppable versions, so after
// Compact(KeyRange{}) none remains.
//
// # Files
//
// Options.Dir holds:
//
//	LOCK             held (vfs.FS.Lock) while an Engine has the directory open
//	CURRENT          "MANIFEST-<number>\n": the live manifest, replaced by
//	                 writing CURRENT.tmp, syncing it, renaming it and syncing
//	                 the directory
//	MANIFEST-000007  the manifest: a log of version edits
//	000012.sst       a table (package sstable documents its format)
//
// Tables and manifests draw their numbers from one counter, which is never
// reused: at open it is set above every number in the manifest and in the
// directory. Opening replays the manifest, then writes a fresh one holding
// a snapshot of the version, points CURRENT at it, and deletes old
// manifests and orphan tables; a manifest past Options.MaxManifestSize is
// replaced by a snapshot the same way at the next edit.
//
// # Manifest format
//
// All integers are little-endian unless said otherwise; CRC-32C is the
// Castagnoli CRC; uvarint is encoding/binary's unsigned varint.
//
//	header, 28 bytes
//	  0   8  magic "LTNGMANI"
//	  8   4  format version, uint32 = 1
//	  12  4  flags, uint32: bit 0 = record payloads sealed by a Cipher;
//	         other bits 0 (a reader refuses unknown bits: incompatible)
//	  16  8  manifest number, uint64: the number in the file's name
//	  24  4  CRC-32C of bytes 0..24
//
//	record, from offset 28 onwards, 12 + n bytes
//	  0   4  payload length n, uint32, 1..256 MiB
//	  4   4  CRC-32C of bytes 0..4 (the length is checked on its own, so a
//	         damaged length is told from a record cut short)
//	  8   4  CRC-32C of the payload
//	  12  n  payload: a version edit; when flag bit 0 is set, the edit
//	         sealed by the Cipher with additional data "LTNGMANI" ||
//	         manifest number (uint64) || the record's offset (uint64), so a
//	         record moved within the manifest or into another fails to open
//
//	version edit: fields, each a uvarint tag and its values
//	  tag 1  next file number: uvarint, above every file number used
//	  tag 2  durable ts: uvarint; every version at or below it is in the
//	         version's tables, none above; never decreases
//	  tag 3  log number: uvarint, the number of the last memtable flushed
//	         (memtables are numbered from 1 for the life of the database);
//	         never decreases
//	  tag 4  deleted table: level uvarint (0..6), table number uvarint
//	  tag 5  new table:
//	           level             uvarint, 0..6
//	           table number      uvarint, > 0, below the next file number
//	           size              uvarint, the file's size in bytes, > 0
//	           smallest          uvarint length, then the internal key:
//	                             user key || trailer (uint64, ts<<8 | kind)
//	           largest           the same
//	           min ts, max ts    uvarint each, 1 <= min <= max <= durable ts
//	           entries           uvarint, >= 1
//	           tombstones        uvarint, <= entries
//	           user keys         uvarint, 1..entries
//	  Tags 1 to 3 appear at most once per edit; tags 4 and 5 any number of
//	  times. An unknown tag is corruption.
//
// The first record of a manifest is a snapshot: next file number, durable
// ts, log number and every table as a new table. Each later record is the
// edit of one flush, compaction or move. Replaying applies the edits in
// order; a deleted table must be in the level named, a new one must not be
// in the version already (unless the same edit deletes it: a move), and
// the result must keep the level invariants.
//
// A torn tail — fewer than 12 bytes, or a record shorter than its
// (checksummed) length, or only zero bytes where the next record would
// start — is the trace of an append a crash interrupted; the edit never
// took effect (edits are synced before they do), so replay stops there.
// Every other failure — a bad magic or header checksum, a length that
// fails its checksum, a payload that fails its checksum or
// authentication, an edit that does not decode or does not fit the
// version — is a *interfaces.CorruptionError naming the manifest and the
// record's offset. A manifest sealed when no cipher is configured, or not
// sealed when one is, or of another format version, is an error matching
// interfaces.ErrIncompatible.
package lsm
