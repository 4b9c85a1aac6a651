package page

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
)

// Fuzz targets for every decoder of the package. Each seed corpus (f.Add)
// runs in plain `go test`; `go test -fuzz FuzzX` explores further. A decoder
// must never panic, and whatever it accepts must be readable in full by the
// accessors the engine uses.

func seedLeaf() []byte {
	return AppendLeaf(nil, []LeafEntry{
		{Key: []byte("apple"), Ts: 9, Kind: interfaces.KindSet, Value: []byte("red")},
		{Key: []byte("apple"), Ts: 3, Kind: interfaces.KindDelete},
		{Key: []byte("apricot"), Ts: 4, Kind: interfaces.KindSet, Ovf: ValueRef{Page: 12, Gen: 2, Len: 5000}},
	})
}

func seedBranch() []byte {
	return AppendBranch(nil, []Child{
		{Page: 4, Gen: 1},
		{Key: []byte("m"), Ts: math.MaxUint64, Page: 7, Gen: 2},
		{Key: []byte("m"), Ts: 5, Page: 9, Gen: 3},
		{Key: []byte("t"), Ts: math.MaxUint64, Page: 11, Gen: 3},
	})
}

// exerciseLeaf reads every entry of a validated leaf and searches it.
func exerciseLeaf(t *testing.T, img, probe []byte, ts uint64) {
	l, err := ParseLeaf(img)
	if err != nil {
		t.Fatalf("ParseLeaf of a valid leaf: %v", err)
	}
	off := l.Offset(0)
	for i := range l.Len() {
		e := l.Entry(i)
		_ = l.AppendKey(nil, i)
		// ScanAt reads what Entry reads, and chains to the next entry.
		ks, kn, ts, flags, vs, vn, next := l.ScanAt(off)
		img := l.Image()
		if off != l.Offset(i) || !bytes.Equal(img[ks:ks+kn], e.Key) || ts != e.Ts || flags.Kind() != e.Kind ||
			flags.SameKey() != e.SameKey || flags.Overflow() != e.Overflow() {
			t.Fatalf("ScanAt of entry %d disagrees with Entry", i)
		}
		if e.Kind == interfaces.KindSet && !e.Overflow() && !bytes.Equal(img[vs:vs+vn], e.Value) {
			t.Fatalf("ScanAt value of entry %d disagrees with Entry", i)
		}
		off = next
	}
	if i := l.SearchGE(probe, ts); i < 0 || i > l.Len() {
		t.Fatalf("SearchGE = %d of %d", i, l.Len())
	}
}

func FuzzLeaf(f *testing.F) {
	f.Add(seedLeaf(), []byte("apple"), uint64(5))
	f.Add(AppendLeaf(nil, []LeafEntry{{Key: nil, Ts: 1, Kind: interfaces.KindSet}}), []byte{}, uint64(1))
	f.Add([]byte{3, 0, 0, 0, 1, 0, 0, 0}, []byte("x"), uint64(0))
	f.Add([]byte{}, []byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, img, probe []byte, ts uint64) {
		if ValidateLeaf(img) != nil {
			return
		}
		exerciseLeaf(t, img, probe, ts)
	})
}

func FuzzBranch(f *testing.F) {
	f.Add(seedBranch(), []byte("n"), uint64(5))
	f.Add(AppendBranch(nil, []Child{{Page: 2, Gen: 1}}), []byte{}, uint64(0))
	f.Add([]byte{2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, []byte("x"), uint64(1))
	f.Fuzz(func(t *testing.T, img, probe []byte, ts uint64) {
		if ValidateBranch(img) != nil {
			return
		}
		b, err := ParseBranch(img)
		if err != nil {
			t.Fatalf("ParseBranch of a valid branch: %v", err)
		}
		for i := range b.Len() {
			c := b.Child(i)
			if pg, gen := b.ChildRef(i); pg != c.Page || gen != c.Gen {
				t.Fatalf("ChildRef(%d) = %d, %d; Child says %d, %d", i, pg, gen, c.Page, c.Gen)
			}
			if i > 0 {
				_, _ = b.AppendSeparator(nil, i)
				_ = b.SeparatorKeyIs(i, probe)
			}
		}
		for _, i := range []int{b.Search(probe, ts), b.SearchLT(probe, ts)} {
			if i < 0 || i >= b.Len() {
				t.Fatalf("search = %d of %d children", i, b.Len())
			}
		}
	})
}

// FuzzPage decodes a whole page as the engine does: header and checksum,
// then the payload as the image its type names.
func FuzzPage(f *testing.F) {
	for _, seed := range []struct {
		t   Type
		img []byte
	}{{TypeLeaf, seedLeaf()}, {TypeBranch, seedBranch()}, {TypeValue, []byte("value bytes")}} {
		p := make([]byte, MinPageSize)
		copy(p[HeaderSize:], seed.img)
		h := Header{Type: seed.t, ID: 5, Gen: 2, Len: uint32(len(seed.img)), RawLen: uint32(len(seed.img))}
		h.Put(p)
		f.Add(p)
	}
	meta := make([]byte, MinPageSize)
	PutMeta(meta, &Meta{PageSize: MinPageSize, PageCount: 2}, 0)
	f.Add(meta)
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := Verify(p)
		if err != nil {
			// Without a valid checksum, the header parse must still not
			// panic (the verified map path reads headers).
			_, _ = ParseHeader(p)
			return
		}
		pl := Payload(p, h)
		switch h.Type {
		case TypeLeaf:
			if ValidateLeaf(pl) == nil {
				exerciseLeaf(t, pl, []byte("a"), 1)
			}
		case TypeBranch:
			_ = ValidateBranch(pl)
		case TypeFreelist:
			_, _ = DecodeFreeRecord(pl)
		case TypeMeta:
			if ValidPageSize(len(p)) {
				_, _ = DecodeMeta(p, h.ID)
			}
		}
	})
}

func FuzzMeta(f *testing.F) {
	for _, ps := range []int{MinPageSize, DefaultPageSize} {
		p := make([]byte, ps)
		PutMeta(p, &Meta{PageSize: uint32(ps), Gen: 3, Root: 5, RootGen: 2, Height: 1, PageCount: 9, FreeHead: 6, FreeHeadGen: 3, FreeRecords: 1, DurableTs: 10}, 1)
		f.Add(p, uint64(1))
	}
	f.Add(make([]byte, MinPageSize), uint64(0))
	f.Fuzz(func(t *testing.T, p []byte, slot uint64) {
		m, err := DecodeMeta(p, slot)
		if err != nil {
			return
		}
		if int(m.PageSize) != len(p) || m.Root >= m.PageCount || m.FreeHead >= m.PageCount {
			t.Fatalf("DecodeMeta accepted an inconsistent meta: %+v", m)
		}
	})
}

func FuzzFreeRecord(f *testing.F) {
	f.Add(AppendFreeRecord(nil, &FreeRecord{Kind: FreeSnapshot, Adds: []uint64{2, 3, 900}}))
	f.Add(AppendFreeRecord(nil, &FreeRecord{Kind: FreeDelta, Prev: 8, PrevGen: 3, TruncateTo: 50, Adds: []uint64{10}, Removes: []uint64{4, 5}}))
	f.Add([]byte{2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeFreeRecord(b)
		if err != nil {
			return
		}
		for _, ids := range [][]uint64{r.Adds, r.Removes} {
			for i, id := range ids {
				if id < 2 || (i > 0 && id <= ids[i-1]) {
					t.Fatalf("DecodeFreeRecord accepted ids %v", ids)
				}
			}
		}
		// What decodes encodes back to the same bytes.
		if got := AppendFreeRecord(nil, &r); string(got) != string(b) {
			// Only non-minimal uvarints can differ; decode them again.
			if r2, err := DecodeFreeRecord(got); err != nil || len(r2.Adds) != len(r.Adds) {
				t.Fatalf("re-encoding changed the record: %v", err)
			}
		}
		_ = binary.LittleEndian
	})
}
