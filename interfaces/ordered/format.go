package ordered

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/lightningdb/lightning/interfaces"
)

// The adapter's layout in the Store's key space:
//
//	key                                   value
//	0x00 0x00 "meta/0-format"             "lightning/ordered v1"
//	0x00 0x00 "meta/1-durable-ts"         uint64 big-endian
//	0x00 0x00 "meta/2-discard-ts"         uint64 big-endian
//	0x00 0x00 "meta/3-applied-ts"         uint64 big-endian
//	AppendVersionKey(user key, ts)        kind (1 byte) | value
//
// where kind is interfaces.KindSet (1) followed by the value, or
// interfaces.KindDelete (2) alone.
//
// # Why metadata cannot collide with versions
//
// A version key is E(k) 0x00 0x01 T, where E escapes each 0x00 of the user
// key k as 0x00 0xFF and T is 8 bytes. Look at its first two bytes:
//
//   - k empty: the key starts with the terminator, 0x00 0x01.
//   - k[0] = 0x00: E(k) starts with the escape 0x00 0xFF.
//   - k[0] != 0x00: the first byte is not 0x00.
//
// So no version key starts with 0x00 0x00, whatever the user key, and every
// key with that prefix is metadata. The same argument orders them: every
// metadata key is < 0x00 0x01 <= every version key, so the versions occupy
// [0x00 0x01, ∞) and a scan of versions never meets metadata.
//
// The metadata names are numbered so that durable-ts sorts before
// applied-ts: Check reads them in key order, and since applied-ts only
// grows and durable-ts never exceeds it, reading durable first keeps
// durable <= applied true even through an iterator that is not a snapshot.
var (
	metaPrefix = []byte{0x00, 0x00}
	keyFormat  = []byte("\x00\x00meta/0-format")
	keyDurable = []byte("\x00\x00meta/1-durable-ts")
	keyDiscard = []byte("\x00\x00meta/2-discard-ts")
	keyApplied = []byte("\x00\x00meta/3-applied-ts")

	// versionSpaceStart is the smallest version key prefix: the terminator
	// of the empty user key. Every version key is >= it and every metadata
	// key < it.
	versionSpaceStart = []byte{0x00, 0x01}
)

// formatValue identifies the layout above. A store holding another value
// under keyFormat was written by an incompatible adapter.
const formatValue = "lightning/ordered v1"

// versionTrailer is the length of the terminator and the ts that end every
// version key.
const versionTrailer = 2 + 8

// appendMetaTs appends the encoding of a ts-valued metadata entry.
func appendMetaTs(dst []byte, ts uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, ts)
}

// decodeMetaTs decodes a ts-valued metadata entry.
func decodeMetaTs(key, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, interfaces.Corruptf("", -1, "ordered: metadata %q holds %d bytes, want 8", key[len(metaPrefix):], len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// splitVersionKey splits a version key into its user part (the escaped
// user key with its terminator, which identifies the user key exactly and
// compares like it) and its ts. It checks the length and the terminator but
// not the escapes inside the user part; decodeUserKey does that. Ts 0 is
// malformed: the core never assigns it, so no Apply writes it.
func splitVersionKey(enc []byte) (user []byte, ts uint64, ok bool) {
	if len(enc) < versionTrailer {
		return nil, 0, false
	}
	n := len(enc) - 8
	if enc[n-2] != 0x00 || enc[n-1] != 0x01 {
		return nil, 0, false
	}
	ts = ^binary.BigEndian.Uint64(enc[n:])
	return enc[:n], ts, ts != 0
}

// errBadEscape reports a user part whose escaping is malformed.
var errBadEscape = errors.New("bad escape")

// decodeUserKey returns the user key of a user part from splitVersionKey.
// When the key holds no 0x00 byte its escaped form is the key itself and the
// result aliases user (no copy: the common case on every iterator step);
// otherwise the key is unescaped into dst, which is returned grown.
func decodeUserKey(dst, user []byte) (key, newDst []byte, err error) {
	body := user[:len(user)-2]
	i := bytes.IndexByte(body, 0x00)
	if i < 0 {
		return body, dst, nil
	}
	dst = dst[:0]
	for i >= 0 {
		if i+1 >= len(body) || body[i+1] != 0xFF {
			return nil, dst, errBadEscape
		}
		dst = append(dst, body[:i+1]...)
		body = body[i+2:]
		i = bytes.IndexByte(body, 0x00)
	}
	dst = append(dst, body...)
	return dst, dst, nil
}

// userEnd turns a user part (escaped key plus 0x00 0x01) into
// AppendUserKeyEnd of the same key (escaped key plus 0x00 0x02) in buf: the
// first key after every version of that user key.
func userEnd(buf, user []byte) []byte {
	buf = append(buf[:0], user...)
	buf[len(buf)-1] = 0x02
	return buf
}

// versionSeekKey appends the version key of user part user at ts: the
// first version of that user key with a ts <= ts.
func versionSeekKey(buf, user []byte, ts uint64) []byte {
	buf = append(buf[:0], user...)
	return binary.BigEndian.AppendUint64(buf, ^ts)
}

// appendValue appends the stored form of a version's value.
func appendValue(dst []byte, kind interfaces.EntryKind, value []byte) []byte {
	dst = append(dst, byte(kind))
	if kind == interfaces.KindSet {
		dst = append(dst, value...)
	}
	return dst
}

// errBadValue reports a stored value that is not a version's.
var errBadValue = errors.New("bad version value")

// decodeValue splits a stored value into the version's kind and value. The
// value aliases v.
func decodeValue(v []byte) (interfaces.EntryKind, []byte, error) {
	if len(v) == 0 {
		return 0, nil, errBadValue
	}
	switch kind := interfaces.EntryKind(v[0]); kind {
	case interfaces.KindSet:
		return kind, v[1:], nil
	case interfaces.KindDelete:
		if len(v) != 1 {
			return 0, nil, errBadValue
		}
		return kind, nil, nil
	}
	return 0, nil, errBadValue
}

// corruptKey reports a store key or value that failed to decode. Keys are
// shown in hex, cut short: a key may be 128 KiB.
func corruptKey(key []byte, what string, cause error) error {
	const show = 64
	if len(key) > show {
		return interfaces.Corruptf("", -1, "ordered: key %x… (%d bytes): %s: %w", key[:show], len(key), what, cause)
	}
	return interfaces.Corruptf("", -1, "ordered: key %x: %s: %w", key, what, cause)
}
