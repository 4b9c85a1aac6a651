package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"

	"github.com/lightningdb/lightning/interfaces"
)

// The table format; doc.go draws it byte by byte.
const (
	// tableMagic ends every footer.
	tableMagic = "LTNGSST\x01"
	// FormatVersion is the table format this package writes and reads.
	FormatVersion = 1

	// footerLen is the size of the footer, the last bytes of every table.
	footerLen = 68
	// blockTrailerLen is the size of the trailer behind every physical
	// block's payload: the codec ID and a CRC-32C.
	blockTrailerLen = 5

	// flagSealed marks a table whose block payloads are sealed by a Cipher.
	flagSealed = 1 << 0
	knownFlags = flagSealed

	// adLen is the length of a block's additional data (see blockAD).
	adLen = 18

	// MaxBlockSize bounds WriterOptions.BlockSize.
	MaxBlockSize = 16 << 20
	// maxEntryLen is the largest encoded block entry: three uvarints of at
	// most 5 bytes, an internal key and a value at their limits.
	maxEntryLen = 15 + interfaces.MaxKeySize + 8 + interfaces.MaxValueSize
	// maxRawBlockLen bounds a block's decoded size: a writer closes a
	// block before it passes BlockSize unless a single entry is larger,
	// and the restart array adds 8 bytes to a one-entry block. Anything
	// larger is corrupt.
	maxRawBlockLen = MaxBlockSize + maxEntryLen + 8
)

// blockType names what a block holds. It is not stored in the block; it is
// part of the additional data a sealed block is bound to, so a block of one
// type cannot be passed off as another.
type blockType uint8

const (
	blockData       blockType = 1
	blockIndex      blockType = 2
	blockFilter     blockType = 3
	blockProperties blockType = 4
)

func (t blockType) String() string {
	switch t {
	case blockData:
		return "data"
	case blockIndex:
		return "index"
	case blockFilter:
		return "filter"
	case blockProperties:
		return "properties"
	}
	return fmt.Sprintf("block type %d", uint8(t))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// blockCRC returns the checksum stored in a block's trailer: CRC-32C over
// the payload and then the codec byte.
func blockCRC(payload []byte, codec interfaces.CodecID) uint32 {
	c := crc32.Update(0, castagnoli, payload)
	return crc32.Update(c, castagnoli, []byte{byte(codec)})
}

// blockAD appends the additional data a block is sealed with: the table's
// file number, the block's offset, its codec ID and its type. Binding the
// offset and file number makes a block moved within the table or into
// another table fail to open; binding the codec ID (which the CRC covers
// but cannot authenticate) and the type stops a forged trailer or footer
// from having an authentic payload decoded the wrong way.
func blockAD(dst []byte, fileNum, offset uint64, codec interfaces.CodecID, typ blockType) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, fileNum)
	dst = binary.LittleEndian.AppendUint64(dst, offset)
	return append(dst, byte(codec), byte(typ))
}

// handle locates a physical block: its offset in the file and the length of
// its payload, not counting the blockTrailerLen bytes of trailer behind it.
type handle struct {
	offset uint64
	length uint64
}

// end returns the offset just past the block's trailer.
func (h handle) end() uint64 { return h.offset + h.length + blockTrailerLen }

func (h handle) isZero() bool { return h.offset == 0 && h.length == 0 }

// footer is the fixed-size record at the end of a table.
type footer struct {
	index, filter, properties handle
	version                   uint32
	flags                     uint32
}

func (f footer) sealed() bool { return f.flags&flagSealed != 0 }

// hasFilter reports whether the table has a filter block; a table without
// one stores a zero handle (no real block has an empty payload).
func (f footer) hasFilter() bool { return !f.filter.isZero() }

func (f footer) encode(dst []byte) []byte {
	start := len(dst)
	for _, h := range [...]handle{f.index, f.filter, f.properties} {
		dst = binary.LittleEndian.AppendUint64(dst, h.offset)
		dst = binary.LittleEndian.AppendUint64(dst, h.length)
	}
	dst = binary.LittleEndian.AppendUint32(dst, f.version)
	dst = binary.LittleEndian.AppendUint32(dst, f.flags)
	dst = append(dst, tableMagic...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeFooter decodes and checks the last footerLen bytes of a table of
// size bytes called name. Damage is a *interfaces.CorruptionError; another
// format version, unknown flags, or a table sealed when no cipher is
// configured (or plain when one is) match interfaces.ErrIncompatible. On
// success every handle lies inside the file, and the blocks tile it: data
// blocks from 0 up to the filter (or index) block, then the filter, index
// and properties blocks, then the footer, with no gap and no overlap.
func decodeFooter(b []byte, size int64, name string, haveCipher bool) (footer, error) {
	var f footer
	off := size - footerLen
	if size < footerLen || len(b) != footerLen {
		return f, interfaces.Corruptf(name, off, "footer of %d bytes, want %d", len(b), footerLen)
	}
	if string(b[56:64]) != tableMagic {
		return f, interfaces.Corruptf(name, off, "bad magic %q: not a table", b[56:64])
	}
	if want, got := binary.LittleEndian.Uint32(b[64:]), crc32.Checksum(b[:64], castagnoli); want != got {
		return f, interfaces.Corruptf(name, off, "footer checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	hs := [3]*handle{&f.index, &f.filter, &f.properties}
	for i, h := range hs {
		h.offset = binary.LittleEndian.Uint64(b[16*i:])
		h.length = binary.LittleEndian.Uint64(b[16*i+8:])
	}
	f.version = binary.LittleEndian.Uint32(b[48:])
	f.flags = binary.LittleEndian.Uint32(b[52:])
	if f.version != FormatVersion {
		return f, fmt.Errorf("lightning/lsm/sstable: %s: format version %d, this build reads %d: %w",
			name, f.version, FormatVersion, interfaces.ErrIncompatible)
	}
	if f.flags&^knownFlags != 0 {
		return f, fmt.Errorf("lightning/lsm/sstable: %s: unknown flags %#x: %w", name, f.flags, interfaces.ErrIncompatible)
	}
	switch {
	case f.sealed() && !haveCipher:
		return f, fmt.Errorf("lightning/lsm/sstable: %s is encrypted and no cipher is configured: %w", name, interfaces.ErrIncompatible)
	case !f.sealed() && haveCipher:
		// A plain table where an encrypted one is expected could be a
		// substitute planted by someone without the key.
		return f, fmt.Errorf("lightning/lsm/sstable: %s is not encrypted and a cipher is configured: %w", name, interfaces.ErrIncompatible)
	}
	// Every length is checked against the file size before any sum, so
	// nothing below overflows.
	for _, h := range hs {
		if h.offset > uint64(size) || h.length > uint64(size) {
			return f, interfaces.Corruptf(name, off, "block handle {%d, %d} outside a file of %d bytes", h.offset, h.length, size)
		}
	}
	if f.properties.end() != uint64(off) {
		return f, interfaces.Corruptf(name, off, "properties block {%d, %d} does not end at the footer", f.properties.offset, f.properties.length)
	}
	if f.index.end() != f.properties.offset {
		return f, interfaces.Corruptf(name, off, "index block {%d, %d} does not end at the properties block", f.index.offset, f.index.length)
	}
	if f.hasFilter() && f.filter.end() != f.index.offset {
		return f, interfaces.Corruptf(name, off, "filter block {%d, %d} does not end at the index block", f.filter.offset, f.filter.length)
	}
	for _, h := range hs {
		if h == &f.filter && !f.hasFilter() {
			continue
		}
		if h.length == 0 {
			return f, interfaces.Corruptf(name, off, "empty block at %d", h.offset)
		}
	}
	return f, nil
}

// dataEnd returns the offset where the data blocks end.
func (f footer) dataEnd() uint64 {
	if f.hasFilter() {
		return f.filter.offset
	}
	return f.index.offset
}

// readFull reads len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// grow returns b resized to n bytes, reallocating when it is too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n, n+n/4)
	}
	return b[:n]
}

// uvarintLen returns the length of the uvarint encoding of x.
func uvarintLen(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}
