package wal

import (
	"errors"
	"fmt"
	"io"

	"github.com/lightningdb/lightning/interfaces"
)

// readWindow is how much of a segment a scanner reads at a time. A record
// larger than the window is read whole, so the buffer grows to the
// largest record of the segment, which never exceeds the file.
const readWindow = 1 << 20

// scanner reads the records of one segment file through a window.
type scanner struct {
	// name is the segment's path, for errors.
	name string
	// num is the segment number that record checksums are seeded with:
	// the file name's, which a damaged header cannot change.
	num uint64
	r   io.ReaderAt
	// limit is how many bytes of the file to read: its size, or, for the
	// active segment of a live log, what has been written.
	limit int64
	// buf holds the file's bytes [bufOff, bufOff+len(buf)).
	buf    []byte
	bufOff int64
}

func newScanner(name string, num uint64, r io.ReaderAt, limit int64) *scanner {
	return &scanner{name: name, num: num, r: r, limit: limit}
}

// at returns the n bytes at off, which the caller has checked lie within
// limit. The slice is valid until the next call.
func (s *scanner) at(off int64, n int) ([]byte, error) {
	if off >= s.bufOff && off+int64(n) <= s.bufOff+int64(len(s.buf)) {
		i := off - s.bufOff
		return s.buf[i : i+int64(n)], nil
	}
	want := min(max(int64(n), readWindow), s.limit-off)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	if err := readFull(s.r, s.buf, off); err != nil {
		s.buf = s.buf[:0]
		return nil, fmt.Errorf("lightning/wal: read %s at %d: %w", s.name, off, err)
	}
	s.bufOff = off
	return s.buf[:n], nil
}

// rawRecord is a record whose checksum verified. hdr and body point into
// the scanner's window: valid until its next read.
type rawRecord struct {
	off  int64
	h    recHeader
	hdr  []byte
	body []byte
}

func (r *rawRecord) end() int64 { return r.off + recordHeaderSize + int64(r.h.length) }

// record reads the record at off. A record that is not there — too short,
// a length that cannot be, a checksum mismatch — is a reason, not an
// error: it is damage, possibly a torn write. err is an I/O error.
func (s *scanner) record(off int64) (rec rawRecord, reason string, err error) {
	left := s.limit - off
	if left < recordHeaderSize {
		return rec, fmt.Sprintf("truncated record header (%d bytes left)", left), nil
	}
	hb, err := s.at(off, recordHeaderSize)
	if err != nil {
		return rec, "", err
	}
	h := decodeRecHeader(hb)
	switch {
	case h.length > MaxRecordBody:
		return rec, fmt.Sprintf("record length %d exceeds the %d-byte maximum", h.length, MaxRecordBody), nil
	case int64(h.length) > left-recordHeaderSize:
		return rec, fmt.Sprintf("record of %d bytes runs past the end of the segment (%d bytes left)",
			h.length, left-recordHeaderSize), nil
	}
	b, err := s.at(off, recordHeaderSize+int(h.length))
	if err != nil {
		return rec, "", err
	}
	if got := recordCRC(s.num, off, b[4:]); got != h.crc {
		return rec, fmt.Sprintf("record checksum mismatch (stored %#08x, computed %#08x)", h.crc, got), nil
	}
	return rawRecord{off: off, h: h, hdr: b[:recordHeaderSize], body: b[recordHeaderSize:]}, "", nil
}

// plausible is the cheap filter scanValid applies before it checksums a
// candidate: what every record a writer made satisfies.
func plausible(h recHeader, off int64, minTs uint64) bool {
	return h.reserved == 0 && h.flags&^knownRecFlags == 0 && h.length <= MaxRecordBody &&
		h.ts >= minTs && h.synced >= headerSize && h.synced <= uint64(off)
}

// scanValid looks for records that check out in [from, limit), past
// damage: at each offset it tries a record, and after one that verifies it
// continues at its end, otherwise one byte on. visit returns false to
// stop. Records with ts below minTs are not considered.
//
// The cheap filter makes the scan linear in practice. Only bytes crafted
// to look like records of this very segment (a payload full of fake
// headers, say) make it checksum many candidates; to keep that linear
// too, the bytes checksummed for candidates that fail are bounded, and
// when the bound is reached the scan stops and returns complete = false:
// the caller cannot rule out a record past the damage.
func (s *scanner) scanValid(from int64, minTs uint64, visit func(off int64, h recHeader) bool) (complete bool, err error) {
	budget := scanBudgetBase + scanBudgetFactor*max(s.limit-from, 0)
	for o := from; s.limit-o >= recordHeaderSize; {
		hb, err := s.at(o, recordHeaderSize)
		if err != nil {
			return false, err
		}
		h := decodeRecHeader(hb)
		if plausible(h, o, minTs) && int64(h.length) <= s.limit-o-recordHeaderSize {
			n := recordHeaderSize + int(h.length)
			b, err := s.at(o, n)
			if err != nil {
				return false, err
			}
			if recordCRC(s.num, o, b[4:]) == h.crc {
				if !visit(o, h) {
					return true, nil
				}
				o += int64(n)
				continue
			}
			if budget -= int64(n); budget < 0 {
				return false, nil
			}
		}
		o++
	}
	return true, nil
}

// The bound on bytes scanValid checksums for candidates that fail: a base,
// plus a multiple of the bytes scanned. Variables so tests can lower them.
var (
	scanBudgetBase   int64 = 64 << 20
	scanBudgetFactor int64 = 8
)

// decoder turns checked record bodies back into payloads, reusing its
// buffers from record to record.
type decoder struct {
	cipher interfaces.Cipher
	codecs map[interfaces.CodecID]interfaces.Codec
	// Scratch space; plain and dec are distinct so that decompression
	// never overwrites its own input.
	plain, dec, ad []byte
}

// payload returns the payload of rec: its body opened (when sealed) and
// decompressed (when compressed). The slice is valid until the next call
// or the scanner's next read. Damage is a *interfaces.CorruptionError; a
// codec or key that is not configured is an error matching
// interfaces.ErrIncompatible or interfaces.ErrKeyMismatch.
func (d *decoder) payload(s *scanner, rec *rawRecord) ([]byte, error) {
	body := rec.body
	if rec.h.sealed() {
		if d.cipher == nil {
			return nil, fmt.Errorf("lightning/wal: %s: record at %d is sealed and no cipher is configured: %w",
				s.name, rec.off, interfaces.ErrIncompatible)
		}
		d.ad = appendAD(d.ad[:0], s.num, rec.off, rec.hdr)
		plain, err := d.cipher.Open(d.plain[:0], body, d.ad)
		switch {
		case errors.Is(err, interfaces.ErrDecrypt):
			return nil, &interfaces.CorruptionError{File: s.name, Offset: rec.off,
				Reason: "record fails authentication (altered, or moved from another place)", Err: err}
		case err != nil:
			return nil, fmt.Errorf("lightning/wal: %s: open record at %d: %w", s.name, rec.off, err)
		}
		d.plain, body = plain, plain
	}
	if rec.h.codec == interfaces.CodecNone {
		return body, nil
	}
	c, ok := d.codecs[rec.h.codec]
	if !ok {
		return nil, fmt.Errorf("lightning/wal: %s: record at %d is compressed with codec %d, which is not configured: %w",
			s.name, rec.off, rec.h.codec, interfaces.ErrIncompatible)
	}
	dec, err := c.Decode(d.dec[:0], body)
	if err != nil {
		return nil, &interfaces.CorruptionError{File: s.name, Offset: rec.off,
			Reason: fmt.Sprintf("record does not decompress with codec %d", rec.h.codec), Err: err}
	}
	d.dec = dec
	return dec, nil
}

// walkParams say how walkSegment reads one segment.
type walkParams struct {
	// last says the segment is the log's last, where damage that a torn
	// write could leave is a torn tail rather than corruption.
	last bool
	// prevNum is the number of the segment read just before this one, 0
	// when none; prevTs is the highest ts in the log before this segment.
	prevNum uint64
	prevTs  uint64
	// needAbove: a gap before this segment (its header says records after
	// prevTs were written before it) is corruption when the missing
	// records may hold a ts above needAbove. Replay passes its afterTs;
	// MaxUint64 never calls a gap corruption, except between consecutive
	// segment numbers, where no gap can be.
	needAbove uint64
	// decodeAbove: data records with a larger ts are opened and
	// decompressed, and their payloads passed to visit.
	decodeAbove uint64
	// visit, when set, is called for each good record, markers included,
	// with its payload (nil when not decoded). An error stops the walk.
	visit func(rec rawRecord, payload []byte) error
}

// walkResult is what walkSegment found.
type walkResult struct {
	hdr   segHeader
	hdrOK bool
	// records counts the good data records; firstTs is the first one's ts.
	records int64
	firstTs uint64
	// lastTs is the highest ts in the log through the good part of the
	// segment: the last good record's, or the header's prev ts, or the
	// caller's prevTs.
	lastTs uint64
	// marker says the good part ends with a clean-close marker.
	marker bool
	// end is the offset where the good part ends (0 when the header is
	// bad).
	end int64
	// dmg is the first damage, nil when the segment is whole up to the
	// limit.
	dmg *damage
}

// damage describes the first bad spot of a segment.
type damage struct {
	off int64
	err *interfaces.CorruptionError
	// torn says the damage is a torn tail: the segment is the last, what
	// is bad could be a write the crash interrupted, and no record after
	// it says it had been synced.
	torn bool
	// validAfter counts the data records past off that check out: what a
	// cut at off drops (a lower bound when the scan hit its bound).
	validAfter int64
}

// walkSegment reads and verifies the segment in s: header, continuity
// with the segment before, and every record up to s.limit. Damage is
// reported in the result (torn or not), not as an error; the error is for
// what no cut can fix: I/O, an incompatible segment (format version,
// flags, cipher or codec configuration), a key mismatch, or visit's error.
func walkSegment(s *scanner, d *decoder, p walkParams) (walkResult, error) {
	res := walkResult{lastTs: p.prevTs}
	if s.limit < headerSize {
		return res.damaged(s, p, 0, true, fmt.Sprintf("segment of %d bytes is shorter than its %d-byte header", s.limit, headerSize))
	}
	hb, err := s.at(0, headerSize)
	if err != nil {
		return res, err
	}
	h, reason := parseSegHeader(hb)
	if reason != "" {
		return res.damaged(s, p, 0, true, reason)
	}
	switch {
	case h.version != formatVersion:
		return res, fmt.Errorf("lightning/wal: %s: format version %d, this build reads %d: %w",
			s.name, h.version, formatVersion, interfaces.ErrIncompatible)
	case h.flags&^knownSegFlags != 0:
		return res, fmt.Errorf("lightning/wal: %s: unknown segment flags %#04x: %w", s.name, h.flags, interfaces.ErrIncompatible)
	case h.sealed() && d.cipher == nil:
		return res, fmt.Errorf("lightning/wal: %s is encrypted and no cipher is configured: %w", s.name, interfaces.ErrIncompatible)
	case !h.sealed() && d.cipher != nil:
		return res, fmt.Errorf("lightning/wal: %s is not encrypted and a cipher is configured: %w", s.name, interfaces.ErrIncompatible)
	case h.num != s.num:
		return res.damaged(s, p, 0, false, fmt.Sprintf("segment header names segment %d", h.num))
	case h.prevTs < p.prevTs:
		return res.damaged(s, p, 0, false, fmt.Sprintf(
			"segment header says the log ended at ts %d before it, but ts %d was already read", h.prevTs, p.prevTs))
	// An unconfirmed header was written before the segment before was
	// synced: that one may have lost its unsynced end (see unconfirmedGap).
	case p.prevNum != 0 && p.prevNum+1 == s.num && h.prevTs != p.prevTs:
		reason := fmt.Sprintf("segment header says the log ended at ts %d before it, but segment %d ends at ts %d", h.prevTs, p.prevNum, p.prevTs)
		if h.unconfirmed() && h.prevTs > p.prevTs {
			return res.unconfirmedGap(s, p, reason)
		}
		return res.damaged(s, p, 0, false, reason)
	case h.prevTs > p.prevTs && h.prevTs > p.needAbove:
		return res.damaged(s, p, 0, false, fmt.Sprintf(
			"records with ts %d to %d are missing: a segment before this one is gone", p.prevTs+1, h.prevTs))
	}
	res.hdr, res.hdrOK = h, true
	res.lastTs = h.prevTs
	res.end = headerSize
	for off := int64(headerSize); off < s.limit; {
		rec, reason, err := s.record(off)
		if err != nil {
			return res, err
		}
		if reason != "" {
			// Bytes after a clean-close marker were never written by a
			// log that closed cleanly: not a torn write.
			return res.damaged(s, p, off, !res.marker, reason)
		}
		if res.marker {
			return res.damaged(s, p, off, false, "record after the clean-close marker")
		}
		if why := checkRecord(&rec, h.sealed(), res.lastTs); why != "" {
			return res.damaged(s, p, off, false, why)
		}
		var payload []byte
		if rec.h.marker() || rec.h.ts > p.decodeAbove {
			payload, err = d.payload(s, &rec)
			if err != nil {
				if ce := asCorruption(err); ce != nil {
					return res.damagedBy(s, p, off, ce)
				}
				return res, err
			}
			if rec.h.marker() && len(payload) != 0 {
				return res.damaged(s, p, off, false, fmt.Sprintf("clean-close marker carries %d payload bytes", len(payload)))
			}
		}
		if p.visit != nil {
			// By value: a pointer would move every record to the heap.
			if err := p.visit(rec, payload); err != nil {
				return res, err
			}
		}
		if rec.h.marker() {
			res.marker = true
		} else {
			if res.records == 0 {
				res.firstTs = rec.h.ts
			}
			res.records++
			res.lastTs = rec.h.ts
		}
		off = rec.end()
		res.end = off
	}
	return res, nil
}

// asCorruption returns the *interfaces.CorruptionError in err's chain, or
// nil.
func asCorruption(err error) *interfaces.CorruptionError {
	var ce *interfaces.CorruptionError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// checkRecord returns why a record whose checksum verified still breaks
// the format, or "". lastTs is the highest ts in the log before it.
func checkRecord(rec *rawRecord, sealed bool, lastTs uint64) string {
	h := rec.h
	switch {
	case h.reserved != 0:
		return "reserved record bytes are not zero"
	case h.flags&^knownRecFlags != 0:
		return fmt.Sprintf("unknown record flags %#02x", h.flags)
	case h.sealed() != sealed:
		return "record sealing does not match its segment's"
	case h.synced < headerSize || h.synced > uint64(rec.off):
		return fmt.Sprintf("synced offset %d is outside [%d, %d]", h.synced, headerSize, rec.off)
	case !h.marker() && h.ts <= lastTs:
		return fmt.Sprintf("ts %d does not follow ts %d", h.ts, lastTs)
	case !h.marker():
		return ""
	case h.synced != uint64(rec.off):
		return fmt.Sprintf("clean-close marker's synced offset %d is not its own offset", h.synced)
	case h.codec != interfaces.CodecNone:
		return fmt.Sprintf("clean-close marker names codec %d", h.codec)
	case h.ts != lastTs:
		return fmt.Sprintf("clean-close marker carries ts %d, the log's last ts is %d", h.ts, lastTs)
	case !sealed && h.length != 0:
		return fmt.Sprintf("clean-close marker has a %d-byte body", h.length)
	}
	return ""
}

// damaged records damage at off and classifies it. tornable says a torn
// write could have left it; it is a torn tail when, besides, the segment
// is the last and no record past it says that it had been synced.
func (res walkResult) damaged(s *scanner, p walkParams, off int64, tornable bool, reason string) (walkResult, error) {
	return res.classify(s, p, off, off, tornable, interfaces.Corruptf(s.name, off, "%s", reason))
}

// unconfirmedGap records that the segment's unconfirmed header names a
// prev ts the segment before does not reach: that one lost its unsynced
// end, and this whole segment is a torn tail — unless a record says it
// was synced past its header, which a sync does only after confirming
// the header.
func (res walkResult) unconfirmedGap(s *scanner, p walkParams, reason string) (walkResult, error) {
	return res.classify(s, p, 0, headerSize, true, interfaces.Corruptf(s.name, 0, "%s", reason))
}

// damagedBy records damage that a decoder reported: a record that checks
// out but does not open or decompress. Never a torn write.
func (res walkResult) damagedBy(s *scanner, p walkParams, off int64, ce *interfaces.CorruptionError) (walkResult, error) {
	return res.classify(s, p, off, off, false, ce)
}

// classify records damage at off: torn when tornable, the segment is the
// last, and no record past off says the segment was synced past
// witnessAbove.
func (res walkResult) classify(s *scanner, p walkParams, off, witnessAbove int64, tornable bool, ce *interfaces.CorruptionError) (walkResult, error) {
	d := &damage{off: off, err: ce}
	from := off + 1
	if off < headerSize {
		from = headerSize
	}
	witness, witnessSynced := int64(-1), uint64(0)
	complete, err := s.scanValid(from, res.lastTs, func(o int64, h recHeader) bool {
		if !h.marker() {
			d.validAfter++
		}
		if witness < 0 && h.synced > uint64(witnessAbove) {
			witness, witnessSynced = o, h.synced
		}
		return true
	})
	if err != nil {
		return res, err
	}
	switch {
	case !tornable:
	case !complete:
		// Cutting would be a guess; failing is safe.
		ce.Reason += fmt.Sprintf("; too many look-alike records past it to rule out one attesting a sync (scanned to %d)", s.limit)
	case witness >= 0:
		ce.Reason += fmt.Sprintf("; the record at %d says the segment was synced through %d", witness, witnessSynced)
	case !p.last:
		ce.Reason += " (not the last segment, which was synced whole before a later one could follow it)"
	default:
		d.torn = true
	}
	res.dmg = d
	return res, nil
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
