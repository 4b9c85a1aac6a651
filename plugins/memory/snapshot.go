package memory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/lightningdb/lightning/interfaces"
)

// The snapshot file format; doc.go draws it byte by byte.
const (
	snapshotMagic   = "LTNGMEM\x00"
	formatVersion   = 1
	headerSize      = 36
	blockHeaderSize = 16
	blockCRCSize    = 4
	footerSize      = 20

	// flagSealed marks a snapshot whose block payloads are sealed by a
	// Cipher.
	flagSealed = 1 << 0
	knownFlags = flagSealed

	// adPrefix starts the additional data a block is sealed with.
	adPrefix = "memory-snapshot"

	// maxEntrySize is the largest encoded entry: kind, ts, two uvarints
	// of at most 4 bytes each, a key and a value at their limits.
	maxEntrySize = 1 + 8 + 4 + interfaces.MaxKeySize + 4 + interfaces.MaxValueSize
	// maxRawBlock bounds a block's decoded size. A writer closes a block
	// before it passes BlockSize, except that a block always takes one
	// entry, so no valid block is larger; the bound keeps a corrupt header
	// from asking for a huge allocation.
	maxRawBlock = max(MaxBlockSize, maxEntrySize)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotHeader is the fixed header of a snapshot file.
type snapshotHeader struct {
	flags     uint16
	codec     interfaces.CodecID
	durableTs uint64
	discardTs uint64
}

func (h snapshotHeader) sealed() bool { return h.flags&flagSealed != 0 }

func (h snapshotHeader) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, snapshotMagic)
	binary.LittleEndian.PutUint16(b[8:], formatVersion)
	binary.LittleEndian.PutUint16(b[10:], h.flags)
	b[12] = byte(h.codec)
	binary.LittleEndian.PutUint64(b[16:], h.durableTs)
	binary.LittleEndian.PutUint64(b[24:], h.discardTs)
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

// blockAD returns the additional data block number index of a snapshot at
// durableTs is sealed with: a block moved to another place in the file, or
// into another snapshot, fails to open.
func blockAD(dst []byte, durableTs, index uint64) []byte {
	dst = append(dst[:0], adPrefix...)
	dst = binary.LittleEndian.AppendUint64(dst, durableTs)
	return binary.LittleEndian.AppendUint64(dst, index)
}

// entrySize returns the encoded size of v.
func entrySize(v *version) int {
	vl := len(v.data) - int(v.keyLen)
	return 1 + 8 + uvarintLen(uint64(v.keyLen)) + int(v.keyLen) + uvarintLen(uint64(vl)) + vl
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func appendEntry(dst []byte, v *version) []byte {
	dst = append(dst, byte(v.kind))
	dst = binary.LittleEndian.AppendUint64(dst, v.ts)
	dst = binary.AppendUvarint(dst, uint64(v.keyLen))
	dst = append(dst, v.key()...)
	val := v.value()
	dst = binary.AppendUvarint(dst, uint64(len(val)))
	return append(dst, val...)
}

// snapshotWriter streams versions, in Storage order, into a snapshot.
type snapshotWriter struct {
	w         io.Writer
	hdr       snapshotHeader
	cipher    interfaces.Cipher
	codec     interfaces.Codec // nil or a codec whose ID is not CodecNone
	blockSize int

	crc          uint32 // of every byte written so far
	size         int64
	raw          []byte // the current block's entries
	blockEntries uint32
	blocks       uint64
	count        uint64
	// Scratch space reused across blocks.
	comp, sealed, out, ad []byte
}

// newSnapshotWriter writes the header of a snapshot to w and returns a
// writer for its versions.
func newSnapshotWriter(w io.Writer, hdr snapshotHeader, cipher interfaces.Cipher, codec interfaces.Codec, blockSize int) (*snapshotWriter, error) {
	if codec != nil && codec.ID() == interfaces.CodecNone {
		codec = nil
	}
	hdr.flags = 0
	hdr.codec = interfaces.CodecNone
	if cipher != nil {
		hdr.flags |= flagSealed
	}
	if codec != nil {
		hdr.codec = codec.ID()
	}
	sw := &snapshotWriter{w: w, hdr: hdr, cipher: cipher, codec: codec, blockSize: blockSize}
	if err := sw.write(hdr.encode()); err != nil {
		return nil, err
	}
	return sw, nil
}

func (sw *snapshotWriter) write(b []byte) error {
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	sw.crc = crc32.Update(sw.crc, castagnoli, b)
	sw.size += int64(len(b))
	return nil
}

// add appends v, which orders after every version added before.
func (sw *snapshotWriter) add(v *version) error {
	if sw.blockEntries > 0 && len(sw.raw)+entrySize(v) > sw.blockSize {
		if err := sw.flushBlock(); err != nil {
			return err
		}
	}
	sw.raw = appendEntry(sw.raw, v)
	sw.blockEntries++
	sw.count++
	return nil
}

func (sw *snapshotWriter) flushBlock() error {
	if sw.blockEntries == 0 {
		return nil
	}
	payload, id := sw.raw, interfaces.CodecNone
	if sw.codec != nil {
		comp, err := sw.codec.Encode(sw.comp[:0], sw.raw)
		if err != nil {
			return fmt.Errorf("compress block %d: %w", sw.blocks, err)
		}
		sw.comp = comp
		// A block that does not shrink is stored as it is: decoding it
		// would cost time for nothing.
		if len(comp) < len(sw.raw) {
			payload, id = comp, sw.codec.ID()
		}
	}
	if sw.cipher != nil {
		sw.ad = blockAD(sw.ad, sw.hdr.durableTs, sw.blocks)
		sealed, err := sw.cipher.Seal(sw.sealed[:0], payload, sw.ad)
		if err != nil {
			return fmt.Errorf("seal block %d: %w", sw.blocks, err)
		}
		sw.sealed, payload = sealed, sealed
	}
	if len(payload) > math.MaxUint32 {
		return fmt.Errorf("block %d: payload of %d bytes: %w", sw.blocks, len(payload), interfaces.ErrInvalidArgument)
	}
	out := sw.out[:0]
	out = append(out, byte(id), 0, 0, 0)
	out = binary.LittleEndian.AppendUint32(out, sw.blockEntries)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(sw.raw)))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(payload)))
	out = append(out, payload...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	sw.out = out
	if err := sw.write(out); err != nil {
		return err
	}
	sw.blocks++
	sw.raw = sw.raw[:0]
	sw.blockEntries = 0
	return nil
}

// finish writes the last block and the footer, and returns the file size.
func (sw *snapshotWriter) finish() (int64, error) {
	if err := sw.flushBlock(); err != nil {
		return 0, err
	}
	f := make([]byte, footerSize)
	binary.LittleEndian.PutUint64(f, sw.count)
	binary.LittleEndian.PutUint64(f[8:], sw.blocks)
	crc := crc32.Update(sw.crc, castagnoli, f[:16])
	binary.LittleEndian.PutUint32(f[16:], crc)
	if err := sw.write(f); err != nil {
		return 0, err
	}
	return sw.size, nil
}

// snapshotInfo describes a snapshot that was read.
type snapshotInfo struct {
	header snapshotHeader
	count  uint64
	blocks uint64
	size   int64
}

// readSnapshot reads and verifies the snapshot in r (size bytes, called
// name in errors), calling fn for each version in Storage order. fn's
// slices are valid only during the call. Damage is a
// *interfaces.CorruptionError naming name and the offset of the damaged
// part; a snapshot that needs a cipher or a codec the caller does not
// have, or has a newer format, is an error matching
// interfaces.ErrIncompatible. readSnapshot never panics on any input, and
// allocates at most a bounded multiple of size.
//
// fn may be called for the versions of blocks that check out before a
// later block turns out damaged; a caller that keeps them discards them on
// error.
func readSnapshot(r io.ReaderAt, size int64, name string, cipher interfaces.Cipher,
	codecs map[interfaces.CodecID]interfaces.Codec,
	fn func(key []byte, ts uint64, kind interfaces.EntryKind, value []byte) error,
) (snapshotInfo, error) {
	info := snapshotInfo{size: size}
	if size < headerSize+footerSize {
		return info, interfaces.Corruptf(name, 0, "file of %d bytes is shorter than a header and a footer", size)
	}
	hb := make([]byte, headerSize)
	if err := readFull(r, hb, 0); err != nil {
		return info, fmt.Errorf("read %s header: %w", name, err)
	}
	if string(hb[:8]) != snapshotMagic {
		return info, interfaces.Corruptf(name, 0, "bad magic %q", hb[:8])
	}
	if want, got := binary.LittleEndian.Uint32(hb[32:]), crc32.Checksum(hb[:32], castagnoli); want != got {
		return info, interfaces.Corruptf(name, 0, "header checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	h := &info.header
	if v := binary.LittleEndian.Uint16(hb[8:]); v != formatVersion {
		return info, fmt.Errorf("lightning/memory: %s: format version %d, this build reads %d: %w",
			name, v, formatVersion, interfaces.ErrIncompatible)
	}
	h.flags = binary.LittleEndian.Uint16(hb[10:])
	h.codec = interfaces.CodecID(hb[12])
	h.durableTs = binary.LittleEndian.Uint64(hb[16:])
	h.discardTs = binary.LittleEndian.Uint64(hb[24:])
	if h.flags&^knownFlags != 0 {
		return info, fmt.Errorf("lightning/memory: %s: unknown flags %#04x: %w", name, h.flags, interfaces.ErrIncompatible)
	}
	if hb[13] != 0 || hb[14] != 0 || hb[15] != 0 {
		return info, interfaces.Corruptf(name, 13, "reserved header bytes are not zero")
	}
	switch {
	case h.sealed() && cipher == nil:
		return info, fmt.Errorf("lightning/memory: %s is encrypted and no cipher is configured: %w", name, interfaces.ErrIncompatible)
	case !h.sealed() && cipher != nil:
		return info, fmt.Errorf("lightning/memory: %s is not encrypted and a cipher is configured: %w", name, interfaces.ErrIncompatible)
	}

	crc := crc32.Checksum(hb, castagnoli)
	end := size - footerSize
	var (
		// Scratch space reused across blocks; raw points at the decoded
		// entry stream, which is payload itself for an uncompressed block
		// and dec otherwise, never both, so decoding never overwrites its
		// own input.
		buf, plain, dec, raw, ad []byte
		prevKey                  []byte
		prevTs                   uint64
		havePrev                 bool
	)
	off := int64(headerSize)
	for ; off < end; info.blocks++ {
		blockOff := off
		if end-off < blockHeaderSize+blockCRCSize {
			return info, interfaces.Corruptf(name, off, "block header runs past the footer")
		}
		var bh [blockHeaderSize]byte
		if err := readFull(r, bh[:], off); err != nil {
			return info, fmt.Errorf("read %s block at %d: %w", name, off, err)
		}
		id := interfaces.CodecID(bh[0])
		entries := binary.LittleEndian.Uint32(bh[4:])
		rawLen := int64(binary.LittleEndian.Uint32(bh[8:]))
		payloadLen := int64(binary.LittleEndian.Uint32(bh[12:]))
		if payloadLen > end-off-blockHeaderSize-blockCRCSize {
			return info, interfaces.Corruptf(name, off, "block payload of %d bytes runs past the footer", payloadLen)
		}
		n := blockHeaderSize + payloadLen + blockCRCSize
		buf = grow(buf, int(n))
		if err := readFull(r, buf, off); err != nil {
			return info, fmt.Errorf("read %s block at %d: %w", name, off, err)
		}
		if want, got := binary.LittleEndian.Uint32(buf[n-blockCRCSize:]), crc32.Checksum(buf[:n-blockCRCSize], castagnoli); want != got {
			return info, interfaces.Corruptf(name, off, "block checksum mismatch (stored %#08x, computed %#08x)", want, got)
		}
		crc = crc32.Update(crc, castagnoli, buf)
		off += n
		switch {
		case bh[1] != 0 || bh[2] != 0 || bh[3] != 0:
			return info, interfaces.Corruptf(name, blockOff, "reserved block header bytes are not zero")
		case entries == 0:
			return info, interfaces.Corruptf(name, blockOff, "block holds no entries")
		case rawLen == 0 || rawLen > maxRawBlock:
			return info, interfaces.Corruptf(name, blockOff, "decoded block length %d is outside [1, %d]", rawLen, maxRawBlock)
		}
		payload := buf[blockHeaderSize : n-blockCRCSize]
		if h.sealed() {
			ad = blockAD(ad, h.durableTs, info.blocks)
			var err error
			plain, err = cipher.Open(plain[:0], payload, ad)
			switch {
			case errors.Is(err, interfaces.ErrDecrypt):
				return info, &interfaces.CorruptionError{File: name, Offset: blockOff, Reason: "block fails authentication", Err: err}
			case err != nil:
				return info, fmt.Errorf("lightning/memory: %s: open block at %d: %w", name, blockOff, err)
			}
			payload = plain
		}
		if id == interfaces.CodecNone {
			raw = payload
		} else {
			codec, ok := codecs[id]
			if !ok {
				return info, fmt.Errorf("lightning/memory: %s: block at %d is compressed with codec %d, which is not configured: %w",
					name, blockOff, id, interfaces.ErrIncompatible)
			}
			var err error
			dec, err = codec.Decode(grow(dec, int(rawLen))[:0], payload)
			if err != nil {
				return info, &interfaces.CorruptionError{File: name, Offset: blockOff, Reason: "block does not decompress", Err: err}
			}
			raw = dec
		}
		if int64(len(raw)) != rawLen {
			return info, interfaces.Corruptf(name, blockOff, "block decodes to %d bytes, header says %d", len(raw), rawLen)
		}
		// Walk the entries.
		p := raw
		for k := uint32(0); k < entries; k++ {
			e := entryPos{name: name, block: blockOff, index: info.count, at: len(raw) - len(p)}
			if len(p) < 9 {
				return info, e.corrupt("truncated")
			}
			kind := interfaces.EntryKind(p[0])
			ts := binary.LittleEndian.Uint64(p[1:9])
			p = p[9:]
			keyLen, m := binary.Uvarint(p)
			if m <= 0 || keyLen > interfaces.MaxKeySize || keyLen > uint64(len(p)-m) {
				return info, e.corrupt("bad key length")
			}
			key := p[m : m+int(keyLen)]
			p = p[m+int(keyLen):]
			valLen, m := binary.Uvarint(p)
			if m <= 0 || valLen > interfaces.MaxValueSize || valLen > uint64(len(p)-m) {
				return info, e.corrupt("bad value length")
			}
			value := p[m : m+int(valLen)]
			p = p[m+int(valLen):]
			switch {
			case kind != interfaces.KindSet && kind != interfaces.KindDelete:
				return info, e.corrupt("unknown kind %d", kind)
			case kind == interfaces.KindDelete && valLen != 0:
				return info, e.corrupt("tombstone with a %d-byte value", valLen)
			case ts == 0 || ts > h.durableTs:
				return info, e.corrupt("ts %d is outside [1, durable ts %d]", ts, h.durableTs)
			}
			if havePrev {
				c := bytes.Compare(prevKey, key)
				if c > 0 || (c == 0 && prevTs <= ts) {
					return info, e.corrupt("out of order: (%q, %d) after (%q, %d)", key, ts, prevKey, prevTs)
				}
			}
			prevKey, prevTs, havePrev = append(prevKey[:0], key...), ts, true
			if err := fn(key, ts, kind, value); err != nil {
				return info, err
			}
			info.count++
		}
		if len(p) != 0 {
			return info, interfaces.Corruptf(name, blockOff, "%d bytes left over after the block's %d entries", len(p), entries)
		}
	}
	if off != end {
		return info, interfaces.Corruptf(name, off, "last block runs into the footer")
	}
	var fb [footerSize]byte
	if err := readFull(r, fb[:], end); err != nil {
		return info, fmt.Errorf("read %s footer: %w", name, err)
	}
	crc = crc32.Update(crc, castagnoli, fb[:16])
	if want := binary.LittleEndian.Uint32(fb[16:]); want != crc {
		return info, interfaces.Corruptf(name, end, "file checksum mismatch (stored %#08x, computed %#08x)", want, crc)
	}
	if c := binary.LittleEndian.Uint64(fb[:]); c != info.count {
		return info, interfaces.Corruptf(name, end, "footer counts %d entries, blocks hold %d", c, info.count)
	}
	if b := binary.LittleEndian.Uint64(fb[8:]); b != info.blocks {
		return info, interfaces.Corruptf(name, end, "footer counts %d blocks, file holds %d", b, info.blocks)
	}
	return info, nil
}

// entryPos locates an entry for error messages.
type entryPos struct {
	name  string
	block int64
	index uint64
	at    int
}

func (e entryPos) corrupt(format string, args ...any) error {
	return interfaces.Corruptf(e.name, e.block, "entry %d (byte %d of the decoded block): %s",
		e.index, e.at, fmt.Sprintf(format, args...))
}

// readFull reads len(b) bytes at off; a short file is io.ErrUnexpectedEOF.
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

// grow returns b resized to n bytes, reallocating only when it is too
// small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
