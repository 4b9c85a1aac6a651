package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// The manifest format; doc.go draws it byte by byte.
const (
	manifestMagic         = "LTNGMANI"
	manifestFormatVersion = 1
	manifestHeaderLen     = 28
	// manifestFlagSealed marks a manifest whose record payloads are sealed
	// by a Cipher.
	manifestFlagSealed = 1 << 0
	manifestKnownFlags = manifestFlagSealed
	// recordHeaderLen is the size of the frame before a record's payload.
	recordHeaderLen = 12
	// maxRecordLen bounds a record's payload: a snapshot of a million
	// tables fits, and hostile bytes cannot make a reader allocate more.
	maxRecordLen = 256 << 20
	// manifestADLen is the length of a sealed record's additional data.
	manifestADLen = len(manifestMagic) + 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// manifestHeader returns the header of manifest num.
func manifestHeader(num uint64, sealed bool) []byte {
	b := make([]byte, 0, manifestHeaderLen)
	b = append(b, manifestMagic...)
	b = binary.LittleEndian.AppendUint32(b, manifestFormatVersion)
	var flags uint32
	if sealed {
		flags |= manifestFlagSealed
	}
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint64(b, num)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// recordAD appends the additional data a record at offset of manifest num
// is sealed with, so a record moved within the manifest or into another
// fails to open.
func recordAD(dst []byte, num uint64, offset int64) []byte {
	dst = append(dst, manifestMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	return binary.LittleEndian.AppendUint64(dst, uint64(offset))
}

// appendRecord appends the framed record for payload (already sealed when
// the manifest is) to dst.
func appendRecord(dst, payload []byte) []byte {
	var lenb [4]byte
	binary.LittleEndian.PutUint32(lenb[:], uint32(len(payload)))
	dst = append(dst, lenb[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(lenb[:], castagnoli))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// manifestWriter appends edits to a manifest. Each edit is one Write
// followed by a Sync: an edit takes effect only once it is durable.
type manifestWriter struct {
	f      vfs.File
	num    uint64
	path   string
	cipher interfaces.Cipher
	// size is the number of bytes written so far.
	size int64
	// plain and frame are scratch buffers.
	plain, frame []byte
	// err is the first write or sync failure. It is sticky: after a failed
	// append the file may end in a torn record, and another record written
	// after it would turn that tail into corruption in the middle.
	err error
}

// createManifest writes a new manifest numbered num in dir holding the
// snapshot edit, syncs it and its directory entry, and returns a writer
// for further edits. It does not touch CURRENT. On failure the caller
// removes the file.
func createManifest(fs vfs.FS, dir string, num uint64, cipher interfaces.Cipher, snapshot *versionEdit) (*manifestWriter, error) {
	path := filepath.Join(dir, manifestName(num))
	f, err := fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/lsm: create %s: %w", path, err)
	}
	w := &manifestWriter{f: f, num: num, path: path, cipher: cipher}
	hdr := manifestHeader(num, cipher != nil)
	if _, err := f.Write(hdr); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lightning/lsm: write %s: %w", path, err)
	}
	w.size = int64(len(hdr))
	if err := w.append(snapshot); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := fs.SyncDir(dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lightning/lsm: sync %s: %w", dir, err)
	}
	return w, nil
}

// append writes ve as one record and syncs the manifest.
func (w *manifestWriter) append(ve *versionEdit) error {
	if w.err != nil {
		return fmt.Errorf("lightning/lsm: %s is unusable after an earlier failure: %w", w.path, w.err)
	}
	payload := ve.encode(w.plain[:0])
	w.plain = payload
	if len(payload) > maxRecordLen {
		return fmt.Errorf("lightning/lsm: %s: a version edit of %d bytes is larger than a record may be", w.path, len(payload))
	}
	if w.cipher != nil {
		var ad [manifestADLen]byte
		sealed, err := w.cipher.Seal(nil, payload, recordAD(ad[:0], w.num, w.size))
		if err != nil {
			return fmt.Errorf("lightning/lsm: %s: seal a version edit: %w", w.path, err)
		}
		payload = sealed
	}
	w.frame = appendRecord(w.frame[:0], payload)
	if _, err := w.f.Write(w.frame); err != nil {
		w.err = fmt.Errorf("lightning/lsm: write %s: %w", w.path, err)
		return w.err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("lightning/lsm: sync %s: %w", w.path, err)
		return w.err
	}
	w.size += int64(len(w.frame))
	if cap(w.frame) > 1<<20 {
		w.plain, w.frame = nil, nil
	}
	return nil
}

func (w *manifestWriter) close() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("lightning/lsm: close %s: %w", w.path, err)
	}
	return nil
}

// setCurrent points CURRENT at manifest num: it writes CURRENT.tmp, syncs
// it, renames it over CURRENT and syncs the directory, so a crash leaves
// CURRENT naming either the old manifest or the new one.
func setCurrent(fs vfs.FS, dir string, num uint64) error {
	tmp := filepath.Join(dir, currentTmpName)
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("lightning/lsm: create %s: %w", tmp, err)
	}
	_, err = f.Write([]byte(manifestName(num) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lightning/lsm: write %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, filepath.Join(dir, currentName)); err != nil {
		return fmt.Errorf("lightning/lsm: rename %s: %w", tmp, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("lightning/lsm: sync %s: %w", dir, err)
	}
	return nil
}

// readCurrent returns the number of the manifest CURRENT names.
func readCurrent(fs vfs.FS, dir string) (uint64, error) {
	path := filepath.Join(dir, currentName)
	data, err := readWhole(fs, path)
	if err != nil {
		return 0, err
	}
	if bytes.HasSuffix(data, []byte("\n")) {
		if kind, num := parseFileName(string(data[:len(data)-1])); kind == kindManifest {
			return num, nil
		}
	}
	return 0, interfaces.Corruptf(path, 0, "CURRENT holds %q, not a manifest name", data)
}

// readWhole reads a whole file, refusing one larger than a manifest may
// be.
func readWhole(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/lsm: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("lightning/lsm: size of %s: %w", path, err)
	}
	if size > 1<<31 {
		return nil, interfaces.Corruptf(path, -1, "file of %d bytes", size)
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); n != len(data) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("lightning/lsm: read %s: %w", path, err)
	}
	return data, nil
}

// replayed is what a manifest says.
type replayed struct {
	// files maps each table of the final version to its level.
	files       map[uint64]newFileEntry
	nextFileNum uint64
	durableTs   uint64
	logNum      uint64
	// records is the number of whole records; validLen the bytes they and
	// the header take; torn says bytes after them were cut as the torn
	// tail of an append that never completed.
	records  int
	validLen int64
	torn     bool
}

// edit returns an edit that builds the replayed version from nothing.
func (r *replayed) edit() *versionEdit {
	ve := &versionEdit{}
	for _, a := range r.files {
		ve.added = append(ve.added, a)
	}
	return ve
}

// replayManifest decodes the manifest in data (the file at path, numbered
// num) and replays its edits. A torn tail — a last record cut short, or
// zeros where records would be — is cut: it was never acknowledged,
// because an edit takes effect only once synced. Any other damage is a
// *interfaces.CorruptionError naming path and the record's offset; a
// manifest sealed when no cipher is configured (or the reverse), or of
// another format version, is an error matching
// interfaces.ErrIncompatible.
func replayManifest(data []byte, path string, num uint64, cipher interfaces.Cipher) (*replayed, error) {
	if len(data) < manifestHeaderLen {
		return nil, interfaces.Corruptf(path, 0, "manifest of %d bytes is shorter than its header", len(data))
	}
	hdr := data[:manifestHeaderLen]
	if string(hdr[:8]) != manifestMagic {
		return nil, interfaces.Corruptf(path, 0, "bad magic %q: not a manifest", hdr[:8])
	}
	if want, got := binary.LittleEndian.Uint32(hdr[24:]), crc32.Checksum(hdr[:24], castagnoli); want != got {
		return nil, interfaces.Corruptf(path, 0, "header checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	version := binary.LittleEndian.Uint32(hdr[8:])
	flags := binary.LittleEndian.Uint32(hdr[12:])
	switch {
	case version != manifestFormatVersion:
		return nil, fmt.Errorf("lightning/lsm: %s: manifest format version %d, this build reads %d: %w",
			path, version, manifestFormatVersion, interfaces.ErrIncompatible)
	case flags&^manifestKnownFlags != 0:
		return nil, fmt.Errorf("lightning/lsm: %s: unknown manifest flags %#x: %w", path, flags, interfaces.ErrIncompatible)
	case flags&manifestFlagSealed != 0 && cipher == nil:
		return nil, fmt.Errorf("lightning/lsm: %s is encrypted and no cipher is configured: %w", path, interfaces.ErrIncompatible)
	case flags&manifestFlagSealed == 0 && cipher != nil:
		return nil, fmt.Errorf("lightning/lsm: %s is not encrypted and a cipher is configured: %w", path, interfaces.ErrIncompatible)
	case binary.LittleEndian.Uint64(hdr[16:]) != num:
		return nil, interfaces.Corruptf(path, 0, "header names manifest %d", binary.LittleEndian.Uint64(hdr[16:]))
	}
	r := &replayed{files: map[uint64]newFileEntry{}}
	off := int64(manifestHeaderLen)
	var plain []byte
	for {
		rest := data[off:]
		if len(rest) == 0 {
			break
		}
		if allZero(rest) || len(rest) < recordHeaderLen {
			r.torn = true
			break
		}
		n := binary.LittleEndian.Uint32(rest)
		if want, got := binary.LittleEndian.Uint32(rest[4:]), crc32.Checksum(rest[:4], castagnoli); want != got {
			return nil, interfaces.Corruptf(path, off, "record header checksum mismatch")
		}
		if n == 0 || n > maxRecordLen {
			return nil, interfaces.Corruptf(path, off, "record of %d bytes", n)
		}
		if uint64(len(rest)) < recordHeaderLen+uint64(n) {
			// The length is checksummed, so a short record was cut by a
			// crash during its append, not damaged.
			r.torn = true
			break
		}
		payload := rest[recordHeaderLen : recordHeaderLen+int(n)]
		if want, got := binary.LittleEndian.Uint32(rest[8:]), crc32.Checksum(payload, castagnoli); want != got {
			return nil, interfaces.Corruptf(path, off, "record checksum mismatch (stored %#08x, computed %#08x)", want, got)
		}
		if cipher != nil {
			var ad [manifestADLen]byte
			p, err := cipher.Open(plain[:0], payload, recordAD(ad[:0], num, off))
			if err != nil {
				return nil, &interfaces.CorruptionError{File: path, Offset: off, Reason: "record fails authentication (moved, swapped or damaged)", Err: err}
			}
			plain, payload = p, p
		}
		ve, reason := decodeEdit(payload)
		if reason != "" {
			return nil, interfaces.Corruptf(path, off, "version edit: %s", reason)
		}
		if err := r.apply(ve); err != nil {
			return nil, interfaces.Corruptf(path, off, "version edit does not fit the version: %v", err)
		}
		r.records++
		off += recordHeaderLen + int64(n)
	}
	if r.records == 0 {
		return nil, interfaces.Corruptf(path, manifestHeaderLen, "manifest holds no version edit")
	}
	r.validLen = off
	return r, nil
}

// apply replays one edit onto r.
func (r *replayed) apply(ve *versionEdit) error {
	if ve.hasNextFileNum {
		r.nextFileNum = max(r.nextFileNum, ve.nextFileNum)
	}
	if ve.hasDurableTs {
		if ve.durableTs < r.durableTs {
			return fmt.Errorf("durable ts goes down from %d to %d", r.durableTs, ve.durableTs)
		}
		r.durableTs = ve.durableTs
	}
	if ve.hasLogNum {
		if ve.logNum < r.logNum {
			return fmt.Errorf("log number goes down from %d to %d", r.logNum, ve.logNum)
		}
		r.logNum = ve.logNum
	}
	for _, d := range ve.deleted {
		cur, ok := r.files[d.num]
		if !ok || cur.level != d.level {
			return fmt.Errorf("deletes table %06d from L%d, where it is not", d.num, d.level)
		}
		delete(r.files, d.num)
	}
	for _, a := range ve.added {
		if _, ok := r.files[a.meta.num]; ok {
			return fmt.Errorf("adds table %06d twice", a.meta.num)
		}
		if a.meta.num >= r.nextFileNum {
			return fmt.Errorf("adds table %06d, not below the next file number %d", a.meta.num, r.nextFileNum)
		}
		if a.meta.maxTs > r.durableTs {
			return fmt.Errorf("adds table %06d with ts up to %d, above the durable ts %d", a.meta.num, a.meta.maxTs, r.durableTs)
		}
		r.files[a.meta.num] = a
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
