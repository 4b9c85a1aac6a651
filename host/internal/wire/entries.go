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
	var r ChunkReader
	r.Reset(block, count)
	var e interfaces.Entry
	for {
		ok, err := r.Next(&e)
		if err != nil {
			return dst, err
		}
		if !ok {
			return dst, nil
		}
		dst = append(dst, e)
	}
}

// ChunkReader decodes the entries of a block one at a time, in place: the
// iterator over a chunk reads each version as it moves, and never builds
// a slice of them. Keys and values alias the block, as in DecodeEntries.
type ChunkReader struct {
	block []byte
	off   int
	count uint32
	read  uint32
}

// Reset starts reading the count entries of block.
func (r *ChunkReader) Reset(block []byte, count uint32) {
	*r = ChunkReader{block: block, count: count}
}

// Next decodes the next entry into e and reports whether there was one.
// At the end it checks that the block held exactly count entries: a block
// that is short, malformed or has bytes left over is an error matching
// interfaces.ErrCorrupt, reported at the entry where it shows.
func (r *ChunkReader) Next(e *interfaces.Entry) (bool, error) {
	if r.read == r.count {
		if r.off != len(r.block) {
			return false, fmt.Errorf("lightning/host: %d bytes after the last of %d entries: %w",
				len(r.block)-r.off, r.count, interfaces.ErrCorrupt)
		}
		return false, nil
	}
	if n := decodeShort(r.block[r.off:], e); n > 0 {
		r.off += n
		r.read++
		return true, nil
	}
	n, err := decodeEntryInto(r.block[r.off:], e)
	if err != nil {
		return false, fmt.Errorf("lightning/host: entry %d of %d at offset %d: %w", r.read, r.count, r.off, err)
	}
	r.off += n
	r.read++
	return true, nil
}

// DecodeEntry decodes the first entry of block and returns it with its
// encoded length. Key and value alias block.
func DecodeEntry(block []byte) (interfaces.Entry, int, error) {
	var e interfaces.Entry
	n, err := decodeEntryInto(block, &e)
	return e, n, err
}

// decodeEntryInto decodes the first entry of b into e and returns its
// length. It is the hot loop of a remote scan, so the one-byte varints
// that most lengths are take a short path.
func decodeEntryInto(b []byte, e *interfaces.Entry) (int, error) {
	if len(b) < 1 {
		return 0, fmt.Errorf("missing kind: %w", interfaces.ErrCorrupt)
	}
	kind := interfaces.EntryKind(b[0])
	off := 1
	ts, n := uvarint(b[off:])
	if n <= 0 {
		return 0, fmt.Errorf("bad ts varint: %w", interfaces.ErrCorrupt)
	}
	off += n
	key, n, err := decodeBytes(b[off:], "key")
	if err != nil {
		return 0, err
	}
	off += n
	value, n, err := decodeBytes(b[off:], "value")
	if err != nil {
		return 0, err
	}
	off += n
	if kind == interfaces.KindDelete {
		if len(value) != 0 {
			return 0, fmt.Errorf("tombstone with a %d-byte value: %w", len(value), interfaces.ErrCorrupt)
		}
		value = nil
	}
	*e = interfaces.Entry{Key: key, Ts: ts, Kind: kind, Value: value}
	return off, nil
}

// decodeShort decodes the first entry of b into e, as decodeEntryInto
// does, when its varints are short: a ts below 2^21 and key and value
// lengths below 2^14, which is nearly every entry. It returns the entry's
// length, or 0 when the entry is not short or not well formed; then
// decodeEntryInto decodes it, or says what is wrong. It is the hot loop
// of a remote scan, written so that the compiler can drop most bounds
// checks.
func decodeShort(b []byte, e *interfaces.Entry) int {
	if len(b) < 4 {
		return 0
	}
	var ts uint64
	i := 0
	switch {
	case b[1] < 0x80:
		ts, i = uint64(b[1]), 2
	case b[2] < 0x80:
		ts, i = uint64(b[1]&0x7f)|uint64(b[2])<<7, 3
	case b[3] < 0x80:
		ts, i = uint64(b[1]&0x7f)|uint64(b[2]&0x7f)<<7|uint64(b[3])<<14, 4
	default:
		return 0
	}
	kl, n := shortLen(b, i)
	if n == 0 {
		return 0
	}
	i += n
	kend := i + kl
	if kend >= len(b) {
		return 0
	}
	vl, n := shortLen(b, kend)
	if n == 0 {
		return 0
	}
	vstart := kend + n
	vend := vstart + vl
	if vend > len(b) {
		return 0
	}
	kind := interfaces.EntryKind(b[0])
	value := b[vstart:vend:vend]
	if kind == interfaces.KindDelete {
		if vl != 0 {
			return 0
		}
		value = nil
	}
	*e = interfaces.Entry{Key: b[i:kend:kend], Ts: ts, Kind: kind, Value: value}
	return vend
}

// shortLen decodes a uvarint of one or two bytes at b[i:], returning 0
// bytes read for anything else.
func shortLen(b []byte, i int) (int, int) {
	if i >= len(b) {
		return 0, 0
	}
	if c := b[i]; c < 0x80 {
		return int(c), 1
	}
	if i+1 >= len(b) || b[i+1] >= 0x80 {
		return 0, 0
	}
	return int(b[i]&0x7f) | int(b[i+1])<<7, 2
}

// uvarint is binary.Uvarint with a short path for one byte.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// decodeBytes decodes a uvarint length and that many bytes, capped to
// their length so that appending never writes into the rest of the block.
func decodeBytes(b []byte, what string) ([]byte, int, error) {
	l, n := uvarint(b)
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
