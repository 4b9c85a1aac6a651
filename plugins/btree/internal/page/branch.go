package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/lightningdb/lightning/interfaces"
)

// Branch image layout. Child i holds the versions in [separator i,
// separator i+1); child 0 has no separator (its lower bound is the
// branch's own). Separators are in strictly increasing version order and
// share the image's prefix.
//
//	0   1  image type, 2 (as the page type)
//	1   1  flags: bit 0 offsets are 4 bytes wide, else 2
//	2   2  reserved, 0
//	4   4  child count n, >= 1
//	8   4  prefix length p (0 when n == 1)
//	12  p  prefix of separators 1..n-1
//	.      n offsets, each the position of an entry from the image start
//	.      n heads, 4 bytes each: the first 4 bytes of each separator's
//	       key suffix, big-endian, zero-padded (0 for child 0), which a
//	       binary search compares first
//	.      child 0: uvarint page id, uvarint generation
//	.      child i >= 1: uvarint suffix length s, s bytes separator key
//	       suffix, uvarint MaxTs - separator ts, uvarint page id, uvarint
//	       generation

// Child is one child pointer of a branch: the child node's first page,
// the generation that wrote it, and the lowest version it may hold (the
// separator; ignored for child 0).
type Child struct {
	Key  []byte
	Ts   uint64
	Page uint64
	Gen  uint64
}

// BranchChildSize returns an upper bound on the bytes c adds to a branch
// image as a child other than the first, its offset slot included.
func BranchChildSize(c *Child) int {
	return 2 + 4 + uvarintLen(uint64(len(c.Key))) + len(c.Key) + uvarintLen(math.MaxUint64-c.Ts) +
		uvarintLen(c.Page) + uvarintLen(c.Gen)
}

// BranchHeaderSize is the fixed part of a branch image, before the prefix.
const BranchHeaderSize = branchHeaderSize

// AppendBranch appends the image of children (non-empty; separators of
// children 1.. in strictly increasing version order) to dst.
func AppendBranch(dst []byte, children []Child) []byte {
	var prefix []byte
	if len(children) > 1 {
		first, last := children[1].Key, children[len(children)-1].Key
		prefix = first[:commonPrefix(first, last)]
	}
	bodyLen := uvarintLen(children[0].Page) + uvarintLen(children[0].Gen)
	for i := 1; i < len(children); i++ {
		c := &children[i]
		s := len(c.Key) - len(prefix)
		bodyLen += uvarintLen(uint64(s)) + s + uvarintLen(math.MaxUint64-c.Ts) + uvarintLen(c.Page) + uvarintLen(c.Gen)
	}
	width := 2
	if branchHeaderSize+len(prefix)+6*len(children)+bodyLen > math.MaxUint16 {
		width = 4
	}
	start := len(dst)
	var flags byte
	if width == 4 {
		flags = imageWide
	}
	dst = append(dst, byte(TypeBranch), flags, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(children)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(prefix)))
	dst = append(dst, prefix...)
	offs := len(dst)
	heads := offs + width*len(children)
	dst = append(dst, make([]byte, (width+4)*len(children))...)
	for i := range children {
		c := &children[i]
		putOffset(dst[offs:], width, i, len(dst)-start)
		if i > 0 {
			suffix := c.Key[len(prefix):]
			binary.BigEndian.PutUint32(dst[heads+4*i:], Head(suffix))
			dst = binary.AppendUvarint(dst, uint64(len(suffix)))
			dst = append(dst, suffix...)
			dst = binary.AppendUvarint(dst, math.MaxUint64-c.Ts)
		}
		dst = binary.AppendUvarint(dst, c.Page)
		dst = binary.AppendUvarint(dst, c.Gen)
	}
	return dst
}

// Branch is a read-only view of a branch image.
type Branch struct {
	img    []byte
	n      int
	wide   bool
	prefix []byte
	offs   int
	heads  int
}

// ParseBranch returns a view of img after checking its fixed header and the
// bounds of its offset array. The children are checked by ValidateBranch.
func ParseBranch(img []byte) (Branch, error) {
	if len(img) < branchHeaderSize {
		return Branch{}, fmt.Errorf("branch image of %d bytes", len(img))
	}
	if img[0] != byte(TypeBranch) || img[1]&^imageWide != 0 || img[2] != 0 || img[3] != 0 {
		return Branch{}, errors.New("bad branch image header")
	}
	n := binary.LittleEndian.Uint32(img[4:])
	pl := binary.LittleEndian.Uint32(img[8:])
	width := uint64(2)
	if img[1]&imageWide != 0 {
		width = 4
	}
	if n == 0 || uint64(pl) > interfaces.MaxKeySize || (n == 1 && pl != 0) ||
		branchHeaderSize+uint64(pl)+(width+4)*uint64(n) > uint64(len(img)) {
		return Branch{}, fmt.Errorf("branch image of %d bytes cannot hold %d children with a %d-byte prefix", len(img), n, pl)
	}
	return Branch{
		img:    img,
		n:      int(n),
		wide:   width == 4,
		prefix: img[branchHeaderSize : branchHeaderSize+pl],
		offs:   branchHeaderSize + int(pl),
		heads:  branchHeaderSize + int(pl) + int(width)*int(n),
	}, nil
}

// Len returns the number of children.
func (b *Branch) Len() int { return b.n }

// Prefix returns the prefix every separator of the branch starts with.
func (b *Branch) Prefix() []byte { return b.prefix }

func (b *Branch) offset(i int) int {
	if b.wide {
		return int(binary.LittleEndian.Uint32(b.img[b.offs+4*i:]))
	}
	return int(binary.LittleEndian.Uint16(b.img[b.offs+2*i:]))
}

// sep decodes separator i >= 1 and returns the position after it.
func (b *Branch) sep(i int) (suffix []byte, ts uint64, pos int) {
	p := b.offset(i)
	s, p := uvarint(b.img, p)
	suffix = b.img[p : p+int(s)]
	d, p := uvarint(b.img, p+int(s))
	return suffix, math.MaxUint64 - d, p
}

// Child returns child i. Key is the separator's suffix (see Prefix), nil
// for child 0.
func (b *Branch) Child(i int) Child {
	var c Child
	p := b.offset(i)
	if i > 0 {
		c.Key, c.Ts, p = b.sep(i)
	}
	pg, p := uvarint(b.img, p)
	gen, _ := uvarint(b.img, p)
	c.Page, c.Gen = pg, gen
	return c
}

// ChildRef returns the page and generation of child i, as Child does,
// without building its separator: a descent needs only the pointer.
func (b *Branch) ChildRef(i int) (pg, gen uint64) {
	p := b.offset(i)
	if i > 0 {
		s, q := uvarint(b.img, p)
		_, p = uvarint(b.img, q+int(s))
	}
	pg, p = uvarint(b.img, p)
	gen, _ = uvarint(b.img, p)
	return pg, gen
}

// AppendSeparator appends the full key of separator i >= 1 to dst and
// returns it with the separator's ts.
func (b *Branch) AppendSeparator(dst []byte, i int) ([]byte, uint64) {
	s, ts, _ := b.sep(i)
	dst = append(dst, b.prefix...)
	return append(dst, s...), ts
}

// Search returns the child whose range holds (key, ts): the last child
// whose separator is at or before it, or 0.
func (b *Branch) Search(key []byte, ts uint64) int {
	return b.search(key, ts, 0)
}

// SearchLT returns the child that holds the last version before (key, ts):
// the last child whose separator is strictly before it, or 0.
func (b *Branch) SearchLT(key []byte, ts uint64) int {
	return b.search(key, ts, 1)
}

// search returns the number of separators s (1..n-1) with cmp(s, target) <
// bound, where bound is 1 for "at or before" and 0 for "strictly before".
func (b *Branch) search(key []byte, ts uint64, strict int) int {
	t := prepare(b.prefix, key, ts)
	if t.all != 0 {
		if t.all > 0 {
			return 0
		}
		return b.n - 1
	}
	lo, hi := 1, b.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		h := binary.BigEndian.Uint32(b.img[b.heads+4*mid:])
		var before bool
		switch {
		case h < t.head:
			before = true
		case h > t.head:
			before = false
		default:
			s, sts, _ := b.sep(mid)
			before = t.cmp(s, sts) < 1-strict
		}
		if before {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// ValidateBranch checks every field of a branch image and the order of its
// separators.
func ValidateBranch(img []byte) error {
	b, err := ParseBranch(img)
	if err != nil {
		return err
	}
	body := b.heads + 4*b.n
	if binary.LittleEndian.Uint32(img[b.heads:]) != 0 {
		return errors.New("branch child 0 has a head")
	}
	var prevSuffix []byte
	var prevTs uint64
	for i := 0; i < b.n; i++ {
		off := b.offset(i)
		end := len(img)
		if i+1 < b.n {
			end = b.offset(i + 1)
		}
		if (i == 0 && off != body) || off >= end || end > len(img) {
			return fmt.Errorf("branch child %d at bad offset %d", i, off)
		}
		e := img[off:end]
		p := 0
		if i > 0 {
			s, k := binary.Uvarint(e)
			if k <= 0 || s > uint64(len(e)-k) || uint64(len(b.prefix))+s > interfaces.MaxKeySize {
				return fmt.Errorf("branch child %d: bad separator length", i)
			}
			p = k + int(s)
			suffix := e[k:p]
			d, k := binary.Uvarint(e[p:])
			if k <= 0 {
				return fmt.Errorf("branch child %d: bad separator ts", i)
			}
			p += k
			ts := math.MaxUint64 - d
			if i > 1 && Compare(prevSuffix, prevTs, suffix, ts) >= 0 {
				return fmt.Errorf("branch separator %d is out of order", i)
			}
			if binary.BigEndian.Uint32(img[b.heads+4*i:]) != Head(suffix) {
				return fmt.Errorf("branch separator %d: wrong head", i)
			}
			prevSuffix, prevTs = suffix, ts
		}
		pg, k := binary.Uvarint(e[p:])
		if k <= 0 || pg < 2 {
			return fmt.Errorf("branch child %d: bad page id", i)
		}
		p += k
		gen, k := binary.Uvarint(e[p:])
		if k <= 0 || gen == 0 {
			return fmt.Errorf("branch child %d: bad generation", i)
		}
		p += k
		if p != len(e) {
			return fmt.Errorf("branch child %d: %d stray bytes", i, len(e)-p)
		}
	}
	return nil
}

// SeparatorKeyIs reports whether the user key of separator i >= 1 is key.
func (b *Branch) SeparatorKeyIs(i int, key []byte) bool {
	s, _, _ := b.sep(i)
	return len(b.prefix)+len(s) == len(key) && bytes.HasPrefix(key, b.prefix) && bytes.Equal(key[len(b.prefix):], s)
}
