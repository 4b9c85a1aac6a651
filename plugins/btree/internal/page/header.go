package page

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// Page sizes.
const (
	// MinPageSize is the smallest page size a file may have.
	MinPageSize = 1 << 10
	// MaxPageSize is the largest page size a file may have. Offsets inside
	// a single-page image fit in 16 bits up to it.
	MaxPageSize = 64 << 10
	// DefaultPageSize is the page size of a new file unless configured.
	DefaultPageSize = 4 << 10
	// HeaderSize is the size of the page header.
	HeaderSize = 40
)

// Type is a page's type.
type Type uint8

// Page types. The numbers are stable: they are stored in every page.
const (
	TypeMeta     Type = 1
	TypeBranch   Type = 2
	TypeLeaf     Type = 3
	TypeValue    Type = 4
	TypeFreelist Type = 5
)

func (t Type) String() string {
	switch t {
	case TypeMeta:
		return "meta"
	case TypeBranch:
		return "branch"
	case TypeLeaf:
		return "leaf"
	case TypeValue:
		return "value"
	case TypeFreelist:
		return "freelist"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Header flags.
const (
	FlagSealed       uint8 = 1 << 0
	FlagCompressed   uint8 = 1 << 1
	FlagContinuation uint8 = 1 << 2
	knownFlags             = FlagSealed | FlagCompressed | FlagContinuation
)

// Header is the decoded header of a page.
type Header struct {
	Type  Type
	Flags uint8
	Codec uint8
	ID    uint64
	Gen   uint64
	Next  uint64
	// Len is the payload length in this page.
	Len uint32
	// RawLen is, on the first page of a blob, the blob's decoded length.
	RawLen uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ValidPageSize reports whether n is a page size a file may have.
func ValidPageSize(n int) bool {
	return n >= MinPageSize && n <= MaxPageSize && bits.OnesCount(uint(n)) == 1
}

// Put writes h into the header of p and zeroes the rest of the page after
// the payload, which the caller has already copied to p[HeaderSize:]. It
// then sets the checksum. len(p) is the page size.
func (h *Header) Put(p []byte) {
	p[4] = byte(h.Type)
	p[5] = h.Flags
	p[6] = h.Codec
	p[7] = 0
	binary.LittleEndian.PutUint64(p[8:], h.ID)
	binary.LittleEndian.PutUint64(p[16:], h.Gen)
	binary.LittleEndian.PutUint64(p[24:], h.Next)
	binary.LittleEndian.PutUint32(p[32:], h.Len)
	binary.LittleEndian.PutUint32(p[36:], h.RawLen)
	clear(p[HeaderSize+int(h.Len):])
	binary.LittleEndian.PutUint32(p[0:], Checksum(p))
}

// Checksum returns the checksum a page should carry: the CRC-32C of every
// byte after the checksum field.
func Checksum(p []byte) uint32 {
	return crc32.Checksum(p[4:], castagnoli)
}

// Problems Verify reports. They are plain errors: the engine wraps them in
// a *interfaces.CorruptionError naming the file and offset.
var (
	ErrChecksum  = errors.New("checksum mismatch")
	ErrShortPage = errors.New("page shorter than its header")
)

// Verify checks p's checksum and the consistency of its header, and returns
// the header. It does not check the page id or generation against what the
// caller expected; the caller does.
func Verify(p []byte) (Header, error) {
	if len(p) < HeaderSize {
		return Header{}, ErrShortPage
	}
	if binary.LittleEndian.Uint32(p) != Checksum(p) {
		return Header{}, ErrChecksum
	}
	return parseHeader(p)
}

// ParseHeader decodes p's header without verifying the checksum, checking
// only that its fields are consistent.
func ParseHeader(p []byte) (Header, error) {
	if len(p) < HeaderSize {
		return Header{}, ErrShortPage
	}
	return parseHeader(p)
}

func parseHeader(p []byte) (Header, error) {
	h := Header{
		Type:   Type(p[4]),
		Flags:  p[5],
		Codec:  p[6],
		ID:     binary.LittleEndian.Uint64(p[8:]),
		Gen:    binary.LittleEndian.Uint64(p[16:]),
		Next:   binary.LittleEndian.Uint64(p[24:]),
		Len:    binary.LittleEndian.Uint32(p[32:]),
		RawLen: binary.LittleEndian.Uint32(p[36:]),
	}
	switch {
	case h.Type < TypeMeta || h.Type > TypeFreelist:
		return h, fmt.Errorf("unknown page type %d", p[4])
	case h.Flags&^knownFlags != 0:
		return h, fmt.Errorf("unknown page flags %#x", h.Flags)
	case p[7] != 0:
		return h, fmt.Errorf("reserved header byte is %#x", p[7])
	case uint64(h.Len) > uint64(len(p)-HeaderSize):
		return h, fmt.Errorf("payload length %d exceeds the page", h.Len)
	case h.Flags&FlagCompressed == 0 && h.Codec != 0:
		return h, fmt.Errorf("codec %d named on an uncompressed page", h.Codec)
	case h.Flags&FlagContinuation != 0 && (h.RawLen != 0 || h.Flags&FlagCompressed != 0):
		return h, errors.New("continuation page carries blob fields")
	case h.Type == TypeMeta && (h.Flags != 0 || h.Next != 0):
		return h, errors.New("meta page with flags or a next page")
	}
	return h, nil
}

// Payload returns the payload of a page whose header is h.
func Payload(p []byte, h Header) []byte {
	return p[HeaderSize : HeaderSize+int(h.Len)]
}

// AppendAD appends the additional data a page's payload is sealed with:
// the page's id, generation and type, so a sealed payload opens only in the
// page it was written to.
func AppendAD(dst []byte, id, gen uint64, t Type) []byte {
	dst = append(dst, "ltbt"...)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, gen)
	return append(dst, byte(t))
}
