package page

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// ValidateLeaf is tuned (varints decoded in line, one key comparison per
// entry). validateLeafReference is the straightforward statement of the
// same rules, with binary.Uvarint and separate comparisons; the tests below
// hold the two to the same verdict on every image, valid or damaged.
func validateLeafReference(img []byte) error {
	l, err := ParseLeaf(img)
	if err != nil {
		return err
	}
	body := l.heads + 4*l.n
	var prevSuffix []byte
	var prevTs uint64
	pos := uint64(0)
	for i := 0; i < l.n; i++ {
		off := l.offset(i)
		end := l.values
		if i+1 < l.n {
			end = l.offset(i + 1)
		}
		if (i == 0 && off != body) || off >= end || end > l.values {
			return fmt.Errorf("leaf entry %d at bad offset %d", i, off)
		}
		e := img[off:end]
		s, k := binary.Uvarint(e)
		if k <= 0 || s > uint64(len(e)-k) || uint64(len(l.prefix))+s > interfaces.MaxKeySize {
			return fmt.Errorf("leaf entry %d: bad key length", i)
		}
		p := k + int(s)
		suffix := e[k:p]
		d, k := binary.Uvarint(e[p:])
		if k <= 0 || d > math.MaxUint64-l.base || l.base+d == 0 {
			return fmt.Errorf("leaf entry %d: bad ts", i)
		}
		ts := l.base + d
		p += k
		if p >= len(e) {
			return fmt.Errorf("leaf entry %d: truncated", i)
		}
		flags := e[p]
		p++
		kind := interfaces.EntryKind(flags & entryKindMask)
		switch {
		case flags&^(entryKindMask|entryOverflow|entrySameKey) != 0:
			return fmt.Errorf("leaf entry %d: unknown flags %#x", i, flags)
		case (flags&entrySameKey != 0) != (i > 0 && bytes.Equal(suffix, prevSuffix)):
			return fmt.Errorf("leaf entry %d: same-key flag is wrong", i)
		case kind == interfaces.KindDelete && flags&entryOverflow != 0:
			return fmt.Errorf("leaf entry %d: tombstone with a value", i)
		case kind == interfaces.KindDelete:
		case kind == interfaces.KindSet:
			v, k := binary.Uvarint(e[p:])
			if k <= 0 || v > interfaces.MaxValueSize {
				return fmt.Errorf("leaf entry %d: bad value length", i)
			}
			p += k
			if flags&entryOverflow != 0 {
				pg, k := binary.Uvarint(e[p:])
				if k <= 0 || pg < 2 {
					return fmt.Errorf("leaf entry %d: bad value page", i)
				}
				p += k
				gen, k := binary.Uvarint(e[p:])
				if k <= 0 || gen == 0 || v == 0 {
					return fmt.Errorf("leaf entry %d: bad value reference", i)
				}
				p += k
			} else {
				at, k := binary.Uvarint(e[p:])
				if k <= 0 || at != pos || v > uint64(len(img)-l.values)-pos {
					return fmt.Errorf("leaf entry %d: value at %d of %d bytes does not follow the previous one", i, at, v)
				}
				p += k
				pos += v
			}
		default:
			return fmt.Errorf("leaf entry %d: kind %d", i, kind)
		}
		if p != len(e) {
			return fmt.Errorf("leaf entry %d: %d stray bytes", i, len(e)-p)
		}
		if i > 0 && Compare(prevSuffix, prevTs, suffix, ts) >= 0 {
			return fmt.Errorf("leaf entry %d is out of order", i)
		}
		if binary.BigEndian.Uint32(img[l.heads+4*i:]) != Head(suffix) {
			return fmt.Errorf("leaf entry %d: wrong head", i)
		}
		prevSuffix, prevTs = suffix, ts
	}
	if uint64(len(img)-l.values) != pos {
		return fmt.Errorf("leaf value area of %d bytes holds %d bytes of values", len(img)-l.values, pos)
	}
	return nil
}

// requireSameVerdict checks that ValidateLeaf and the reference agree on
// img, error message included.
func requireSameVerdict(t require.TestingT, img []byte) {
	got, want := ValidateLeaf(img), validateLeafReference(img)
	if want == nil {
		require.NoError(t, got)
		return
	}
	require.EqualError(t, got, want.Error())
}

// wideLeaf is a leaf with every kind of entry, multi-byte varints (ts
// deltas, value positions past 16 KiB) and a key prefix.
func wideLeaf() []byte {
	var entries []LeafEntry
	for i := range 300 {
		e := LeafEntry{Key: fmt.Appendf(nil, "prefix-%05d", i/2), Ts: uint64(1 << 20 * (2 - i%2)), Kind: interfaces.KindSet}
		switch i % 5 {
		case 1:
			e.Kind = interfaces.KindDelete
		case 3:
			e.Ovf = ValueRef{Page: uint64(100 + i), Gen: 1 << 30, Len: 9000}
		default:
			e.Value = bytes.Repeat([]byte{byte(i)}, 90)
		}
		entries = append(entries, e)
	}
	return AppendLeaf(nil, entries)
}

func TestValidateLeafMatchesReference(t *testing.T) {
	// Every image from the encoder passes both, and every single-byte
	// change of one gets the same verdict from both.
	rapid.Check(t, func(t *rapid.T) {
		img := AppendLeaf(nil, genEntries(t))
		require.NoError(t, ValidateLeaf(img))
		i := rapid.IntRange(0, len(img)-1).Draw(t, "at")
		img[i] = rapid.Byte().Draw(t, "byte")
		requireSameVerdict(t, img)
		requireSameVerdict(t, img[:rapid.IntRange(0, len(img)).Draw(t, "cut")])
	})
	img := wideLeaf()
	require.NoError(t, ValidateLeaf(img))
	damaged := 0
	for i := LeafHeaderSize; i < len(img); i += 7 {
		for _, b := range []byte{0, 0x7f, 0x80, 0xff, img[i] ^ 1} {
			c := bytes.Clone(img)
			c[i] = b
			requireSameVerdict(t, c)
			if ValidateLeaf(c) != nil {
				damaged++
			}
		}
	}
	require.Positive(t, damaged, "some changes must be caught")
}

func FuzzValidateLeafMatchesReference(f *testing.F) {
	f.Add(seedLeaf())
	f.Add(wideLeaf())
	f.Add(AppendLeaf(nil, []LeafEntry{{Key: nil, Ts: 1, Kind: interfaces.KindSet}}))
	// A two-byte varint that binary.Uvarint accepts in non-minimal form
	// (0x80 0x00 is 0): the fast path must accept it too.
	f.Add([]byte{3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 37, 0, 0, 0, 26, 0, 0, 0, 0, 0, 0x80, 0x00, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, img []byte) {
		requireSameVerdict(t, img)
	})
}

func BenchmarkValidateLeaf(b *testing.B) {
	img := wideLeaf()
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if err := ValidateLeaf(img); err != nil {
			b.Fatal(err)
		}
	}
}
