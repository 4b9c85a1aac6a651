// Package sstable is the LSM engine's table format: immutable sorted files
// of internal entries (a user key, a ts, a kind and a value), written once
// by a Writer and read by a Reader through point lookups (Get) and
// iterators (Iter, a base.InternalIterator).
//
// # Reading
//
// Open reads the footer, then the properties, index and filter blocks,
// checks them, and keeps them decoded for the Reader's life: the index as
// flat arrays (see index), the filter as its bit array. The engine must
// give each table a file number unique within its cache namespace. Data blocks are
// read on demand and, when ReaderOptions.Cache is set, kept decoded
// (opened and decompressed) in the cache under {CacheNamespace, FileNum,
// block offset}, charged their length. Cached blocks are shared and never
// modified. A block read for an iterator with IterOptions.NoCacheFill, or
// with no cache, goes to the iterator's own buffers; Get without a cache
// uses pooled ones.
//
// Get is the hot path: filter probe (one cache line), binary search of the
// index, cache lookup, binary search of the block's restart points, and a
// scan of at most one restart interval. On a cache hit it allocates
// nothing beyond appending the value to the caller's buffer (keys up to
// 256 bytes are rebuilt on the stack). Get never reads a second block: a
// separator is >= every key of its block and < every key of the next, and
// a shortened separator's user key lies strictly between the two blocks'
// user keys, so when the first entry >= the target is not in the chosen
// block, it has another user key.
//
// # Integrity
//
// Every block carries a CRC-32C, checked on every read from the file; a
// sealed block is also authenticated. Data blocks' restart arrays are
// checked when read; entries are bounds-checked as they are decoded.
// Damage is a *interfaces.CorruptionError naming ReaderOptions.FileName
// and the offset of the block (or footer), never a panic and never a wrong
// answer for damage the checksums can see. Verify checks the rest: key
// order, separators, restart placement, the filter and the properties
// against the entries. The blocks tile the file (Open checks it), so every
// byte is covered by some check. A table that needs a codec or cipher the
// Reader lacks, or was written by another format version, is an error
// matching interfaces.ErrIncompatible.
//
// # Concurrency and lifetimes
//
// A Writer is used by one goroutine and does not own its file. A Reader
// owns its file after Open succeeds; Get, the filter probes, NewIter and
// Verify may run concurrently; Close may not run with them. An Iter is
// used by one goroutine; Key and Value are valid until its next
// positioning call.
//
// # Format
//
// All integers are little-endian unless said otherwise; uvarint is
// encoding/binary's unsigned varint; CRC-32C is the Castagnoli CRC. A
// table (format version 1) is a sequence of physical blocks and a footer:
//
//	+--------------+-----+----------------+--------------+-------------+------------------+--------+
//	| data block 0 | ... | data block n-1 | filter block | index block | properties block | footer |
//	+--------------+-----+----------------+--------------+-------------+------------------+--------+
//	^ 0                                     (optional)                    file size - 68 ^  68 bytes
//
// The blocks tile the file in that order, with no gap and no overlap; a
// table holds at least one entry, hence at least one data block.
//
// A physical block at offset off, whose payload is n bytes long (its
// handle is {off, n}):
//
//	0    n  payload: the raw block, compressed with the table's codec, then
//	        sealed with the Cipher when the table is sealed (footer flag
//	        bit 0). A block that does not shrink by at least 1/8 under the
//	        codec is stored uncompressed with codec ID 0; filter blocks are
//	        never compressed.
//	n    1  codec ID of the payload: 0 none, or the interfaces.CodecID that
//	        compressed it; a reader decodes any codec it is given
//	n+1  4  CRC-32C of bytes 0..n+1 (the payload and the codec ID)
//
// A sealed payload is Cipher.Seal(compressed block, ad) with additional
// data, 18 bytes:
//
//	0   8  the table's file number (WriterOptions.FileNum)
//	8   8  the block's offset off
//	16  1  the codec ID (so a forged ID with a recomputed CRC fails)
//	17  1  the block type: 1 data, 2 index, 3 filter, 4 properties
//
// so a block moved within the table, copied from another table, or
// presented as another type of block fails authentication.
//
// Data and index blocks (raw, before compression) are entries followed by
// a restart array:
//
//	+---------+-----+-----------+------------+-----+--------------+-------+
//	| entry 0 | ... | entry k-1 | restart 0  | ... | restart r-1  | r     |
//	+---------+-----+-----------+------------+-----+--------------+-------+
//	                             uint32 offsets of restart entries   uint32, >= 1
//
//	entry:  shared uvarint | unshared uvarint | value length uvarint |
//	        key suffix (unshared bytes) | value (value length bytes)
//
// An entry's key is the first shared bytes of the previous entry's key
// followed by the suffix. Every RestartInterval-th entry, from the first,
// is a restart point: it has shared = 0 and its offset is in the restart
// array, so restart keys are read in place by a binary search. Restart
// offsets strictly increase, the first is 0, and entries end exactly where
// the restart array begins.
//
// Keys are encoded internal keys: the user key, then an 8-byte trailer,
// uint64 ts<<8 | kind (kind 1 set, 2 tombstone). Internal keys order by
// user key ascending (bytewise), then trailer descending, so the newest
// version of a user key comes first; keys strictly increase through the
// table. A tombstone's value is empty; user keys are at most
// interfaces.MaxKeySize bytes and values at most interfaces.MaxValueSize.
//
// Data blocks use WriterOptions.RestartInterval (default 8); a writer
// closes a block before an entry would take its raw size past BlockSize,
// but a block always takes one entry. The index block, restart interval
// 16, has one entry per data block, in order: the key is a separator s,
// last key of the block <= s < first key of the next block, and the value
// the block's handle, uvarint offset then uvarint payload length, with the
// data blocks tiling [0, start of the filter or index block). A separator
// is the block's last key, except that when the next block starts with
// another user key and LevelDB's FindShortestSeparator yields a shorter
// user key u (the first differing byte incremented, the rest dropped, when
// that stays below the next user key), it is u with the trailer
// 0xFFFFFFFFFFFFFFFF. The last block's separator is its last key, the
// table's largest.
//
// The filter block (raw) is a blocked Bloom filter over the distinct user
// keys, so a lookup at any ts can use it:
//
//	0          64*L  bits: L lines of 64 bytes; bit j of a line is bit j%8
//	                 of its byte j/8
//	64*L       1     probe count P, 1..30 (bits per key * 0.69, rounded
//	                 down)
//	64*L+1     1     hash and probe scheme, 1 = the one below
//	64*L+2     4     line count L, uint32, >= 1: ceil(keys*bits/512)
//
// For a user key, h = XXH64(key, seed 0) (the xxHash specification); its
// line is (h>>32)*L>>32; with a_0 = uint32(h) and a_j = a_(j-1)*0x9E3779B9
// mod 2^32, probe j for j < P tests bit a_j>>23 of that line. The key may
// be in the table only if every probed bit is set.
//
// The properties block (raw) is a versioned record:
//
//	uvarint  version, 1 (a later version only appends fields; a reader
//	         takes those it knows and ignores the rest)
//	uvarint  min ts, max ts
//	uvarint  entries, tombstones, distinct user keys
//	uvarint  raw user-key bytes, raw value bytes (before compression)
//	uvarint  data block count
//	uvarint  index block and filter block payload lengths (filter 0 when
//	         there is none)
//	1 byte   codec ID the writer compressed with (0 none)
//	uvarint  data-block restart interval, 1..1024
//	uvarint  file number the table was written for
//	varint   creation time, Unix nanoseconds
//	uvarint  length, then the smallest internal key (encoded)
//	uvarint  length, then the largest internal key (encoded)
//
// The footer, the last 68 bytes, is not sealed and holds no user data:
//
//	0   8  index block offset
//	8   8  index block payload length
//	16  8  filter block offset   } both 0: no filter
//	24  8  filter block length   }
//	32  8  properties block offset
//	40  8  properties block payload length
//	48  4  format version, uint32 = 1
//	52  4  flags, uint32: bit 0 = payloads sealed by a Cipher; other bits 0
//	       (a reader refuses unknown bits as incompatible)
//	56  8  magic "LTNGSST\x01"
//	64  4  CRC-32C of bytes 0..64
//
// A sealed table opens only with a Cipher and a plain one only without
// (so a plaintext file cannot stand in for an encrypted one), both as
// interfaces.ErrIncompatible otherwise.
//
// # Block size and restart interval
//
// Measured with bench_test.go on a 1M-entry table (16-byte keys, 100-byte
// values, 110 MiB), every block cached, in CPU time per operation on a
// shared 2-core VM whose dependent memory accesses cost 200-350 ns each
// (so these figures are mostly cache misses; expect about half on an
// ordinary server):
//
//	                      4 KiB blocks   16 KiB blocks
//	Get, cached             1.79 µs        1.93 µs
//	Get, read from file     2.26 µs        3.63 µs
//	SeekGE                  1.53 µs        1.73 µs
//	Next (forward scan)     31 ns          26 ns
//	Prev (reverse scan)     42 ns          55 ns
//
// 4 KiB is the default: it serves point reads and reverse scans better,
// costs a quarter of the bytes to read, checksum and decompress on a cache
// miss, and wastes a quarter of the cache per hot key; only long forward
// scans prefer 16 KiB. With restart points every 8 entries instead of 16,
// a cached Get took 14% (4 KiB) to 20% (16 KiB) less time for 1% more
// bytes, so DefaultRestartInterval is 8.
package sstable
