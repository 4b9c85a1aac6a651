// Package base holds what every layer of the LSM engine shares: the
// internal key (a user key and an 8-byte trailer carrying ts and kind), its
// comparison, and the internal iterator contract that memtables, tables,
// levels and the merging iterator implement.
package base

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// Kind is the kind of an internal entry; the values are those of
// interfaces.EntryKind, so they cross the contract unchanged.
type Kind = interfaces.EntryKind

// Entry kinds.
const (
	KindSet    = interfaces.KindSet
	KindDelete = interfaces.KindDelete
	// KindMax is the largest kind: a search key built with it sorts before
	// every entry of the same user key and ts.
	KindMax Kind = 0xFF
)

// TrailerLen is the length of the trailer that ends every encoded internal
// key.
const TrailerLen = 8

// MaxTs is the largest ts the engine stores: the trailer keeps ts in its top
// 56 bits. The core assigns ts one by one from 1, so at a million commits a
// second it takes over two thousand years to get there; Apply refuses a
// larger ts rather than wrap.
const MaxTs uint64 = 1<<56 - 1

// Trailer packs a ts and a kind: ts in the top 56 bits, kind in the low 8.
// Newer versions have larger trailers, and internal keys order trailers
// descending, so the newest version of a user key comes first.
type Trailer uint64

// MakeTrailer returns the trailer of (ts, kind). ts is clamped to MaxTs, so
// a read at interfaces.MaxTs seeks correctly.
func MakeTrailer(ts uint64, kind Kind) Trailer {
	if ts > MaxTs {
		ts = MaxTs
	}
	return Trailer(ts<<8 | uint64(kind))
}

// Ts returns the trailer's ts.
func (t Trailer) Ts() uint64 { return uint64(t) >> 8 }

// Kind returns the trailer's kind.
func (t Trailer) Kind() Kind { return Kind(t & 0xFF) }

// SeekTrailer is the trailer of a search key that finds the newest version
// of a user key with ts <= readTs: it sorts before every entry of that user
// key with ts <= readTs and after every entry with a larger ts.
func SeekTrailer(readTs uint64) Trailer { return MakeTrailer(readTs, KindMax) }

// InternalKey is a decoded internal key. UserKey aliases the buffer it was
// decoded from.
type InternalKey struct {
	UserKey []byte
	Trailer Trailer
}

// MakeInternalKey returns the internal key of (ukey, ts, kind).
func MakeInternalKey(ukey []byte, ts uint64, kind Kind) InternalKey {
	return InternalKey{UserKey: ukey, Trailer: MakeTrailer(ts, kind)}
}

// Ts returns the key's ts.
func (k InternalKey) Ts() uint64 { return k.Trailer.Ts() }

// Kind returns the key's kind.
func (k InternalKey) Kind() Kind { return k.Trailer.Kind() }

// Size returns the length of the key's encoding.
func (k InternalKey) Size() int { return len(k.UserKey) + TrailerLen }

// Append appends the encoding of k to dst: the user key, then the trailer
// as 8 bytes little-endian.
func (k InternalKey) Append(dst []byte) []byte {
	dst = append(dst, k.UserKey...)
	return binary.LittleEndian.AppendUint64(dst, uint64(k.Trailer))
}

// Clone returns a copy of k that owns its user key.
func (k InternalKey) Clone() InternalKey {
	return InternalKey{UserKey: bytes.Clone(k.UserKey), Trailer: k.Trailer}
}

func (k InternalKey) String() string {
	return fmt.Sprintf("%q#%d,%d", k.UserKey, k.Ts(), k.Kind())
}

// DecodeInternalKey decodes an encoded internal key; UserKey aliases enc.
// ok is false when enc is shorter than a trailer.
func DecodeInternalKey(enc []byte) (k InternalKey, ok bool) {
	n := len(enc) - TrailerLen
	if n < 0 {
		return InternalKey{}, false
	}
	return InternalKey{UserKey: enc[:n:n], Trailer: Trailer(binary.LittleEndian.Uint64(enc[n:]))}, true
}

// Compare orders internal keys: user key ascending (bytewise), then trailer
// descending (newest first).
func Compare(a, b InternalKey) int {
	if c := bytes.Compare(a.UserKey, b.UserKey); c != 0 {
		return c
	}
	switch {
	case a.Trailer > b.Trailer:
		return -1
	case a.Trailer < b.Trailer:
		return 1
	}
	return 0
}

// CompareEncoded orders encoded internal keys as Compare orders decoded
// ones. Both must be at least TrailerLen long.
func CompareEncoded(a, b []byte) int {
	na, nb := len(a)-TrailerLen, len(b)-TrailerLen
	if c := bytes.Compare(a[:na], b[:nb]); c != 0 {
		return c
	}
	ta, tb := binary.LittleEndian.Uint64(a[na:]), binary.LittleEndian.Uint64(b[nb:])
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}

// InternalIterator walks internal entries in internal-key order (or its
// reverse). Memtables, table blocks, tables, levels and the merging
// iterator implement it.
//
// An iterator is used in one direction between positioning calls: after
// SeekGE or First only Next is called, after SeekLT or Last only Prev. The
// engine's iterators never turn around, because the Storage contract fixes
// an iterator's direction at creation; implementations need not support a
// turn.
//
// Key and Value are valid until the next positioning call; callers copy
// what they keep. A positioning call returns whether the iterator is valid;
// when it is not, Error says whether iteration ended or failed.
type InternalIterator interface {
	// SeekGE moves to the first entry whose key is >= key.
	SeekGE(key InternalKey) bool
	// SeekLT moves to the last entry whose key is < key.
	SeekLT(key InternalKey) bool
	// First moves to the first entry.
	First() bool
	// Last moves to the last entry.
	Last() bool
	// Next moves to the next entry.
	Next() bool
	// Prev moves to the previous entry.
	Prev() bool
	// Valid reports whether the iterator is at an entry.
	Valid() bool
	// Key returns the current entry's key.
	Key() InternalKey
	// Value returns the current entry's value.
	Value() []byte
	// Error returns the error that stopped the iterator, if any. Corruption
	// is a *interfaces.CorruptionError naming file and offset.
	Error() error
	// Close releases the iterator and returns Error.
	Close() error
}

// KeyPrefix returns the first 8 bytes of k as a big-endian integer, padded
// with zero bytes. For any keys a and b, KeyPrefix(a) < KeyPrefix(b)
// implies a < b bytewise, and likewise for >: where the padded forms first
// differ, either both keys have a real byte (which then decides), or the
// shorter key has ended and the longer continues with a non-zero byte, so
// the shorter key is a prefix of the longer and sorts first. Only equal
// prefixes need the full comparison. The memtable, the table index and
// batch sorting all compare prefixes first.
func KeyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// KeyPrefix2 returns bytes 8 to 16 of k the way KeyPrefix returns the
// first 8 (zero for keys of 8 bytes or less). Between keys with equal
// KeyPrefix it orders the same way, so the pair decides every comparison
// of keys up to 16 bytes long but a tie. Keys that share their first 8
// bytes are common: fixed-width decimal ids (db_bench's, whose first 10
// bytes are zeros for a million keys), big-endian counters, table prefixes.
func KeyPrefix2(k []byte) uint64 {
	if len(k) <= 8 {
		return 0
	}
	return KeyPrefix(k[8:])
}
