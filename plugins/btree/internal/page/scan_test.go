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

// The scan path's decoders (ScanAt, varint3, Branch.ChildRef) are checked
// against the general ones they shortcut.

func TestVarint3(t *testing.T) {
	cases := []struct {
		name string
		enc  []byte // the uvarint, then padding up to three bytes
		v    uint64
		n    int
		more bool
	}{
		{"one byte", []byte{0x05, 0xff, 0xff}, 5, 1, false},
		{"one byte max", []byte{0x7f, 0x80, 0x80}, 0x7f, 1, false},
		{"two bytes", []byte{0x80, 0x01, 0xff}, 0x80, 2, false},
		{"two bytes max", []byte{0xff, 0x7f, 0xff}, 0x3fff, 2, false},
		{"two bytes non-minimal zero", []byte{0x80, 0x00, 0xff}, 0, 2, false},
		{"three bytes", []byte{0x80, 0x80, 0x01}, 0x4000, 3, false},
		{"three bytes max", []byte{0xff, 0xff, 0x7f}, 0x1fffff, 3, false},
		{"four bytes", []byte{0x80, 0x80, 0x80, 0x01}, 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte{0xaa}, c.enc...)
			v, n, more := varint3(b, 1)
			require.Equal(t, c.more, more != 0)
			if c.more {
				return
			}
			require.Equal(t, c.v, v)
			require.Equal(t, c.n, n)
			want, k := binary.Uvarint(c.enc)
			require.Equal(t, want, v, "binary.Uvarint agrees")
			require.Equal(t, k, n)
		})
	}
	// Every value up to three bytes, at every length its encoding takes.
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff} {
		b := binary.AppendUvarint(nil, v)
		n := len(b)
		b = append(b, 0xff, 0xff)
		got, gn, more := varint3(b, 0)
		require.Zero(t, more)
		require.Equal(t, v, got)
		require.Equal(t, n, gn)
	}
	for _, v := range []uint64{0x200000, math.MaxUint32, math.MaxUint64} {
		_, _, more := varint3(binary.AppendUvarint(nil, v), 0)
		require.Equal(t, 1, more, "%d takes more than three bytes", v)
	}
}

// requireScanMatchesDecode walks img with ScanAt, each entry from where the
// previous one ended, and checks each against DecodeAt and the offset
// array. DecodeAt is built on ScanAt; what holds both to the encoder is
// TestLeafRoundTrip, which decodes every entry back to what was encoded.
func requireScanMatchesDecode(t require.TestingT, img []byte) {
	l, err := ParseLeaf(img)
	require.NoError(t, err)
	off := l.Offset(0)
	for i := range l.Len() {
		require.Equal(t, l.Offset(i), off, "entry %d starts where the previous ended", i)
		var e LeafEntry
		end := l.DecodeAt(off, &e)
		ks, kn, ts, flags, vs, vn, next := l.ScanAt(off)
		require.Equal(t, end, next, "entry %d end", i)
		require.Equal(t, e.Key, img[ks:ks+kn], "entry %d key", i)
		require.Equal(t, e.Ts, ts, "entry %d ts", i)
		require.Equal(t, e.Kind, flags.Kind(), "entry %d kind", i)
		require.Equal(t, e.SameKey, flags.SameKey(), "entry %d same key", i)
		require.Equal(t, e.Overflow(), flags.Overflow(), "entry %d overflow", i)
		if e.Kind == interfaces.KindSet {
			require.Equal(t, e.ValueLen(), vn, "entry %d value length", i)
			if !e.Overflow() {
				require.Equal(t, e.Value, img[vs:vs+vn], "entry %d value", i)
			}
		}
		off = next
	}
	require.Equal(t, l.values, off, "the last entry ends at the value area")
}

func TestScanAtMatchesDecodeAt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		requireScanMatchesDecode(t, AppendLeaf(nil, genEntries(t)))
	})
	requireScanMatchesDecode(t, wideLeaf())
	// Values long enough for three-byte positions and long out-of-line
	// references, ts deltas past three bytes, and an image that ends right
	// after a tombstone's flags (the short-tail paths of ScanAt).
	var entries []LeafEntry
	for i := range 300 {
		e := LeafEntry{Key: fmt.Appendf(nil, "key-%04d", i), Ts: 1 + uint64(i%7)<<(7*uint(i%5)), Kind: interfaces.KindSet}
		switch i % 4 {
		case 1:
			e.Ovf = ValueRef{Page: math.MaxUint64 >> 1, Gen: 1 << 40, Len: interfaces.MaxValueSize}
		default:
			e.Value = bytes.Repeat([]byte{byte(i)}, 200)
		}
		entries = append(entries, e)
	}
	entries = append(entries, LeafEntry{Key: []byte("key-9999"), Ts: 1, Kind: interfaces.KindDelete})
	requireScanMatchesDecode(t, AppendLeaf(nil, entries))
	requireScanMatchesDecode(t, AppendLeaf(nil, []LeafEntry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindDelete}}))
	requireScanMatchesDecode(t, AppendLeaf(nil, []LeafEntry{{Key: nil, Ts: 200, Kind: interfaces.KindSet}}))
}

func TestChildRefMatchesChild(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := ParseBranch(AppendBranch(nil, genChildren(t)))
		require.NoError(t, err)
		for i := range b.Len() {
			c := b.Child(i)
			pg, gen := b.ChildRef(i)
			require.Equal(t, c.Page, pg, "child %d page", i)
			require.Equal(t, c.Gen, gen, "child %d generation", i)
		}
	})
}

func BenchmarkScanAt(b *testing.B) {
	// A leaf shaped as the comparison harness fills it: 16-byte decimal
	// keys sharing a prefix, ts deltas of one or two bytes at random,
	// 100-byte values.
	var entries []LeafEntry
	for i := range 174 {
		entries = append(entries, LeafEntry{Key: fmt.Appendf(nil, "%016d", 500000+5*i), Ts: uint64(1 + (i*7919)%1000),
			Kind: interfaces.KindSet, Value: make([]byte, 100)})
	}
	l, err := ParseLeaf(AppendLeaf(nil, entries))
	require.NoError(b, err)
	sum := 0
	for b.Loop() {
		off := l.Offset(0)
		for range l.Len() {
			ks, kn, ts, _, vs, vn, next := l.ScanAt(off)
			sum += ks + kn + int(ts) + vs + vn
			off = next
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*l.Len()), "ns/entry")
	require.NotZero(b, sum)
}
