package page

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

func TestValidPageSize(t *testing.T) {
	cases := []struct {
		n  int
		ok bool
	}{
		{0, false}, {512, false}, {1023, false}, {1024, true}, {1536, false},
		{4096, true}, {65536, true}, {131072, false}, {-4096, false},
	}
	for _, c := range cases {
		require.Equal(t, c.ok, ValidPageSize(c.n), "page size %d", c.n)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	p := make([]byte, 1024)
	copy(p[HeaderSize:], "payload")
	h := Header{Type: TypeLeaf, Flags: FlagCompressed, Codec: 3, ID: 77, Gen: 9, Next: 78, Len: 7, RawLen: 100}
	h.Put(p)
	got, err := Verify(p)
	require.NoError(t, err)
	require.Equal(t, h, got)
	require.Equal(t, []byte("payload"), Payload(p, got))
	// Every single-bit flip anywhere in the page is caught.
	for i := range len(p) * 8 {
		q := bytes.Clone(p)
		q[i/8] ^= 1 << (i % 8)
		_, err := Verify(q)
		require.Error(t, err, "flip of bit %d", i)
	}
}

func TestHeaderRejects(t *testing.T) {
	cases := []struct {
		name string
		h    Header
		mod  func(p []byte)
	}{
		{"unknown type", Header{Type: 9}, nil},
		{"type zero", Header{Type: 0}, nil},
		{"unknown flag", Header{Type: TypeLeaf, Flags: 1 << 5}, nil},
		{"codec on an uncompressed page", Header{Type: TypeLeaf, Codec: 1}, nil},
		{"continuation with a raw length", Header{Type: TypeLeaf, Flags: FlagContinuation, RawLen: 1}, nil},
		{"continuation compressed", Header{Type: TypeLeaf, Flags: FlagContinuation | FlagCompressed, Codec: 1}, nil},
		{"meta with flags", Header{Type: TypeMeta, Flags: FlagSealed}, nil},
		{"meta with a next page", Header{Type: TypeMeta, Next: 5}, nil},
		{"reserved byte", Header{Type: TypeLeaf}, func(p []byte) { p[7] = 1 }},
		{"payload overruns", Header{Type: TypeLeaf}, func(p []byte) { binary.LittleEndian.PutUint32(p[32:], 2000) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := make([]byte, 1024)
			c.h.Put(p)
			if c.mod != nil {
				c.mod(p)
				binary.LittleEndian.PutUint32(p, Checksum(p))
			}
			_, err := Verify(p)
			require.Error(t, err)
		})
	}
	_, err := Verify(make([]byte, 10))
	require.ErrorIs(t, err, ErrShortPage)
	_, err = Verify(make([]byte, 1024))
	require.ErrorIs(t, err, ErrChecksum, "an all-zero page fails its checksum")
}

func TestCompare(t *testing.T) {
	cases := []struct {
		k1   string
		t1   uint64
		k2   string
		t2   uint64
		want int
	}{
		{"a", 1, "a", 1, 0},
		{"a", 2, "a", 1, -1}, // newer first
		{"a", 1, "a", 2, 1},
		{"a", 1, "b", 9, -1},
		{"", math.MaxUint64, "", 0, -1},
		{"a", 0, "a\x00", math.MaxUint64, -1},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Compare([]byte(c.k1), c.t1, []byte(c.k2), c.t2), "%q@%d vs %q@%d", c.k1, c.t1, c.k2, c.t2)
	}
	for _, c := range []struct {
		prefix, suffix, key string
		want                int
	}{
		{"ab", "c", "abc", 0}, {"ab", "c", "abd", -1}, {"ab", "", "a", 1}, {"ab", "", "ab", 0},
		{"ab", "x", "aa", 1}, {"", "", "", 0}, {"b", "", "ab", 1}, {"a", "", "b", -1},
	} {
		require.Equal(t, c.want, CompareSplit([]byte(c.prefix), []byte(c.suffix), []byte(c.key)), "%q+%q vs %q", c.prefix, c.suffix, c.key)
	}
}

// genEntries draws a non-empty, strictly ordered run of leaf entries over a
// small alphabet, so keys share prefixes and have several versions.
func genEntries(t *rapid.T) []LeafEntry {
	keys := rapid.SliceOfNDistinct(rapid.SliceOfN(rapid.SampledFrom([]byte{0, 'a', 'b', 0xff}), 0, 6), 1, 12,
		func(b []byte) string { return string(b) }).Draw(t, "keys")
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	var out []LeafEntry
	for _, k := range keys {
		tss := rapid.SliceOfNDistinct(rapid.Uint64Range(1, math.MaxUint64), 1, 4, rapid.ID[uint64]).Draw(t, "ts")
		slices.Sort(tss)
		slices.Reverse(tss)
		for _, ts := range tss {
			e := LeafEntry{Key: k, Ts: ts, Kind: interfaces.KindSet}
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 0:
				e.Kind = interfaces.KindDelete
			case 1:
				e.Value = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "value")
			case 2:
				e.Ovf = ValueRef{Page: rapid.Uint64Range(2, 1<<40).Draw(t, "page"), Gen: rapid.Uint64Range(1, 1<<40).Draw(t, "gen"), Len: rapid.Uint32Range(1, interfaces.MaxValueSize).Draw(t, "len")}
			}
			out = append(out, e)
		}
	}
	return out
}

func TestLeafRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entries := genEntries(t)
		img := AppendLeaf([]byte("junk"), entries)[4:]
		require.NoError(t, ValidateLeaf(img))
		bound := LeafHeaderSize
		for i := range entries {
			bound += LeafEntrySize(&entries[i])
		}
		require.LessOrEqual(t, len(img), bound, "LeafEntrySize must bound the image")
		l, err := ParseLeaf(img)
		require.NoError(t, err)
		require.Equal(t, len(entries), l.Len())
		for i, want := range entries {
			got := l.Entry(i)
			require.True(t, bytes.Equal(want.Key, l.AppendKey(nil, i)))
			require.Equal(t, want.Ts, got.Ts)
			require.Equal(t, want.Kind, got.Kind)
			require.Equal(t, want.Ovf, got.Ovf)
			require.Equal(t, i > 0 && bytes.Equal(want.Key, entries[i-1].Key), got.SameKey)
			if want.Kind == interfaces.KindSet && !want.Overflow() {
				require.Equal(t, len(want.Value), len(got.Value))
				require.True(t, bytes.Equal(want.Value, got.Value))
			}
		}
		// SearchGE agrees with a linear scan for probes in and around the
		// entries.
		probe := rapid.SliceOfN(rapid.SampledFrom([]byte{0, 'a', 'b', 0xff}), 0, 7).Draw(t, "probe")
		pts := rapid.Uint64().Draw(t, "probeTs")
		for _, p := range []struct {
			k  []byte
			ts uint64
		}{{probe, pts}, {entries[0].Key, entries[0].Ts}, {entries[len(entries)-1].Key, 0}} {
			want := len(entries)
			for i := range entries {
				if Compare(entries[i].Key, entries[i].Ts, p.k, p.ts) >= 0 {
					want = i
					break
				}
			}
			require.Equal(t, want, l.SearchGE(p.k, p.ts), "SearchGE(%q, %d)", p.k, p.ts)
		}
	})
}

func TestLeafWideOffsets(t *testing.T) {
	// Entries whose image passes 64 KiB switch to 4-byte offsets.
	var entries []LeafEntry
	for i := range 3 {
		entries = append(entries, LeafEntry{Key: []byte{byte('a' + i)}, Ts: 1, Kind: interfaces.KindSet, Value: bytes.Repeat([]byte{byte(i)}, 30000)})
	}
	img := AppendLeaf(nil, entries)
	require.Greater(t, len(img), math.MaxUint16)
	require.NoError(t, ValidateLeaf(img))
	l, err := ParseLeaf(img)
	require.NoError(t, err)
	require.Equal(t, 30000, len(l.Entry(2).Value))
	require.Equal(t, 2, l.SearchGE([]byte("c"), 5))
}

func TestLeafRejects(t *testing.T) {
	good := AppendLeaf(nil, []LeafEntry{
		{Key: []byte("ka"), Ts: 5, Kind: interfaces.KindSet, Value: []byte("v")},
		{Key: []byte("kb"), Ts: 3, Kind: interfaces.KindDelete},
	})
	require.NoError(t, ValidateLeaf(good))
	cases := []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }},
		{"wrong type", func(b []byte) []byte { b[0] = byte(TypeBranch); return b }},
		{"zero entries", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 0); return b }},
		{"too many entries", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 1000); return b }},
		{"prefix too long", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<20); return b }},
		{"ts zero", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[8:], 0); return b }},
		{"bad kind", func(b []byte) []byte { return bytes.Replace(b, []byte{byte(interfaces.KindDelete)}, []byte{3}, 1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, ValidateLeaf(c.mod(bytes.Clone(good))))
		})
	}
	// Entries out of order.
	bad := AppendLeaf(nil, []LeafEntry{
		{Key: []byte("b"), Ts: 5, Kind: interfaces.KindDelete},
		{Key: []byte("a"), Ts: 3, Kind: interfaces.KindDelete},
	})
	require.ErrorContains(t, ValidateLeaf(bad), "out of order")
}

func genChildren(t *rapid.T) []Child {
	n := rapid.IntRange(1, 12).Draw(t, "n")
	seps := rapid.SliceOfNDistinct(rapid.SliceOfN(rapid.SampledFrom([]byte{0, 'a', 'b', 0xff}), 0, 6), n-1, n-1,
		func(b []byte) string { return string(b) }).Draw(t, "seps")
	sort.Slice(seps, func(i, j int) bool { return bytes.Compare(seps[i], seps[j]) < 0 })
	out := []Child{{Page: rapid.Uint64Range(2, 1<<50).Draw(t, "page"), Gen: rapid.Uint64Range(1, 1<<50).Draw(t, "gen")}}
	for _, s := range seps {
		ts := uint64(math.MaxUint64)
		if rapid.Bool().Draw(t, "versioned") {
			ts = rapid.Uint64().Draw(t, "ts")
		}
		out = append(out, Child{Key: s, Ts: ts, Page: rapid.Uint64Range(2, 1<<50).Draw(t, "page"), Gen: rapid.Uint64Range(1, 1<<50).Draw(t, "gen")})
	}
	return out
}

func TestBranchRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		children := genChildren(t)
		img := AppendBranch(nil, children)
		require.NoError(t, ValidateBranch(img))
		bound := BranchHeaderSize
		for i := range children {
			bound += BranchChildSize(&children[i])
		}
		require.LessOrEqual(t, len(img), bound)
		b, err := ParseBranch(img)
		require.NoError(t, err)
		require.Equal(t, len(children), b.Len())
		for i, want := range children {
			got := b.Child(i)
			require.Equal(t, want.Page, got.Page)
			require.Equal(t, want.Gen, got.Gen)
			if i > 0 {
				k, ts := b.AppendSeparator(nil, i)
				require.True(t, bytes.Equal(want.Key, k), "separator %d: %q, want %q", i, k, want.Key)
				require.Equal(t, want.Ts, ts)
				require.True(t, b.SeparatorKeyIs(i, want.Key))
			}
		}
		probe := rapid.SliceOfN(rapid.SampledFrom([]byte{0, 'a', 'b', 0xff}), 0, 7).Draw(t, "probe")
		pts := rapid.Uint64().Draw(t, "probeTs")
		wantLE, wantLT := 0, 0
		for i := 1; i < len(children); i++ {
			c := Compare(children[i].Key, children[i].Ts, probe, pts)
			if c <= 0 {
				wantLE = i
			}
			if c < 0 {
				wantLT = i
			}
		}
		require.Equal(t, wantLE, b.Search(probe, pts))
		require.Equal(t, wantLT, b.SearchLT(probe, pts))
	})
}

func TestBranchRejects(t *testing.T) {
	good := AppendBranch(nil, []Child{{Page: 5, Gen: 1}, {Key: []byte("m"), Ts: math.MaxUint64, Page: 6, Gen: 2}})
	require.NoError(t, ValidateBranch(good))
	for _, c := range []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"child count zero", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 0); return b }},
		{"page id 1", func(b []byte) []byte { return bytes.Replace(b, []byte{5, 1}, []byte{1, 1}, 1) }},
		{"generation 0", func(b []byte) []byte { return bytes.Replace(b, []byte{5, 1}, []byte{5, 0}, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, ValidateBranch(c.mod(bytes.Clone(good))))
		})
	}
	bad := AppendBranch(nil, []Child{{Page: 5, Gen: 1}, {Key: []byte("m"), Ts: 1, Page: 6, Gen: 2}, {Key: []byte("a"), Ts: 1, Page: 7, Gen: 2}})
	require.ErrorContains(t, ValidateBranch(bad), "out of order")
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{Flags: MetaFlagSealed, PageSize: 4096, Gen: 7, Root: 9, RootGen: 6, Height: 2, PageCount: 40,
		FreeHead: 12, FreeHeadGen: 7, FreeRecords: 3, FreeSnapPages: 1, DurableTs: 1000, DiscardTs: 900, Versions: 55, Codec: 1}
	p := make([]byte, 4096)
	PutMeta(p, &m, 1)
	got, err := DecodeMeta(p, 1)
	require.NoError(t, err)
	require.Equal(t, m, got)
	_, err = DecodeMeta(p, 0)
	require.Error(t, err, "a meta read from the other slot")

	cases := []struct {
		name string
		mod  func(m *Meta)
	}{
		{"page size mismatch", func(m *Meta) { m.PageSize = 8192 }},
		{"root without height", func(m *Meta) { m.Height = 0 }},
		{"height without root", func(m *Meta) { m.Root, m.RootGen = 0, 0 }},
		{"root beyond the page count", func(m *Meta) { m.Root = 40 }},
		{"root generation from the future", func(m *Meta) { m.RootGen = 8 }},
		{"page count 1", func(m *Meta) { m.PageCount = 1 }},
		{"free head on a meta page", func(m *Meta) { m.FreeHead = 1 }},
		{"free head without generation", func(m *Meta) { m.FreeHeadGen = 0 }},
		{"records without a head", func(m *Meta) { m.FreeHead, m.FreeHeadGen = 0, 0 }},
		{"height too large", func(m *Meta) { m.Height = MaxHeight + 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mm := m
			c.mod(&mm)
			p := make([]byte, 4096)
			PutMeta(p, &mm, 1)
			_, err := DecodeMeta(p, 1)
			require.Error(t, err)
		})
	}
	// Another format version is incompatible, not corrupt.
	p = make([]byte, 4096)
	PutMeta(p, &m, 0)
	binary.LittleEndian.PutUint16(p[HeaderSize+8:], 2)
	binary.LittleEndian.PutUint32(p, Checksum(p))
	_, err = DecodeMeta(p, 0)
	require.ErrorIs(t, err, ErrIncompatibleMeta)
}

func TestFreeRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := FreeRecord{Kind: FreeDelta}
		if rapid.Bool().Draw(t, "snapshot") {
			r.Kind = FreeSnapshot
		} else {
			r.Removes = sortedIDs(t, "removes")
			r.TruncateTo = rapid.SampledFrom([]uint64{0, 2, 100, 1 << 40}).Draw(t, "truncate")
		}
		r.Adds = sortedIDs(t, "adds")
		if rapid.Bool().Draw(t, "prev") {
			r.Prev, r.PrevGen = rapid.Uint64Range(2, 1<<40).Draw(t, "prevPage"), rapid.Uint64Range(1, 1<<40).Draw(t, "prevGen")
		}
		b := AppendFreeRecord(nil, &r)
		require.LessOrEqual(t, len(b), FreeRecordSize(len(r.Adds), len(r.Removes)))
		got, err := DecodeFreeRecord(b)
		require.NoError(t, err)
		require.Equal(t, r, got)
	})
}

func sortedIDs(t *rapid.T, label string) []uint64 {
	ids := rapid.SliceOfNDistinct(rapid.Uint64Range(2, 1<<45), 0, 30, rapid.ID[uint64]).Draw(t, label)
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return ids
}

func TestFreeRecordRejects(t *testing.T) {
	good := AppendFreeRecord(nil, &FreeRecord{Kind: FreeDelta, Prev: 4, PrevGen: 2, Adds: []uint64{5, 9}, Removes: []uint64{7}})
	_, err := DecodeFreeRecord(good)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing byte", func(b []byte) []byte { return append(b, 1) }},
		{"unknown kind", func(b []byte) []byte { b[0] = 3; return b }},
		{"previous without generation", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[12:], 0); return b }},
		{"count beyond the bytes", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[28:], 1000); return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeFreeRecord(c.mod(bytes.Clone(good)))
			require.Error(t, err)
		})
	}
	// A snapshot cannot remove, and ids must increase and avoid the metas.
	for _, r := range []FreeRecord{
		{Kind: FreeSnapshot, Removes: []uint64{3}},
		{Kind: FreeSnapshot, Adds: []uint64{1}},
	} {
		_, err := DecodeFreeRecord(AppendFreeRecord(nil, &r))
		require.Error(t, err)
	}
	dup := AppendFreeRecord(nil, &FreeRecord{Kind: FreeSnapshot, Adds: []uint64{5}})
	dup = append(dup[:len(dup)-1], 5, 0) // second id: +0
	binary.LittleEndian.PutUint32(dup[28:], 2)
	_, err = DecodeFreeRecord(dup)
	require.Error(t, err, "ids must strictly increase")
}

func TestHead(t *testing.T) {
	cases := []struct {
		b    string
		want uint32
	}{
		{"", 0}, {"a", 0x61000000}, {"ab", 0x61620000}, {"abcd", 0x61626364}, {"abcdefg", 0x61626364}, {"\xff\xff\xff\xff\xff", 0xffffffff},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Head([]byte(c.b)), "Head(%q)", c.b)
	}
	// Heads never order two strings against their bytewise order.
	keys := []string{"", "\x00", "a", "a\x00", "ab", "abc", "abcd", "abcd\x00", "abce", "b", "\xff"}
	for _, a := range keys {
		for _, b := range keys {
			if Head([]byte(a)) < Head([]byte(b)) {
				require.Negative(t, bytes.Compare([]byte(a), []byte(b)), "%q vs %q", a, b)
			}
		}
	}
}

// TestUvarintFastPaths checks the inline varint decoders against
// encoding/binary, around every byte-count boundary, followed by other
// bytes (as in an image).
func TestUvarintFastPaths(t *testing.T) {
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000, 0xfffffff, math.MaxUint32, math.MaxUint64} {
		b := binary.AppendUvarint([]byte{0xff}, v)
		b = append(b, 0x81, 0x01)
		n := len(b) - 3
		for name, f := range map[string]func([]byte, int) (uint64, int){"uvarint": uvarint, "uvarint2": uvarint2, "uvarint3": uvarint3} {
			got, p := f(b, 1)
			require.Equal(t, v, got, "%s(%d)", name, v)
			require.Equal(t, 1+n, p, "%s(%d) end", name, v)
		}
	}
}

// TestDecodeAtChains checks that DecodeAt returns the next entry's offset,
// and decodes as Decode does, through a leaf with every kind of entry and
// a value area past three-byte positions.
func TestDecodeAtChains(t *testing.T) {
	var entries []LeafEntry
	for i := range 400 {
		e := LeafEntry{Key: []byte{'k', byte(i >> 8), byte(i)}, Ts: uint64(1000 - i%3), Kind: interfaces.KindSet}
		switch i % 7 {
		case 3:
			e.Kind = interfaces.KindDelete
		case 5:
			e.Ovf = ValueRef{Page: uint64(10 + i), Gen: 3, Len: 5000}
		default:
			e.Value = bytes.Repeat([]byte{byte(i)}, 150)
		}
		entries = append(entries, e)
	}
	img := AppendLeaf(nil, entries)
	require.NoError(t, ValidateLeaf(img))
	l, err := ParseLeaf(img)
	require.NoError(t, err)
	require.Greater(t, len(img)-l.values, 1<<14, "the value area must need three-byte positions")
	off := l.Offset(0)
	for i := range l.Len() {
		require.Equal(t, l.Offset(i), off, "entry %d", i)
		var a, b LeafEntry
		off = l.DecodeAt(off, &a)
		l.Decode(i, &b)
		require.Equal(t, b, a, "entry %d", i)
		require.Equal(t, entries[i].Ts, a.Ts)
		require.Equal(t, entries[i].Kind, a.Kind)
		if entries[i].Kind == interfaces.KindSet && !entries[i].Overflow() {
			require.Equal(t, entries[i].Value, a.Value, "entry %d", i)
		}
		require.Equal(t, entries[i].Ovf, a.Ovf, "entry %d", i)
	}
	require.Equal(t, l.values, off)
}
