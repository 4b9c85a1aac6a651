package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/lightningdb/lightning/interfaces"
)

// An entry block carries versions as one byte string (see storage.proto):
//
//	+------+----------+-------------+-----+---------------+-------+
//	| kind | ts       | key_len     | key | value_len     | value |  ... repeated
//	| u8   | uvarint  | uvarint     |     | uvarint       |       |
//	+------+----------+-------------+-----+---------------+-------+
//
// The kind byte is carried as it is, valid or not: refusing a bad kind, a
// ts of 0 or an oversized key is the part's job (ErrInvalidArgument), and
// the conformance suite checks that it does. The block only has to frame.

// EntrySize returns the bytes AppendEntry adds for e.
func EntrySize(e *interfaces.Entry) int {
	n := 1 + uvarintLen(e.Ts) + uvarintLen(uint64(len(e.Key))) + len(e.Key)
	if e.Kind != interfaces.KindDelete {
		n += uvarintLen(uint64(len(e.Value))) + len(e.Value)
	} else {
		n++
	}
	return n
}

// AppendEntry appends the encoding of e to dst. A tombstone's value is
// not sent.
func AppendEntry(dst []byte, e *interfaces.Entry) []byte {
	return AppendVersion(dst, e.Kind, e.Ts, e.Key, e.Value)
}

// AppendVersion appends one entry from its parts.
func AppendVersion(dst []byte, kind interfaces.EntryKind, ts uint64, key, value []byte) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, ts)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if kind == interfaces.KindDelete {
		value = nil
	}
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// DecodeEntries appends the count entries of block to dst and returns the
// extended slice. Keys and values alias block (a non-empty value never
// has spare capacity, so appending to it copies); empty keys and values
// are non-nil empty slices, and a tombstone's value is nil. A block that
// does not hold exactly count entries is an error matching
// interfaces.ErrCorrupt.
func DecodeEntries(dst []interfaces.Entry, block []byte, count uint32) ([]interfaces.Entry, error) {
	// Each entry takes at least 4 bytes, so a count the block cannot hold
	// is refused before anything is allocated for it.
	if uint64(count) > uint64(len(block))/4 {
		return dst, fmt.Errorf("lightning/host: entry block of %d bytes cannot hold %d entries: %w",
			len(block), count, interfaces.ErrCorrupt)
	}
	dst = growEntries(dst, int(count))
	off := 0
	for i := uint32(0); i < count; i++ {
		e, n, err := decodeEntry(block[off:])
		if err != nil {
			return dst, fmt.Errorf("lightning/host: entry %d of %d at offset %d: %w", i, count, off, err)
		}
		dst = append(dst, e)
		off += n
	}
	if off != len(block) {
		return dst, fmt.Errorf("lightning/host: %d bytes after the last of %d entries: %w",
			len(block)-off, count, interfaces.ErrCorrupt)
	}
	return dst, nil
}

// DecodeEntry decodes the first entry of block and returns it with its
// encoded length. Key and value alias block.
func DecodeEntry(block []byte) (interfaces.Entry, int, error) {
	return decodeEntry(block)
}

func decodeEntry(b []byte) (interfaces.Entry, int, error) {
	var e interfaces.Entry
	if len(b) < 1 {
		return e, 0, fmt.Errorf("missing kind: %w", interfaces.ErrCorrupt)
	}
	e.Kind = interfaces.EntryKind(b[0])
	off := 1
	ts, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return e, 0, fmt.Errorf("bad ts varint: %w", interfaces.ErrCorrupt)
	}
	e.Ts = ts
	off += n
	key, n, err := decodeBytes(b[off:], "key")
	if err != nil {
		return e, 0, err
	}
	e.Key = key
	off += n
	value, n, err := decodeBytes(b[off:], "value")
	if err != nil {
		return e, 0, err
	}
	off += n
	if e.Kind != interfaces.KindDelete {
		e.Value = value
	} else if len(value) != 0 {
		return e, 0, fmt.Errorf("tombstone with a %d-byte value: %w", len(value), interfaces.ErrCorrupt)
	}
	return e, off, nil
}

// decodeBytes decodes a uvarint length and that many bytes, capped to
// their length so that appending never writes into the rest of the block.
func decodeBytes(b []byte, what string) ([]byte, int, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, 0, fmt.Errorf("bad %s length varint: %w", what, interfaces.ErrCorrupt)
	}
	if l > uint64(len(b)-n) {
		return nil, 0, fmt.Errorf("%s length %d exceeds the %d bytes left: %w", what, l, len(b)-n, interfaces.ErrCorrupt)
	}
	end := n + int(l)
	return b[n:end:end], end, nil
}

func growEntries(dst []interfaces.Entry, n int) []interfaces.Entry {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	out := make([]interfaces.Entry, len(dst), len(dst)+n)
	copy(out, dst)
	return out
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// CheckCount converts a slice length to the uint32 count field, refusing
// lengths it cannot carry.
func CheckCount(n int) (uint32, error) {
	if n < 0 || n > math.MaxUint32 {
		return 0, fmt.Errorf("lightning/host: %d entries in one call: %w", n, interfaces.ErrInvalidArgument)
	}
	return uint32(n), nil
}
