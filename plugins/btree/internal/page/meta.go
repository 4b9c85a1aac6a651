package page

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Meta page layout: pages 0 and 1 of the file. A commit writes the meta of
// generation g to page g%2; the valid meta with the highest generation is
// the database. The page header carries the generation (and the page id,
// 0 or 1); the payload:
//
//	0   8  magic "LTNGBTRE"
//	8   2  format version, 1
//	10  2  flags: bit 0 every page but the metas is sealed by a Cipher
//	12  4  page size
//	16  8  root page id, 0 for an empty tree
//	24  8  root generation
//	32  4  height: levels of the tree, 0 for an empty tree, 1 when the
//	       root is a leaf
//	36  4  reserved, 0
//	40  8  page count: the file's size in pages; every page id is below
//	48  8  free-list head: the newest free-list record, 0 for none
//	56  8  free-list head generation
//	64  4  free-list records since (and including) the last snapshot
//	68  4  pages of the last free-list snapshot
//	72  8  durable ts: the tree holds every version with ts <= it, none
//	       newer
//	80  8  discard ts
//	88  8  versions in the tree
//	96  1  codec ID the writer compressed leaves with, informative
//	97  7  reserved, 0
const (
	MetaMagic   = "LTNGBTRE"
	MetaVersion = 1
	MetaSize    = 104
	// MaxHeight bounds the tree height a meta may claim.
	MaxHeight = 64
	// MetaFlagSealed says the pages of the file are sealed.
	MetaFlagSealed = 1 << 0
)

// Meta is the content of a meta page.
type Meta struct {
	Flags         uint16
	PageSize      uint32
	Gen           uint64
	Root          uint64
	RootGen       uint64
	Height        uint32
	PageCount     uint64
	FreeHead      uint64
	FreeHeadGen   uint64
	FreeRecords   uint32
	FreeSnapPages uint32
	DurableTs     uint64
	DiscardTs     uint64
	Versions      uint64
	Codec         uint8
}

// PutMeta writes m into p, a whole page, as meta page slot (0 or 1).
func PutMeta(p []byte, m *Meta, slot uint64) {
	b := p[HeaderSize:]
	clear(b[:MetaSize])
	copy(b, MetaMagic)
	binary.LittleEndian.PutUint16(b[8:], MetaVersion)
	binary.LittleEndian.PutUint16(b[10:], m.Flags)
	binary.LittleEndian.PutUint32(b[12:], m.PageSize)
	binary.LittleEndian.PutUint64(b[16:], m.Root)
	binary.LittleEndian.PutUint64(b[24:], m.RootGen)
	binary.LittleEndian.PutUint32(b[32:], m.Height)
	binary.LittleEndian.PutUint64(b[40:], m.PageCount)
	binary.LittleEndian.PutUint64(b[48:], m.FreeHead)
	binary.LittleEndian.PutUint64(b[56:], m.FreeHeadGen)
	binary.LittleEndian.PutUint32(b[64:], m.FreeRecords)
	binary.LittleEndian.PutUint32(b[68:], m.FreeSnapPages)
	binary.LittleEndian.PutUint64(b[72:], m.DurableTs)
	binary.LittleEndian.PutUint64(b[80:], m.DiscardTs)
	binary.LittleEndian.PutUint64(b[88:], m.Versions)
	b[96] = m.Codec
	h := Header{Type: TypeMeta, ID: slot, Gen: m.Gen, Len: MetaSize}
	h.Put(p)
}

// ErrIncompatibleMeta is wrapped by DecodeMeta's error for a meta page
// that is intact but of another format version or with unknown flags.
var ErrIncompatibleMeta = errors.New("incompatible meta page")

// DecodeMeta verifies p, a whole page expected at slot, and decodes it.
func DecodeMeta(p []byte, slot uint64) (Meta, error) {
	h, err := Verify(p)
	if err != nil {
		return Meta{}, err
	}
	if h.Type != TypeMeta || h.ID != slot || h.Len != MetaSize {
		return Meta{}, fmt.Errorf("not meta page %d", slot)
	}
	b := p[HeaderSize : HeaderSize+MetaSize]
	if string(b[:8]) != MetaMagic {
		return Meta{}, errors.New("bad meta magic")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != MetaVersion {
		return Meta{}, fmt.Errorf("meta format version %d (this engine reads %d): %w", v, MetaVersion, ErrIncompatibleMeta)
	}
	m := Meta{
		Flags:         binary.LittleEndian.Uint16(b[10:]),
		PageSize:      binary.LittleEndian.Uint32(b[12:]),
		Gen:           h.Gen,
		Root:          binary.LittleEndian.Uint64(b[16:]),
		RootGen:       binary.LittleEndian.Uint64(b[24:]),
		Height:        binary.LittleEndian.Uint32(b[32:]),
		PageCount:     binary.LittleEndian.Uint64(b[40:]),
		FreeHead:      binary.LittleEndian.Uint64(b[48:]),
		FreeHeadGen:   binary.LittleEndian.Uint64(b[56:]),
		FreeRecords:   binary.LittleEndian.Uint32(b[64:]),
		FreeSnapPages: binary.LittleEndian.Uint32(b[68:]),
		DurableTs:     binary.LittleEndian.Uint64(b[72:]),
		DiscardTs:     binary.LittleEndian.Uint64(b[80:]),
		Versions:      binary.LittleEndian.Uint64(b[88:]),
		Codec:         b[96],
	}
	if m.Flags&^MetaFlagSealed != 0 {
		return Meta{}, fmt.Errorf("meta flags %#x: %w", m.Flags, ErrIncompatibleMeta)
	}
	for _, x := range b[97:MetaSize] {
		if x != 0 {
			return Meta{}, errors.New("reserved meta bytes are not zero")
		}
	}
	switch {
	case binary.LittleEndian.Uint32(b[36:]) != 0:
		return Meta{}, errors.New("reserved meta field is not zero")
	case int(m.PageSize) != len(p) || !ValidPageSize(len(p)):
		return Meta{}, fmt.Errorf("meta page size %d on a %d-byte page", m.PageSize, len(p))
	case m.Height > MaxHeight:
		return Meta{}, fmt.Errorf("tree height %d", m.Height)
	case (m.Root == 0) != (m.Height == 0), m.Root != 0 && (m.Root < 2 || m.RootGen == 0 || m.RootGen > m.Gen):
		return Meta{}, fmt.Errorf("bad root %d (generation %d, height %d)", m.Root, m.RootGen, m.Height)
	case m.PageCount < 2 || m.Root >= m.PageCount || m.FreeHead >= m.PageCount:
		return Meta{}, fmt.Errorf("page count %d with root %d and free-list head %d", m.PageCount, m.Root, m.FreeHead)
	case m.FreeHead == 1 || (m.FreeHead != 0) != (m.FreeHeadGen != 0) || m.FreeHeadGen > m.Gen:
		return Meta{}, fmt.Errorf("bad free-list head %d (generation %d)", m.FreeHead, m.FreeHeadGen)
	case m.FreeHead == 0 && m.FreeRecords != 0:
		return Meta{}, errors.New("free-list records without a head")
	}
	return m, nil
}

// Free-list record layout: the payload of a free-list blob. The records form
// a chain from the meta's head back to the oldest, a snapshot; replaying
// them oldest first gives the set of free pages of the meta's generation.
//
//	0   1  kind: 1 snapshot (the whole set), 2 delta (changes)
//	1   3  reserved, 0
//	4   8  previous (older) record's first page, 0 for the oldest
//	12  8  previous record's generation
//	20  8  delta: the page count the file was cut to (ids at or above it
//	       leave the set, after the removals), 0 for none; snapshot: 0
//	28  4  count of added ids a
//	32  4  count of removed ids r (0 in a snapshot)
//	36     a uvarints: the added ids, strictly increasing, each stored as
//	       the difference from the previous (the first from 0)
//	.      r uvarints: the removed ids, likewise
const (
	FreeSnapshot = 1
	FreeDelta    = 2
	freeHeader   = 36
)

// FreeRecord is a decoded free-list record.
type FreeRecord struct {
	Kind       uint8
	Prev       uint64
	PrevGen    uint64
	TruncateTo uint64
	Adds       []uint64
	Removes    []uint64
}

// AppendFreeRecord appends the encoding of r to dst. Adds and Removes must
// be strictly increasing.
func AppendFreeRecord(dst []byte, r *FreeRecord) []byte {
	dst = append(dst, r.Kind, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, r.Prev)
	dst = binary.LittleEndian.AppendUint64(dst, r.PrevGen)
	dst = binary.LittleEndian.AppendUint64(dst, r.TruncateTo)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Adds)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Removes)))
	for _, ids := range [][]uint64{r.Adds, r.Removes} {
		prev := uint64(0)
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, id-prev)
			prev = id
		}
	}
	return dst
}

// FreeRecordSize returns an upper bound on the encoding of a record with
// the given ids.
func FreeRecordSize(adds, removes int) int {
	return freeHeader + 10*(adds+removes)
}

// DecodeFreeRecord decodes and checks a free-list record.
func DecodeFreeRecord(b []byte) (FreeRecord, error) {
	if len(b) < freeHeader {
		return FreeRecord{}, fmt.Errorf("free-list record of %d bytes", len(b))
	}
	r := FreeRecord{
		Kind:       b[0],
		Prev:       binary.LittleEndian.Uint64(b[4:]),
		PrevGen:    binary.LittleEndian.Uint64(b[12:]),
		TruncateTo: binary.LittleEndian.Uint64(b[20:]),
	}
	na := binary.LittleEndian.Uint32(b[28:])
	nr := binary.LittleEndian.Uint32(b[32:])
	switch {
	case r.Kind != FreeSnapshot && r.Kind != FreeDelta:
		return FreeRecord{}, fmt.Errorf("free-list record kind %d", r.Kind)
	case b[1] != 0 || b[2] != 0 || b[3] != 0:
		return FreeRecord{}, errors.New("free-list record reserved bytes are not zero")
	case r.Kind == FreeSnapshot && (nr != 0 || r.TruncateTo != 0):
		return FreeRecord{}, errors.New("free-list snapshot with removals")
	case (r.Prev == 0) != (r.PrevGen == 0) || r.Prev == 1:
		return FreeRecord{}, fmt.Errorf("bad previous record %d (generation %d)", r.Prev, r.PrevGen)
	case uint64(na)+uint64(nr) > uint64(len(b)-freeHeader):
		return FreeRecord{}, fmt.Errorf("free-list record claims %d ids in %d bytes", uint64(na)+uint64(nr), len(b))
	case r.TruncateTo == 1:
		return FreeRecord{}, errors.New("free-list record truncates to 1 page")
	}
	p := b[freeHeader:]
	var err error
	if r.Adds, p, err = decodeIDs(p, int(na)); err != nil {
		return FreeRecord{}, fmt.Errorf("free-list additions: %w", err)
	}
	if r.Removes, p, err = decodeIDs(p, int(nr)); err != nil {
		return FreeRecord{}, fmt.Errorf("free-list removals: %w", err)
	}
	if len(p) != 0 {
		return FreeRecord{}, fmt.Errorf("free-list record has %d stray bytes", len(p))
	}
	return r, nil
}

func decodeIDs(p []byte, n int) ([]uint64, []byte, error) {
	if n == 0 {
		return nil, p, nil
	}
	ids := make([]uint64, n)
	prev := uint64(0)
	for i := range ids {
		d, k := binary.Uvarint(p)
		if k <= 0 || d == 0 || d > ^uint64(0)-prev {
			return nil, nil, fmt.Errorf("bad id %d", i)
		}
		prev += d
		if prev < 2 {
			return nil, nil, fmt.Errorf("id %d names a meta page", i)
		}
		ids[i] = prev
		p = p[k:]
	}
	return ids, p, nil
}
