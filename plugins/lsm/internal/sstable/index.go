package sstable

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// The index block has one entry per data block, in order: the key is a
// separator, an internal key >= every key of the block and < every key of
// the next; the value is the block's handle, uvarint offset then uvarint
// payload length. Open decodes it once into an index, so a lookup is a
// binary search over a flat array rather than over block entries.

// separatorTrailer is the trailer of a shortened separator: the largest
// trailer, so (s, separatorTrailer) sorts before every real entry of s.
// Any trailer would do, since s lies strictly between the two blocks' user
// keys.
const separatorTrailer = base.Trailer(math.MaxUint64)

// shortestSeparator returns a user key s with a <= s < b, shorter than a
// when it can, as LevelDB's FindShortestSeparator does: at the first byte
// where a and b differ, a's byte is incremented and the rest dropped, when
// that keeps s below b. It returns a itself otherwise. a < b.
func shortestSeparator(dst, a, b []byte) []byte {
	n := sharedPrefix(a, b)
	if n >= len(a) || n >= len(b) {
		// One is a prefix of the other (a, being smaller, of b).
		return append(dst, a...)
	}
	if c := a[n]; c < 0xff && c+1 < b[n] && n+1 < len(a) {
		dst = append(dst, a[:n+1]...)
		dst[len(dst)-1]++
		return dst
	}
	return append(dst, a...)
}

// appendSeparator appends the encoded separator between the encoded
// internal keys last (of a block) and next (of the following block, nil for
// the last block). The result s satisfies last <= s < next.
//
// The last block's separator is its last key, the table's largest, not a
// shortened successor as in LevelDB: a lookup above the largest key then
// ends in the index without reading a block, and every separator shares
// the prefix the table's first and last keys share, which the index search
// relies on to be fast.
func appendSeparator(dst, last, next []byte) []byte {
	lk, _ := base.DecodeInternalKey(last)
	nk, _ := base.DecodeInternalKey(next)
	if next == nil || bytes.Equal(lk.UserKey, nk.UserKey) {
		// The last block, or versions of one key spanning the two blocks:
		// only the last key itself separates them.
		return append(dst, last...)
	}
	start := len(dst)
	dst = shortestSeparator(dst, lk.UserKey, nk.UserKey)
	if len(dst)-start == len(lk.UserKey) {
		// Not shortened (a shortened key is strictly shorter): keep the
		// exact last key.
		return append(dst[:start], last...)
	}
	return binary.LittleEndian.AppendUint64(dst, uint64(separatorTrailer))
}

// indexEntry is a decoded index entry.
type indexEntry struct {
	trailer base.Trailer
	// keyOff and keyLen locate the separator's user key in index.keys.
	keyOff, keyLen uint32
	// offset and length are the data block's handle.
	offset uint64
	length uint64
}

// index is a table's decoded index block, pinned in the Reader.
//
// A lookup is a binary search, and with tables far larger than the CPU
// caches each step that touches a new cache line costs a memory access.
// So the search runs over prefixes, a dense array (eight to a cache line)
// of 8 bytes of each separator's user key, and reads an entry and its key
// bytes only when two prefixes tie. The 8 bytes are taken after the prefix
// that every separator shares (common): keys of one table often share
// their first bytes ("user/000…"), which would make every prefix tie.
type index struct {
	// common is the longest prefix shared by every separator's user key.
	common []byte
	// prefixes[i] holds the 8 bytes of separator i's user key after
	// common, big-endian, zero-padded (see base.KeyPrefix).
	prefixes []uint64
	entries  []indexEntry
	keys     []byte
}

func (x *index) userKey(i int) []byte {
	e := &x.entries[i]
	return x.keys[e.keyOff : e.keyOff+e.keyLen : e.keyOff+e.keyLen]
}

// separator returns entry i's separator.
func (x *index) separator(i int) base.InternalKey {
	return base.InternalKey{UserKey: x.userKey(i), Trailer: x.entries[i].trailer}
}

// handle returns entry i's block handle.
func (x *index) handle(i int) handle {
	e := &x.entries[i]
	return handle{offset: e.offset, length: e.length}
}

// seek returns the first block whose separator is >= (ukey, trailer): the
// only block that can hold the first entry >= that key. It returns
// len(entries) when the key is above every separator.
func (x *index) seek(ukey []byte, trailer base.Trailer) int {
	n := len(x.common)
	if len(ukey) < n || string(ukey[:n]) != string(x.common) {
		// Every separator starts with common: ukey sorts before all of
		// them or after all of them.
		if bytes.Compare(ukey, x.common) < 0 {
			return 0
		}
		return len(x.entries)
	}
	p := base.KeyPrefix(ukey[n:])
	lo, hi := 0, len(x.prefixes)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		var less bool
		switch q := x.prefixes[h]; {
		case q < p:
			less = true
		case q == p:
			e := &x.entries[h]
			c := bytes.Compare(x.keys[e.keyOff:e.keyOff+e.keyLen], ukey)
			less = c < 0 || (c == 0 && e.trailer > trailer)
		}
		if less {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

// decodeIndex decodes an index block holding entries for the data blocks
// that tile [0, dataEnd), returning a reason when it is malformed: a bad
// entry or handle, separators out of order, or handles that do not tile the
// data region exactly.
func decodeIndex(raw []byte, dataEnd uint64) (index, string) {
	b, reason := validateBlock(raw)
	if reason != "" {
		return index{}, reason
	}
	var (
		x    index
		it   blockIter
		prev []byte
		next uint64
	)
	it.init(b, "", 0)
	for ok := it.First(); ok; ok = it.Next() {
		if prev != nil && base.CompareEncoded(prev, it.key) >= 0 {
			return index{}, "index separators out of order"
		}
		prev = append(prev[:0], it.key...)
		off, n := binary.Uvarint(it.val)
		if n <= 0 {
			return index{}, "malformed block handle"
		}
		length, m := binary.Uvarint(it.val[n:])
		if m <= 0 || n+m != len(it.val) {
			return index{}, "malformed block handle"
		}
		if off != next || length == 0 || off > dataEnd || length > dataEnd-off ||
			dataEnd-off-length < blockTrailerLen {
			return index{}, "block handles do not tile the data region"
		}
		next = off + length + blockTrailerLen
		uk := it.ikey.UserKey
		if uint64(len(x.keys))+uint64(len(uk)) > math.MaxUint32 {
			return index{}, "index keys too large"
		}
		x.entries = append(x.entries, indexEntry{
			trailer: it.ikey.Trailer,
			keyOff:  uint32(len(x.keys)),
			keyLen:  uint32(len(uk)),
			offset:  off,
			length:  length,
		})
		x.keys = append(x.keys, uk...)
	}
	if it.err != nil {
		return index{}, reasonOf(it.err)
	}
	if len(x.entries) == 0 || next != dataEnd {
		return index{}, "block handles do not tile the data region"
	}
	x.entries = x.entries[:len(x.entries):len(x.entries)]
	// Sorted keys share what the first and last share; the first key
	// starts at offset 0 of keys.
	n := sharedPrefix(x.userKey(0), x.userKey(len(x.entries)-1))
	x.common = x.keys[:n:n]
	x.prefixes = make([]uint64, len(x.entries))
	for i := range x.entries {
		x.prefixes[i] = base.KeyPrefix(x.userKey(i)[len(x.common):])
	}
	return x, ""
}

// reasonOf returns the reason of a corruption error from a blockIter.
func reasonOf(err error) string {
	if ce, ok := err.(*interfaces.CorruptionError); ok {
		return ce.Reason
	}
	return err.Error()
}
