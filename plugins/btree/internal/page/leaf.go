package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/lightningdb/lightning/interfaces"
)

// Leaf image layout. Entries are in strictly increasing version order (user
// key ascending, ts descending); every key starts with the image's prefix,
// which is stored once. Keys and values are stored apart: the entries,
// dense, then the inline values, so a scan or a binary search reads the
// entries without dragging the values through the CPU cache.
//
//	0   1  image type, 3 (as the page type)
//	1   1  flags: bit 0 offsets are 4 bytes wide, else 2
//	2   2  reserved, 0
//	4   4  entry count n, >= 1
//	8   8  base ts: the smallest ts of the image
//	16  4  prefix length p
//	20  4  start of the value area V, from the image start
//	24  p  prefix
//	.      n offsets, each the position of an entry from the image start
//	.      n heads, 4 bytes each: the first 4 bytes of each entry's key
//	       suffix, big-endian, zero-padded (a binary search compares them
//	       first, in one dense array, and reads an entry only to break a
//	       tie)
//	.      n entries:
//	         uvarint  suffix length s (p + s <= interfaces.MaxKeySize)
//	         s bytes  key suffix
//	         uvarint  ts - base ts
//	         1 byte   kind: bits 0-1 1 = set, 2 = tombstone; bit 2 value
//	                  out of line; bit 3 same user key as the previous
//	                  entry (so a scan skips older versions without
//	                  comparing keys); other bits 0
//	         set, inline:      uvarint value length v, uvarint position
//	                           of the value from V
//	         set, out of line: uvarint value length, uvarint first page
//	                           id, uvarint generation of the value blob
//	         tombstone:        nothing
//	V      the inline values, in entry order, back to back: each starts
//	       where the previous one ends, the first at V, the last ends the
//	       image
const (
	leafHeaderSize   = 24
	branchHeaderSize = 12
	imageWide        = 1 << 0
	entryOverflow    = 1 << 2
	entrySameKey     = 1 << 3
	entryKindMask    = 3
)

// LeafEntry is one version as the leaf encoder takes it and the decoder
// returns it.
type LeafEntry struct {
	Key  []byte
	Ts   uint64
	Kind interfaces.EntryKind
	// Value is the value of an inline set version.
	Value []byte
	// Ovf is the out-of-line value of a set version, when OvfPage != 0.
	Ovf ValueRef
	// SameKey, set by the decoder (the encoder works it out itself), says
	// the entry has the user key of the previous entry of its leaf.
	SameKey bool
}

// ValueRef points at an out-of-line value: a blob of value pages.
type ValueRef struct {
	Page uint64
	Gen  uint64
	Len  uint32
}

// Overflow reports whether the entry's value is out of line.
func (e *LeafEntry) Overflow() bool { return e.Ovf.Page != 0 }

// ValueLen returns the length of the entry's value.
func (e *LeafEntry) ValueLen() int {
	if e.Overflow() {
		return int(e.Ovf.Len)
	}
	return len(e.Value)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// LeafEntrySize returns an upper bound on the bytes e adds to a leaf image,
// its offset slot included, whatever prefix and base ts the image gets
// (assuming 2-byte offsets, which every image up to 64 KiB uses, and so
// value positions of at most 3 bytes).
func LeafEntrySize(e *LeafEntry) int {
	n := 2 + 4 + uvarintLen(uint64(len(e.Key))) + len(e.Key) + uvarintLen(e.Ts) + 1
	if e.Kind == interfaces.KindSet {
		if e.Overflow() {
			n += uvarintLen(uint64(e.Ovf.Len)) + uvarintLen(e.Ovf.Page) + uvarintLen(e.Ovf.Gen)
		} else {
			n += uvarintLen(uint64(len(e.Value))) + 3 + len(e.Value)
		}
	}
	return n
}

// LeafHeaderSize is the fixed part of a leaf image, before the prefix.
const LeafHeaderSize = leafHeaderSize

// MinPrefix is the shortest common key prefix a leaf stores apart: a
// shorter one saves a few bytes a version but costs a copy of every key a
// scan reads (a leaf without a prefix holds whole keys, which readers
// return in place).
const MinPrefix = 8

// AppendLeaf appends the image of entries, which must be non-empty and in
// strictly increasing version order, to dst.
func AppendLeaf(dst []byte, entries []LeafEntry) []byte {
	first, last := entries[0].Key, entries[len(entries)-1].Key
	prefix := first[:commonPrefix(first, last)]
	if len(prefix) < MinPrefix {
		prefix = nil
	}
	base := uint64(math.MaxUint64)
	for i := range entries {
		base = min(base, entries[i].Ts)
	}
	keysLen, valuesLen := 0, 0
	for i := range entries {
		e := &entries[i]
		s := len(e.Key) - len(prefix)
		keysLen += uvarintLen(uint64(s)) + s + uvarintLen(e.Ts-base) + 1
		if e.Kind == interfaces.KindSet {
			if e.Overflow() {
				keysLen += uvarintLen(uint64(e.Ovf.Len)) + uvarintLen(e.Ovf.Page) + uvarintLen(e.Ovf.Gen)
			} else {
				keysLen += uvarintLen(uint64(len(e.Value))) + uvarintLen(uint64(valuesLen))
				valuesLen += len(e.Value)
			}
		}
	}
	width := 2
	if leafHeaderSize+len(prefix)+6*len(entries)+keysLen+valuesLen > math.MaxUint16 {
		width = 4
	}
	start := len(dst)
	var flags byte
	if width == 4 {
		flags = imageWide
	}
	valueArea := leafHeaderSize + len(prefix) + (width+4)*len(entries) + keysLen
	dst = append(dst, byte(TypeLeaf), flags, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(entries)))
	dst = binary.LittleEndian.AppendUint64(dst, base)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(prefix)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(valueArea))
	dst = append(dst, prefix...)
	offs := len(dst)
	heads := offs + width*len(entries)
	dst = append(dst, make([]byte, (width+4)*len(entries))...)
	pos := 0
	for i := range entries {
		e := &entries[i]
		putOffset(dst[offs:], width, i, len(dst)-start)
		suffix := e.Key[len(prefix):]
		binary.BigEndian.PutUint32(dst[heads+4*i:], Head(suffix))
		dst = binary.AppendUvarint(dst, uint64(len(suffix)))
		dst = append(dst, suffix...)
		dst = binary.AppendUvarint(dst, e.Ts-base)
		var same byte
		if i > 0 && bytes.Equal(e.Key, entries[i-1].Key) {
			same = entrySameKey
		}
		switch {
		case e.Kind != interfaces.KindSet:
			dst = append(dst, byte(interfaces.KindDelete)|same)
		case e.Overflow():
			dst = append(dst, byte(interfaces.KindSet)|entryOverflow|same)
			dst = binary.AppendUvarint(dst, uint64(e.Ovf.Len))
			dst = binary.AppendUvarint(dst, e.Ovf.Page)
			dst = binary.AppendUvarint(dst, e.Ovf.Gen)
		default:
			dst = append(dst, byte(interfaces.KindSet)|same)
			dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
			dst = binary.AppendUvarint(dst, uint64(pos))
			pos += len(e.Value)
		}
	}
	for i := range entries {
		if e := &entries[i]; e.Kind == interfaces.KindSet && !e.Overflow() {
			dst = append(dst, e.Value...)
		}
	}
	return dst
}

func putOffset(b []byte, width, i, off int) {
	if width == 2 {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(off))
	} else {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(off))
	}
}

// Leaf is a read-only view of a leaf image.
type Leaf struct {
	img    []byte
	n      int
	wide   bool
	base   uint64
	prefix []byte
	offs   int
	heads  int
	values int
}

// ParseLeaf returns a view of img after checking its fixed header and the
// bounds of its offset array. The entries themselves are checked by
// ValidateLeaf.
func ParseLeaf(img []byte) (Leaf, error) {
	if len(img) < leafHeaderSize {
		return Leaf{}, fmt.Errorf("leaf image of %d bytes", len(img))
	}
	if img[0] != byte(TypeLeaf) || img[1]&^imageWide != 0 || img[2] != 0 || img[3] != 0 {
		return Leaf{}, errors.New("bad leaf image header")
	}
	n := binary.LittleEndian.Uint32(img[4:])
	pl := binary.LittleEndian.Uint32(img[16:])
	v := binary.LittleEndian.Uint32(img[20:])
	width := uint64(2)
	if img[1]&imageWide != 0 {
		width = 4
	}
	if n == 0 || uint64(pl) > interfaces.MaxKeySize ||
		leafHeaderSize+uint64(pl)+(width+4)*uint64(n) > uint64(v) || uint64(v) > uint64(len(img)) {
		return Leaf{}, fmt.Errorf("leaf image of %d bytes cannot hold %d entries with a %d-byte prefix and values from %d", len(img), n, pl, v)
	}
	return Leaf{
		img:    img,
		n:      int(n),
		wide:   width == 4,
		base:   binary.LittleEndian.Uint64(img[8:]),
		prefix: img[leafHeaderSize : leafHeaderSize+pl],
		offs:   leafHeaderSize + int(pl),
		heads:  leafHeaderSize + int(pl) + int(width)*int(n),
		values: int(v),
	}, nil
}

// Len returns the number of entries.
func (l *Leaf) Len() int { return l.n }

// Prefix returns the prefix every key of the leaf starts with.
func (l *Leaf) Prefix() []byte { return l.prefix }

// Image returns the image the view reads.
func (l *Leaf) Image() []byte { return l.img }

func (l *Leaf) offset(i int) int {
	if l.wide {
		return int(binary.LittleEndian.Uint32(l.img[l.offs+4*i:]))
	}
	return int(binary.LittleEndian.Uint16(l.img[l.offs+2*i:]))
}

// suffixTs decodes the key suffix and ts of entry i, and returns the
// position after the ts. The one-byte varints that dominate are decoded
// inline: this is the innermost loop of every search and scan.
func (l *Leaf) suffixTs(i int) (suffix []byte, ts uint64, pos int) {
	img := l.img
	p := l.offset(i)
	var s, d uint64
	if c := img[p]; c < 0x80 {
		s, p = uint64(c), p+1
	} else {
		s, p = uvarintSlow(img, p)
	}
	suffix = img[p : p+int(s)]
	p += int(s)
	d, p = uvarint2(img, p)
	return suffix, l.base + d, p
}

// Suffix returns the key suffix and ts of entry i.
func (l *Leaf) Suffix(i int) ([]byte, uint64) {
	s, ts, _ := l.suffixTs(i)
	return s, ts
}

// AppendKey appends the full key of entry i to dst.
func (l *Leaf) AppendKey(dst []byte, i int) []byte {
	s, _, _ := l.suffixTs(i)
	dst = append(dst, l.prefix...)
	return append(dst, s...)
}

// Entry decodes entry i. Key is the suffix only (see Prefix); Value
// aliases the image.
func (l *Leaf) Entry(i int) LeafEntry {
	var e LeafEntry
	l.Decode(i, &e)
	return e
}

// Decode decodes entry i into e, as Entry does, without copying an entry
// around: the scan loops call it for every version they pass.
func (l *Leaf) Decode(i int, e *LeafEntry) {
	l.DecodeAt(l.offset(i), e)
}

// Offset returns where entry i starts in the image.
func (l *Leaf) Offset(i int) int { return l.offset(i) }

// DecodeAt decodes the entry that starts at off (Offset(i) for entry i)
// into e, as Decode does, and returns where the entry ends — where the
// next one starts, as ValidateLeaf checks — so that a scan reads entry
// after entry without the offset array. It is ScanAt with the parts made
// into slices (and an out-of-line reference decoded).
func (l *Leaf) DecodeAt(off int, e *LeafEntry) int {
	ks, kn, ts, flags, vs, vn, next := l.ScanAt(off)
	img := l.img
	e.Key = img[ks : ks+kn]
	e.Ts = ts
	e.Kind = flags.Kind()
	e.SameKey = flags.SameKey()
	e.Value, e.Ovf = nil, ValueRef{}
	switch {
	case e.Kind != interfaces.KindSet:
	case flags.Overflow():
		pg, p := uvarint(img, vs)
		gen, _ := uvarint(img, p)
		e.Ovf = ValueRef{Page: pg, Gen: gen, Len: uint32(vn)}
	default:
		e.Value = img[vs : vs+vn : vs+vn]
	}
	return next
}

// EntryFlags is the flags byte of a leaf entry, as ScanAt returns it.
type EntryFlags uint8

// Kind returns the entry's kind.
func (f EntryFlags) Kind() interfaces.EntryKind { return interfaces.EntryKind(f & entryKindMask) }

// SameKey reports whether the entry has the user key of the previous entry
// of its leaf.
func (f EntryFlags) SameKey() bool { return f&entrySameKey != 0 }

// Overflow reports whether the entry's value is out of line.
func (f EntryFlags) Overflow() bool { return f&entryOverflow != 0 }

// ScanAt decodes the entry that starts at off, as DecodeAt does, but
// returns its parts as numbers, in registers, rather than filling a
// LeafEntry through a pointer: a scan builds the slices of only the
// entries it returns. The key suffix is Image()[ks:ks+kn]; for a set
// version with an inline value, the value is Image()[vs:vs+vn]; next is
// where the next entry starts. For a value out of line (flags.Overflow())
// vn is its length and vs is where its reference (page and generation
// varints) starts; DecodeAt decodes it.
func (l *Leaf) ScanAt(off int) (ks, kn int, ts uint64, flags EntryFlags, vs, vn, next int) {
	img := l.img
	p := off
	var s uint64
	if c := img[p]; c < 0x80 {
		s, p = uint64(c), p+1
	} else {
		s, p = uvarintSlow(img, p)
	}
	ks, kn = p, int(s)
	p += kn
	// The ts delta and the value position are decoded without branching
	// on their length (see DecodeAt).
	var d uint64
	if p+2 < len(img) {
		var n, more int
		d, n, more = varint3(img, p)
		if more != 0 {
			d, n = uvarintSlow(img, p)
			n -= p
		}
		p += n
	} else {
		d, p = uvarint(img, p)
	}
	ts = l.base + d
	flags = EntryFlags(img[p])
	p++
	if flags&entryKindMask != EntryFlags(interfaces.KindSet) {
		return ks, kn, ts, flags, 0, 0, p
	}
	var v uint64
	if c := img[p]; c < 0x80 {
		v, p = uint64(c), p+1
	} else {
		v, p = uvarint3(img, p)
	}
	if flags&entryOverflow != 0 {
		ref := p
		_, p = uvarint(img, p)
		_, p = uvarint(img, p)
		return ks, kn, ts, flags, ref, int(v), p
	}
	var pos uint64
	if p+2 < len(img) {
		var n, more int
		pos, n, more = varint3(img, p)
		if more != 0 {
			pos, n = uvarintSlow(img, p)
			n -= p
		}
		p += n
	} else {
		pos, p = uvarint2(img, p)
	}
	return ks, kn, ts, flags, l.values + int(pos), int(v), p
}

// SearchGE returns the index of the first entry at or after (key, ts) in
// version order, or Len() when there is none.
func (l *Leaf) SearchGE(key []byte, ts uint64) int {
	t := prepare(l.prefix, key, ts)
	if t.all != 0 {
		if t.all > 0 {
			return 0
		}
		return l.n
	}
	lo, hi := 0, l.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		h := binary.BigEndian.Uint32(l.img[l.heads+4*mid:])
		var below bool
		switch {
		case h < t.head:
			below = true
		case h > t.head:
			below = false
		default:
			s, ets, _ := l.suffixTs(mid)
			below = t.cmp(s, ets) < 0
		}
		if below {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// ValidateLeaf checks every field of a leaf image and the order of its
// entries. An image that passes can be read with the accessors without a
// bounds failure.
//
// Every leaf read from the file passes through it once (a cold scan
// validates every version it returns), so it decodes as the readers do,
// one-byte varints in line, and compares each key with the previous one
// once, for the same-key flag and the order together.
func ValidateLeaf(img []byte) error {
	l, err := ParseLeaf(img)
	if err != nil {
		return err
	}
	body := l.heads + 4*l.n
	var prevSuffix []byte
	var prevTs uint64
	// pos is where the next inline value must start, from the value area.
	pos := uint64(0)
	room := uint64(len(img) - l.values)
	maxSuffix := uint64(interfaces.MaxKeySize - len(l.prefix))
	off := l.offset(0)
	for i := 0; i < l.n; i++ {
		end := l.values
		if i+1 < l.n {
			end = l.offset(i + 1)
		}
		if (i == 0 && off != body) || off >= end || end > l.values {
			return fmt.Errorf("leaf entry %d at bad offset %d", i, off)
		}
		e := img[off:end]
		s, p, ok := checkedUvarint(e, 0)
		if !ok || s > uint64(len(e)-p) || s > maxSuffix {
			return fmt.Errorf("leaf entry %d: bad key length", i)
		}
		suffix := e[p : p+int(s)]
		p += int(s)
		d, p, ok := checkedUvarint(e, p)
		if !ok || d > math.MaxUint64-l.base || l.base+d == 0 {
			return fmt.Errorf("leaf entry %d: bad ts", i)
		}
		ts := l.base + d
		if p >= len(e) {
			return fmt.Errorf("leaf entry %d: truncated", i)
		}
		flags := e[p]
		p++
		kind := interfaces.EntryKind(flags & entryKindMask)
		// c orders the previous key against this one (0 for the first).
		c := 0
		if i > 0 {
			c = bytes.Compare(prevSuffix, suffix)
		}
		switch {
		case flags&^(entryKindMask|entryOverflow|entrySameKey) != 0:
			return fmt.Errorf("leaf entry %d: unknown flags %#x", i, flags)
		case (flags&entrySameKey != 0) != (i > 0 && c == 0):
			return fmt.Errorf("leaf entry %d: same-key flag is wrong", i)
		case kind == interfaces.KindDelete && flags&entryOverflow != 0:
			return fmt.Errorf("leaf entry %d: tombstone with a value", i)
		case kind == interfaces.KindDelete:
		case kind == interfaces.KindSet:
			var v uint64
			v, p, ok = checkedUvarint(e, p)
			if !ok || v > interfaces.MaxValueSize {
				return fmt.Errorf("leaf entry %d: bad value length", i)
			}
			if flags&entryOverflow != 0 {
				var pg, gen uint64
				pg, p, ok = checkedUvarint(e, p)
				if !ok || pg < 2 {
					return fmt.Errorf("leaf entry %d: bad value page", i)
				}
				gen, p, ok = checkedUvarint(e, p)
				if !ok || gen == 0 || v == 0 {
					return fmt.Errorf("leaf entry %d: bad value reference", i)
				}
			} else {
				var at uint64
				at, p, ok = checkedUvarint(e, p)
				if !ok || at != pos || v > room-pos {
					return fmt.Errorf("leaf entry %d: value at %d of %d bytes does not follow the previous one", i, at, v)
				}
				pos += v
			}
		default:
			return fmt.Errorf("leaf entry %d: kind %d", i, kind)
		}
		if p != len(e) {
			return fmt.Errorf("leaf entry %d: %d stray bytes", i, len(e)-p)
		}
		// In order: a greater key, or the same key at a smaller ts.
		if i > 0 && (c > 0 || (c == 0 && prevTs <= ts)) {
			return fmt.Errorf("leaf entry %d is out of order", i)
		}
		if binary.BigEndian.Uint32(img[l.heads+4*i:]) != Head(suffix) {
			return fmt.Errorf("leaf entry %d: wrong head", i)
		}
		prevSuffix, prevTs = suffix, ts
		off = end
	}
	if room != pos {
		return fmt.Errorf("leaf value area of %d bytes holds %d bytes of values", room, pos)
	}
	return nil
}

// checkedUvarint decodes the uvarint at b[p:] of an image not yet
// validated: ok is false when it is truncated or overflows, exactly when
// binary.Uvarint reports so. The one-byte case is decoded in line.
func checkedUvarint(b []byte, p int) (v uint64, next int, ok bool) {
	if p+1 < len(b) {
		// Two bytes are there: the one- and two-byte cases (lengths, ts
		// deltas, value positions) need no further bounds checks.
		if c := b[p]; c < 0x80 {
			return uint64(c), p + 1, true
		} else if d := b[p+1]; d < 0x80 {
			return uint64(c&0x7f) | uint64(d)<<7, p + 2, true
		}
	} else if p < len(b) && b[p] < 0x80 {
		return uint64(b[p]), p + 1, true
	}
	return checkedUvarintSlow(b, p)
}

func checkedUvarintSlow(b []byte, p int) (uint64, int, bool) {
	if p >= len(b) {
		return 0, p, false
	}
	v, k := binary.Uvarint(b[p:])
	if k <= 0 {
		return 0, p, false
	}
	return v, p + k, true
}
