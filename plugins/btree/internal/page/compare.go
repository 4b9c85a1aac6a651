package page

import (
	"bytes"
	"encoding/binary"
)

// Compare orders versions as the Storage contract does: user key ascending
// (bytewise), then ts descending. It returns -1, 0 or +1.
func Compare(k1 []byte, t1 uint64, k2 []byte, t2 uint64) int {
	if c := bytes.Compare(k1, k2); c != 0 {
		return c
	}
	switch {
	case t1 > t2:
		return -1
	case t1 < t2:
		return 1
	}
	return 0
}

// target is a search key prepared against one node's key prefix: every key
// in the node is prefix+suffix, so a target that does not start with the
// prefix compares the same way against all of them, and one that does is
// compared by its remainder alone.
type target struct {
	// all is -1 when every key in the node is below the target's key, +1
	// when every one is above, 0 when rest must be compared.
	all  int
	rest []byte
	ts   uint64
	// head is Head(rest).
	head uint32
}

func prepare(prefix, key []byte, ts uint64) target {
	if bytes.HasPrefix(key, prefix) {
		rest := key[len(prefix):]
		return target{rest: rest, ts: ts, head: Head(rest)}
	}
	n := min(len(prefix), len(key))
	if c := bytes.Compare(prefix[:n], key[:n]); c != 0 {
		return target{all: c, ts: ts}
	}
	// key is a proper prefix of prefix: every node key is longer, so above.
	return target{all: 1, ts: ts}
}

// cmp compares the node key prefix+suffix at ts with the target.
func (t *target) cmp(suffix []byte, ts uint64) int {
	if t.all != 0 {
		return t.all
	}
	if c := bytes.Compare(suffix, t.rest); c != 0 {
		return c
	}
	switch {
	case ts > t.ts:
		return -1
	case ts < t.ts:
		return 1
	}
	return 0
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// uvarint decodes a uvarint at b[p:] of an image that passed validation,
// with an inlined fast path for the one-byte case that dominates lengths
// and ts deltas.
func uvarint(b []byte, p int) (uint64, int) {
	if c := b[p]; c < 0x80 {
		return uint64(c), p + 1
	}
	return uvarintSlow(b, p)
}

// uvarint2 is uvarint with the two-byte case inline too, for value
// lengths and positions.
func uvarint2(b []byte, p int) (uint64, int) {
	c := b[p]
	if c < 0x80 {
		return uint64(c), p + 1
	}
	if d := b[p+1]; d < 0x80 {
		return uint64(c&0x7f) | uint64(d)<<7, p + 2
	}
	return uvarintSlow(b, p)
}

// uvarint3 is uvarint with the two- and three-byte cases inline too.
func uvarint3(b []byte, p int) (uint64, int) {
	c := b[p]
	if c < 0x80 {
		return uint64(c), p + 1
	}
	d := b[p+1]
	if d < 0x80 {
		return uint64(c&0x7f) | uint64(d)<<7, p + 2
	}
	if f := b[p+2]; f < 0x80 {
		return uint64(c&0x7f) | uint64(d&0x7f)<<7 | uint64(f)<<14, p + 3
	}
	return uvarintSlow(b, p)
}

// varint3 decodes the uvarint at b[p:], where b holds at least three
// bytes from p, if it is at most three bytes long, without branching on
// its length: it returns the value and the length, and more = 1 (with
// nonsense in the others) when the uvarint is longer.
func varint3(b []byte, p int) (v uint64, n, more int) {
	b2 := uint64(b[p+2])
	b0, b1 := uint64(b[p]), uint64(b[p+1])
	c0 := b0 >> 7        // a second byte follows
	c1 := c0 & (b1 >> 7) // a third byte follows
	v = b0&0x7f | (b1&0x7f)<<7&-c0 | (b2&0x7f)<<14&-c1
	return v, 1 + int(c0+c1), int(c1 & (b2 >> 7))
}

//go:noinline
func uvarintSlow(b []byte, p int) (uint64, int) {
	v, k := binary.Uvarint(b[p:])
	return v, p + k
}

// CompareSplit compares the key prefix+suffix with key, bytewise.
func CompareSplit(prefix, suffix, key []byte) int {
	n := len(prefix)
	if len(key) >= n {
		if c := bytes.Compare(prefix, key[:n]); c != 0 {
			return c
		}
		return bytes.Compare(suffix, key[n:])
	}
	if c := bytes.Compare(prefix[:len(key)], key); c != 0 {
		return c
	}
	return 1
}

// Head returns the first 4 bytes of b as a big-endian number, zero-padded.
// Heads order as the byte strings do (a smaller head means a smaller
// string); equal heads settle nothing.
func Head(b []byte) uint32 {
	if len(b) >= 4 {
		return binary.BigEndian.Uint32(b)
	}
	var h uint32
	for i, c := range b {
		h |= uint32(c) << (24 - 8*i)
	}
	return h
}
