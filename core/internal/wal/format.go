package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/lightningdb/lightning/interfaces"
)

// The on-disk format; doc.go draws it byte by byte.
const (
	segmentMagic  = "LTNGWAL\x00"
	formatVersion = 1

	// headerSize is the size of a segment header; the first record starts
	// right after it.
	headerSize = 32
	// recordHeaderSize is the size of a record header; the body follows.
	recordHeaderSize = 28

	// segFlagSealed marks a segment whose record bodies are sealed by a
	// Cipher.
	segFlagSealed = 1 << 0
	// segFlagSyncedBehind marks a segment written by a log that syncs a
	// rotated segment in the background (Options.SyncRotatedInBackground):
	// its successor may exist before it is synced. So when the successor
	// is the last segment and its header is torn, this segment may be
	// unsynced too, and damage at its end is a torn tail rather than
	// corruption.
	segFlagSyncedBehind = 1 << 1
	// segFlagUnconfirmed marks the header a background rotation writes
	// when it starts a segment, before the segment before is synced; it
	// is rewritten without the flag once that sync succeeds. While the
	// last segment's header carries it, the segment before may be
	// unsynced, as above, and when that one ends short of the header's
	// prev ts, this one is a torn tail as a whole.
	segFlagUnconfirmed = 1 << 2
	knownSegFlags      = segFlagSealed | segFlagSyncedBehind | segFlagUnconfirmed
	recFlagSealed      = 1 << 0
	recFlagMarker      = 1 << 1
	knownRecFlags      = recFlagSealed | recFlagMarker
	segmentNameExt     = ".wal"
	segmentNameLen     = 16 + len(segmentNameExt)

	// MaxRecordBody bounds the stored body of one record (the payload
	// after compression and sealing). A reader refuses longer lengths
	// before it allocates anything, so a damaged length field never asks
	// for gigabytes; a writer refuses payloads that would not fit.
	MaxRecordBody = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segHeader is the fixed header of a segment file.
type segHeader struct {
	version uint16
	flags   uint16
	// num is the segment's number; it must match the file name.
	num uint64
	// prevTs is the ts of the last record written to the log before this
	// segment (0 when none): every record of the segment has a larger ts.
	prevTs uint64
}

func (h segHeader) sealed() bool { return h.flags&segFlagSealed != 0 }

// syncedBehind reports segFlagSyncedBehind.
func (h segHeader) syncedBehind() bool { return h.flags&segFlagSyncedBehind != 0 }

// unconfirmed reports segFlagUnconfirmed.
func (h segHeader) unconfirmed() bool { return h.flags&segFlagUnconfirmed != 0 }

// appendTo appends the encoded header to dst.
func (h segHeader) appendTo(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, h.version)
	dst = binary.LittleEndian.AppendUint16(dst, h.flags)
	dst = binary.LittleEndian.AppendUint64(dst, h.num)
	dst = binary.LittleEndian.AppendUint64(dst, h.prevTs)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// parseSegHeader decodes a segment header. It returns a reason when the
// bytes are not a header at all (short, wrong magic, checksum mismatch);
// a header that checks out may still carry a version, flags or number the
// caller refuses.
func parseSegHeader(b []byte) (segHeader, string) {
	if len(b) < headerSize {
		return segHeader{}, fmt.Sprintf("segment of %d bytes is shorter than its %d-byte header", len(b), headerSize)
	}
	if string(b[:8]) != segmentMagic {
		return segHeader{}, fmt.Sprintf("bad segment magic %q", b[:8])
	}
	if want, got := binary.LittleEndian.Uint32(b[28:]), crc32.Checksum(b[:28], castagnoli); want != got {
		return segHeader{}, fmt.Sprintf("segment header checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	return segHeader{
		version: binary.LittleEndian.Uint16(b[8:]),
		flags:   binary.LittleEndian.Uint16(b[10:]),
		num:     binary.LittleEndian.Uint64(b[12:]),
		prevTs:  binary.LittleEndian.Uint64(b[20:]),
	}, ""
}

// recHeader is a decoded record header.
type recHeader struct {
	crc      uint32
	length   uint32
	codec    interfaces.CodecID
	flags    uint8
	reserved uint16
	ts       uint64
	synced   uint64
}

func (h recHeader) sealed() bool { return h.flags&recFlagSealed != 0 }
func (h recHeader) marker() bool { return h.flags&recFlagMarker != 0 }

func decodeRecHeader(b []byte) recHeader {
	_ = b[recordHeaderSize-1]
	return recHeader{
		crc:      binary.LittleEndian.Uint32(b[0:]),
		length:   binary.LittleEndian.Uint32(b[4:]),
		codec:    interfaces.CodecID(b[8]),
		flags:    b[9],
		reserved: binary.LittleEndian.Uint16(b[10:]),
		ts:       binary.LittleEndian.Uint64(b[12:]),
		synced:   binary.LittleEndian.Uint64(b[20:]),
	}
}

// putRecHeader writes every field of h but the checksum into b.
func putRecHeader(b []byte, h recHeader) {
	_ = b[recordHeaderSize-1]
	binary.LittleEndian.PutUint32(b[4:], h.length)
	b[8] = byte(h.codec)
	b[9] = h.flags
	binary.LittleEndian.PutUint16(b[10:], h.reserved)
	binary.LittleEndian.PutUint64(b[12:], h.ts)
	binary.LittleEndian.PutUint64(b[20:], h.synced)
}

// crcSeed is the checksum state after the record's position: segment
// number and offset, both uint64. Seeding the checksum with where the
// record belongs means a record copied to another offset or segment (a
// stale block, or a log stored inside a payload) never checks out there.
// It runs the table by hand, as crc32.Update(0, castagnoli, pos) would,
// because passing a stack array to crc32.Update moves it to the heap.
func crcSeed(num uint64, off int64) uint32 {
	crc := ^uint32(0)
	for i := range 8 {
		crc = castagnoli[byte(crc)^byte(num>>(8*i))] ^ crc>>8
	}
	for i := range 8 {
		crc = castagnoli[byte(crc)^byte(uint64(off)>>(8*i))] ^ crc>>8
	}
	return ^crc
}

// recordCRC returns the checksum of the record at off in segment num,
// given its bytes from offset 4 (after the checksum field) to its end.
func recordCRC(num uint64, off int64, rest []byte) uint32 {
	return crc32.Update(crcSeed(num, off), castagnoli, rest)
}

// appendAD appends the additional data a record body is sealed with: the
// magic, the segment number, the record's offset, and the record header
// after the checksum (bytes 4..28). A sealed body therefore opens only at
// its own place and under its own header: moving it, or editing its ts,
// codec or flags and fixing the checksum, fails authentication.
func appendAD(dst []byte, num uint64, off int64, hdr []byte) []byte {
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(off))
	return append(dst, hdr[4:recordHeaderSize]...)
}

// segmentName returns the file name of segment num: 16 lowercase hex
// digits and ".wal", so names sort as numbers do.
func segmentName(num uint64) string {
	b := make([]byte, 0, segmentNameLen)
	s := strconv.FormatUint(num, 16)
	for range 16 - len(s) {
		b = append(b, '0')
	}
	b = append(b, s...)
	return string(append(b, segmentNameExt...))
}

// parseSegmentName returns the number in a segment file name, and false
// for any other name (only the exact form segmentName makes is accepted).
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || name[16:] != segmentNameExt {
		return 0, false
	}
	for _, c := range []byte(name[:16]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}
