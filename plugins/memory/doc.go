// Package memory is Lightning's in-memory Storage engine: the reference
// engine the conformance suite is written against, and an engine for tests
// and ephemeral databases. Every version lives in memory; Flush writes
// them all to one checksummed snapshot file, so the engine honours the
// crash contract and survives restarts (capability storage.durable). It
// also claims storage.discard, storage.compact and storage.check.
//
// # Structure
//
// The versions are kept in a copy-on-write B-tree ordered by (user key
// ascending, ts descending), each node holding up to 31 versions. A change
// (an Apply, a garbage-collection batch) copies the nodes on the paths it
// touches, each at most once per change, and publishes the new root with
// one atomic store. Readers load the root and never lock:
//
//   - Get walks from the root it loaded;
//   - an iterator keeps the root it loaded at NewIterator, so it is a
//     stable snapshot by construction — Apply, Flush and garbage
//     collection never disturb it — and the versions it can see stay in
//     memory until it is closed.
//
// # Concurrency
//
// Apply and each garbage-collection batch hold the write lock; Flush holds
// the flush lock while it writes the snapshot, but not the write lock, so
// Apply proceeds during a Flush (its versions go into the next snapshot).
// Get, NewIterator, iterators, DurableTs, SetDiscardTs, Stats and Check
// take no lock that Apply holds. An iterator is used by one goroutine at a
// time. Lock order: flush lock, then write lock.
//
// # Durability
//
// Flush writes the versions of the published tree to SNAPSHOT.tmp, syncs
// it, renames it over SNAPSHOT and syncs the directory; only then does
// DurableTs move to the snapshot's ts. A crash at any point leaves either
// the old snapshot or the new one, each whole, and a leftover
// SNAPSHOT.tmp is removed at open. Close does not flush. A failed
// directory sync after the rename leaves the durable state unknown, so it
// fail-stops the engine: Apply and Flush return interfaces.ErrFailStopped
// until it is reopened.
//
// The engine holds vfs.FS.Lock on the directory's LOCK file while open.
//
// # Garbage collection
//
// SetDiscardTs only records the discard ts. Compact(r) finds the versions
// in r that it lets go on a published tree, without locks, and removes
// them in batches of Options.CompactBatch under the write lock; a batch
// ends at a user key boundary, so a tombstone and the versions it hides
// disappear together. Flush writes snapshots without those versions and,
// when the discard ts has moved since the last full collection, collects
// in memory too. Compact does not rewrite the snapshot: the next Flush
// does.
//
// # Snapshot file format
//
// All integers are little-endian; CRC-32C is the Castagnoli CRC. The file
// is a header, zero or more blocks, and a footer:
//
//	header, 36 bytes
//	  0   8  magic "LTNGMEM\x00"
//	  8   2  format version, uint16 = 1
//	  10  2  flags, uint16: bit 0 = block payloads sealed by a Cipher;
//	         other bits 0 (a reader refuses unknown bits: incompatible)
//	  12  1  codec ID the writer compressed with (0 = none); informative,
//	         each block names its own
//	  13  3  reserved, 0
//	  16  8  durable ts, uint64: every version with ts <= it, none newer
//	  24  8  discard ts, uint64: the versions it let go are not in the file
//	  32  4  CRC-32C of bytes 0..32
//
//	block, at offset 36 onwards, 20 + n bytes
//	  0   1  codec ID of the payload (0 = stored uncompressed)
//	  1   3  reserved, 0
//	  4   4  entry count, uint32, >= 1
//	  8   4  raw length, uint32: bytes of the entry stream, 1..maxRawBlock
//	  12  4  payload length n, uint32
//	  16  n  payload: the entry stream, compressed with the codec (unless
//	         codec 0), then sealed (when flag bit 0) with additional data
//	         "memory-snapshot" || durable ts (uint64) || block index
//	         (uint64, from 0), so a block moved within the file or into
//	         another snapshot fails to open
//	  16+n 4 CRC-32C of bytes 0..16+n of the block
//
//	footer, the last 20 bytes
//	  0   8  entry count, uint64: the sum over blocks
//	  8   8  block count, uint64
//	  16  4  CRC-32C of every byte of the file before these 4
//
//	entry, in the entry stream of a block
//	  0   1  kind: 1 = set, 2 = tombstone
//	  1   8  ts, uint64, 1..durable ts
//	  9   k  key length, uvarint, <= interfaces.MaxKeySize
//	  .      key
//	  .   v  value length, uvarint, <= interfaces.MaxValueSize (0 for a
//	         tombstone)
//	  .      value
//
// Entries are in strictly increasing (key ascending, ts descending) order
// across the whole file, and fill their block's raw length exactly. A
// writer closes a block before its raw length passes Options.BlockSize,
// but a block always takes one entry, so maxRawBlock is the larger of
// MaxBlockSize (16 MiB) and the largest entry (1+8+4+MaxKeySize+4+
// MaxValueSize bytes). A block that does not shrink under the codec is
// stored uncompressed, with codec ID 0.
//
// Reading checks every CRC, length, reserved byte, kind, ts and the order,
// and reports damage as a *interfaces.CorruptionError naming the file and
// the offset of the header, the damaged block, or the footer; a block
// that fails authentication is a CorruptionError wrapping
// interfaces.ErrDecrypt. A snapshot that is sealed when no Cipher is
// configured, or not sealed when one is (which would let a plaintext file
// stand in for an encrypted one), or that needs a codec not configured, or
// has another format version, is an error matching
// interfaces.ErrIncompatible.
package memory
