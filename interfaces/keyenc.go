package interfaces

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The version-key encoding turns a (user key, ts) pair into one byte string
// whose bytewise order is the Storage order: user key ascending, then ts
// descending. It lets any ordered byte store hold versions (see the ordered
// package) with no custom comparator.
//
//	escaped user key   each 0x00 byte becomes 0x00 0xFF
//	0x00 0x01          terminator: sorts below any escaped continuation
//	^ts                8 bytes big-endian of MaxTs-ts, so newer sorts first
//
// A user key that is a proper prefix of another sorts first because the
// terminator 0x00 0x01 is below both 0x00 0xFF and any byte >= 0x01. Every
// encoding of a user key starting with p starts with the escaped p, so
// prefix scans carry over (VersionKeyPrefix).

const versionKeyTrailer = 2 + 8

// AppendVersionKey appends the encoding of (key, ts) to dst.
func AppendVersionKey(dst, key []byte, ts uint64) []byte {
	dst = appendEscaped(dst, key)
	dst = append(dst, 0x00, 0x01)
	return binary.BigEndian.AppendUint64(dst, ^ts)
}

// AppendVersionKeyPrefix appends the escaped form of a user-key prefix: every
// version key of every user key that starts with prefix starts with it.
func AppendVersionKeyPrefix(dst, prefix []byte) []byte {
	return appendEscaped(dst, prefix)
}

// AppendUserKeyStart appends the smallest encoding of any version of key:
// versions of key sort at or after it, and versions of smaller user keys
// before it. Use it as an inclusive lower or an exclusive upper bound.
func AppendUserKeyStart(dst, key []byte) []byte {
	dst = appendEscaped(dst, key)
	return append(dst, 0x00, 0x01)
}

// AppendUserKeyEnd appends the first encoding after every version of key:
// versions of key sort before it, and versions of larger user keys at or
// after it.
func AppendUserKeyEnd(dst, key []byte) []byte {
	dst = appendEscaped(dst, key)
	return append(dst, 0x00, 0x02)
}

// DecodeVersionKey splits an encoded version key, appending the user key to
// dst. Malformed input returns an error matching ErrCorrupt.
func DecodeVersionKey(dst, enc []byte) (key []byte, ts uint64, err error) {
	if len(enc) < versionKeyTrailer {
		return dst, 0, fmt.Errorf("version key of %d bytes: %w", len(enc), ErrCorrupt)
	}
	body, trailer := enc[:len(enc)-8], enc[len(enc)-8:]
	if body[len(body)-2] != 0x00 || body[len(body)-1] != 0x01 {
		return dst, 0, fmt.Errorf("version key without terminator: %w", ErrCorrupt)
	}
	body = body[:len(body)-2]
	out := dst
	for len(body) > 0 {
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			out = append(out, body...)
			break
		}
		if i+1 >= len(body) || body[i+1] != 0xFF {
			return dst, 0, fmt.Errorf("version key: bad escape at byte %d: %w", len(enc)-versionKeyTrailer-len(body)+i, ErrCorrupt)
		}
		out = append(out, body[:i+1]...)
		body = body[i+2:]
	}
	return out, ^binary.BigEndian.Uint64(trailer), nil
}

func appendEscaped(dst, key []byte) []byte {
	for len(key) > 0 {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return append(dst, key...)
		}
		dst = append(dst, key[:i]...)
		dst = append(dst, 0x00, 0xFF)
		key = key[i+1:]
	}
	return dst
}
