// Package wal is the core's write-ahead log: one record per commit, keyed
// by the commit's ts, in a directory of segment files. The core appends a
// commit group with WriteGroup (one write call), makes it durable with
// Sync, replays the records above the storage's durable ts with Replay
// after a crash, and frees segments the storage has made durable with
// Release. The log knows nothing of what a payload holds.
//
// # Life cycle
//
// One Log owns a directory at a time; its owner makes sure of that (the
// core holds the database's lock). Open lists the segments and writes
// nothing but the directories. Replay must run next, once:
// it reads the log, cuts a torn tail (and, in TruncateCorrupt mode,
// corruption), and starts a new segment — the log never appends to a
// segment it did not create in this life. WriteGroup, Sync and Release
// work only after Replay. Close syncs and ends the active segment with a
// clean-close marker. Any I/O error on the write path (a write, a sync, a
// rotation, a cut) fail-stops the log: every later write-side call fails
// with an error matching interfaces.ErrFailStopped, and the owner reopens
// to recover. Stats and Check keep working.
//
// # Concurrency
//
// All methods are safe for concurrent use. The core calls WriteGroup from
// one goroutine at a time (its commit leader); Sync may run concurrently
// with it (an interval syncer) and never holds it up for the duration of
// an fsync: Sync takes the active segment's size and handle under a short
// lock, fsyncs outside it, and then raises the synced offset. Rotation,
// which syncs the old segment itself, waits for a running Sync before it
// closes that handle; with Options.SyncRotatedInBackground a goroutine
// syncs and closes it instead, and Sync, Close, Release, Check and the
// next rotation wait for that goroutine. Release and Check may run at any
// time; Check reads
// the active segment only up to what has been written. Payloads passed to
// Replay's callback are valid only during the call.
//
// # Durability and recovery
//
// A record is durable once a Sync that began after its WriteGroup
// returned has returned. Each record carries the segment's synced offset
// at the time it was written, which lets Replay tell a torn tail from
// corruption: damage in the last segment is a torn tail only when no
// record after it claims the damaged bytes had been synced; damage in any
// other segment is corruption, because a segment is synced whole before
// the next is created — or, with Options.SyncRotatedInBackground, before
// the next one's header is confirmed: while the last segment's header is
// unconfirmed (or torn) and the one before it was written by such a log,
// that one may end in a torn tail too, and the last segment is a torn
// tail as a whole when its header names a prev ts the one before does not
// reach. A clean-close marker claims everything before it,
// so after a clean Close any damage is corruption. The one case no log of
// this kind can tell apart: damage to the records written after the last
// record that attests a sync (the end of a log that crashed) looks like a
// torn write, and is cut as one.
//
// Records and headers bind to their place: a record's checksum is seeded
// with its segment number and offset, and a sealed body's additional data
// names the segment, the offset and the whole record header. A stale or
// copied record never checks out elsewhere, so the scan past damage (for
// a record attesting a sync) cannot be fooled by old bytes or by a log
// stored inside a payload.
//
// Every segment header names the ts of the last record before it. Replay
// uses that to skip segments wholly at or below the storage's durable ts
// without reading them, and to notice a segment missing from the middle
// of the log when it could have held records above that ts. Records at
// or below that ts are checksummed but not opened or decompressed; Check
// does both for every record.
//
// # Segment files
//
// Segments live in Options.Dir as <number>.wal, the number being 16
// lowercase hexadecimal digits, from 1, never reused (Open continues after
// the largest in Dir and ArchiveDir). Released segments are deleted, or
// renamed into Options.ArchiveDir for point-in-time recovery.
//
// # Format
//
// All integers are little-endian; CRC-32C is the Castagnoli CRC. A
// segment is a header and zero or more records, back to back:
//
//	segment header, 32 bytes
//	  0   8  magic "LTNGWAL\x00"
//	  8   2  format version, uint16 = 1
//	  10  2  flags, uint16: bit 0 = record bodies sealed by a Cipher;
//	         bit 1 = "synced behind": written by a log that syncs a
//	         rotated segment in the background; bit 2 = "unconfirmed":
//	         the segment before was not yet synced when this header was
//	         written (rewritten without the bit once it is); other bits
//	         0 (a reader refuses unknown bits: incompatible)
//	  12  8  segment number, uint64: the file name's
//	  20  8  prev ts, uint64: the ts of the last record written to the
//	         log before this segment (0 when none); every record of the
//	         segment has a larger ts
//	  28  4  CRC-32C of bytes 0..28
//
//	record, at offset 32 onwards, 28 + n bytes
//	  0   4  CRC-32C of: segment number (uint64) || the record's offset
//	         in the segment (uint64) || bytes 4..28+n of the record
//	  4   4  body length n, uint32, 0..MaxRecordBody (1 GiB)
//	  8   1  codec ID the payload was compressed with (0 = stored as is)
//	  9   1  flags: bit 0 = body sealed (must equal the segment's bit 0);
//	         bit 1 = clean-close marker; other bits 0
//	  10  2  reserved, 0
//	  12  8  ts, uint64: a data record's commit ts, above every earlier
//	         ts in the log; a marker's: the log's last ts
//	  20  8  synced offset, uint64: the offset up to which the segment was
//	         durable (fsynced) when the record was written;
//	         32 <= synced <= the record's offset (a marker: equal to it)
//	  28  n  body: the payload, compressed with the codec (unless 0), then
//	         sealed (when bit 0) with additional data
//	           "LTNGWAL\x00" || segment number (uint64) ||
//	           record offset (uint64) || bytes 4..28 of the record header
//
//	A clean-close marker has an empty payload and codec 0: n = 0, or the
//	cipher's overhead when sealed. It is the last record of its segment.
//
// A payload is compressed when it is at least Options.CompressThreshold
// bytes and the compressed form is smaller; otherwise it is stored with
// codec 0. A segment grows past Options.SegmentSize only by a group
// written to it while it held no record.
//
// The active segment's file may run on past its last record in zeros:
// those Options.Preallocate writes, or the unwritten (sparse) end of a
// segment sized up front for Options.MapWrites. Zeros never check out as
// a record, so after a crash they read as a torn tail and are cut. A
// segment is truncated to its last record, durably, before the next one
// is created and before its clean-close marker is written.
//
// # Reading
//
// Replay reads each segment's records in order. A record "checks out"
// when its header and body lie within the file, its length is at most
// MaxRecordBody, and its checksum matches; a record that checks out but
// breaks the format (reserved bits, flags, a synced offset out of range,
// a ts that does not increase, a marker that is not last) is corruption
// wherever it is. At the first record that does not check out, at offset
// X, the reader scans the rest of the segment, byte by byte, for records
// that do (considering only candidates whose cheap fields are plausible).
// In the last segment, with no such record claiming a synced offset
// above X and no marker before X, the damage is a torn tail: the segment
// is truncated to X. A segment header that does not check out is the
// same case at X = 0 (a crash right after creating the segment): the
// last segment is then removed, unless a record in it checks out; any
// other segment's is corruption. The scan's work is bounded (linear in
// the segment): should bytes crafted to look like records (a payload full
// of fake headers) exhaust it, the damage is reported as corruption rather
// than cut on a guess. Damage that Replay cuts or reports is
// always a *interfaces.CorruptionError naming the segment file and the
// offset (0 for a header). A sealed body that fails to open, or a
// compressed one that fails to decompress, is corruption wrapping the
// cause (interfaces.ErrDecrypt, the codec's error).
package wal
