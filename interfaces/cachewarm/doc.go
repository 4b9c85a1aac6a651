// Package cachewarm saves the keys of an engine's hottest cached blocks at
// Close and loads them after a restart, so that the engine can warm a
// cold cache by reading those blocks again instead of waiting for traffic
// to do it. It owns the hot-key file and its format; any interfaces.Cache
// that claims interfaces.CapHotKeys can be saved.
//
// # Use from an engine
//
// An engine draws a new cache namespace at each open, and may share its
// cache with other databases, so it saves its own namespace only:
//
//	// At Close, before closing the files the keys name:
//	err := cachewarm.Save(fs, filepath.Join(dir, "HOTKEYS"), cache, ns, limit)
//	// ErrUnsupported (a cache without CapHotKeys) or ErrClosed (a cache
//	// closed first) only cost a warm start: log them, do not fail Close.
//
//	// After reopening, with the new namespace newNS:
//	keys, err := cachewarm.Load(fs, filepath.Join(dir, "HOTKEYS"))
//	// fs.ErrNotExist: nothing to warm. Corruption or ErrIncompatible:
//	// remove the file and start cold. Otherwise, keep the keys whose file
//	// still exists, set each key's Namespace to newNS, read the blocks
//	// (no more than fit in the cache, from the front of the list), and Set
//	// them coldest first, so that the hottest end up most recently used.
//
// The keys name blocks of the life that saved them: a file may have been
// compacted away since (by a crash after Save, or by a Save that failed
// and left an older file), so an engine skips keys whose file it no longer
// has, and a read error while warming is never fatal.
//
// fs is any file system whose methods match FS: vfs.FS does, as do the
// vfs implementations, so an engine passes its vfs.FS as it is. FS is
// generic in its file type because this package, like everything under
// interfaces, imports nothing of Lightning's but interfaces.
//
// # Hot-key file format
//
// Written by Write and Save atomically: a temporary file name+".tmp",
// synced, renamed over name, the directory synced. All integers are
// little-endian; CRC-32C is the Castagnoli CRC.
//
//	offset  size  field
//	0       8     magic "LTNGHOTK"
//	8       2     format version, uint16 = 1
//	10      2     reserved, uint16 = 0
//	12      4     key count n, uint32, at most MaxKeys (4,194,304)
//	16      24n   the keys, hottest first, each:
//	                0   8  Namespace, uint64
//	                8   8  File, uint64
//	                16  8  Offset, uint64
//	16+24n  4     CRC-32C of bytes 0 .. 16+24n
//
// The file is exactly 20+24n bytes. A reader checks the length, the magic
// and the checksum before anything else, then the version, the reserved
// field and that n matches the length; any damage is a
// *interfaces.CorruptionError naming the file and the offset of the field
// that failed (0 for the length or magic, 16+24n for the checksum). A file
// whose checksum holds but whose version is not 1 was written by another
// version of this package, and is an error matching
// interfaces.ErrIncompatible. A file written by Save holds the keys of one
// namespace; the format does not require it.
//
// # Concurrency
//
// The functions keep no state. Two Saves to one name at once leave one of
// the two files whole; an engine saves once, at Close.
package cachewarm
