package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// Record is one commit: its ts and the core's encoding of its batch.
type Record struct {
	// Ts is the commit's ts: above 0, and above every ts written before.
	Ts uint64
	// Payload is the commit's bytes; the log copies them before
	// WriteGroup returns. At most MaxRecordBody bytes, less the cipher's
	// overhead.
	Payload []byte
}

// Stats are a Log's figures.
type Stats struct {
	// Segments counts the segment files the log holds (the active one
	// included); LiveBytes is their total size.
	Segments  int
	LiveBytes int64
	// Records, Groups and BytesWritten count what WriteGroup wrote since
	// Open (BytesWritten includes segment headers and markers).
	Records      int64
	Groups       int64
	BytesWritten int64
	// Syncs counts segment fsyncs (by Sync, rotation and Close), and
	// SyncLatency is the total time they took.
	Syncs       int64
	SyncLatency time.Duration
	// Rotations counts segments started after the first; Released counts
	// segments deleted or archived by Release.
	Rotations int64
	Released  int64
}

// state is a Log's stage of life.
type state uint8

const (
	// stateOpened: segments are listed; Replay has not run yet.
	stateOpened state = iota
	// stateReady: Replay has run; the active segment takes writes.
	stateReady
	// stateClosed: Close has run.
	stateClosed
)

// segment is a live segment file.
type segment struct {
	num  uint64
	path string
	// prevTs is the header's: the log's last ts before the segment.
	prevTs uint64
	// records counts its data records, -1 when unknown (Replay skipped
	// it); firstTs is the first one's ts.
	records int64
	firstTs uint64
	// lastTs is the highest ts in the log through the end of this segment
	// (prevTs when it holds no record). Release frees a segment when
	// lastTs <= the durable ts.
	lastTs uint64
	// size is the file's size.
	size int64

	// The active segment only: its handle (set and cleared under writeMu,
	// syncMu and mu; used by holders of writeMu or syncMu), the bytes
	// written (every completed write; a failed one fail-stops the log) and
	// the bytes known durable.
	// INVARIANT: headerSize <= synced <= written == size.
	file    vfs.File
	written int64
	synced  int64
	// alloc is the active segment's file size: written, plus the zeros
	// that Options.Preallocate keeps past it. Guarded by writeMu.
	// INVARIANT: written <= alloc, and alloc == written once the segment
	// is sealed or closed.
	alloc int64
	// trimmed says the file was truncated to written since its last
	// sync, so a sync is due even with every record synced.
	trimmed bool
	// mapped is a shared write mapping of the file's first len(mapped)
	// bytes (Options.MapWrites), nil when records go by write calls;
	// unmap releases it. Guarded by writeMu.
	mapped []byte
	unmap  func() error
}

// Log is the write-ahead log: a directory of segment files holding one
// record per commit. See the package documentation for its life cycle
// and concurrency rules.
type Log struct {
	opts     Options
	fs       vfs.FS
	codec    interfaces.Codec // nil: never compress
	codecs   map[interfaces.CodecID]interfaces.Codec
	cipher   interfaces.Cipher
	overhead int
	logger   *slog.Logger

	// releaseMu serialises Replay, Release and Check, so Check never reads
	// a segment that Release or Replay is removing or cutting.
	// Lock order: releaseMu, writeMu, syncMu, mu.
	releaseMu sync.Mutex
	// writeMu serialises WriteGroup, Replay and Close, and guards the
	// writer's scratch buffers below.
	writeMu sync.Mutex
	// syncMu is held by Sync across its fsync, and by rotation and Close
	// while they sync and close the active segment's handle, so a handle
	// is never closed under a running fsync. WriteGroup takes it only to
	// rotate: a Sync never holds up an ordinary write.
	syncMu sync.Mutex
	// mu guards the fields below it; it is held only for short, non-I/O
	// sections.
	mu sync.Mutex
	st state
	// err is the sticky error: once set, every write-side call fails with
	// it.
	err error
	// listed are the segment numbers Open found, for Replay.
	listed []uint64
	// segs are the live segments in order; when ready, the last is the
	// active one.
	segs []*segment
	// lastTs is the highest ts in the log: written, replayed, or named by
	// a segment header.
	lastTs uint64
	// nextNum is the number the next segment gets.
	nextNum uint64
	// rotSync is closed when the background sync of the segment before
	// the active one, and the confirming of the active one's header, end
	// (Options.SyncRotatedInBackground); nil when none has run since the
	// last wait.
	rotSync chan struct{}

	// Writer scratch, guarded by writeMu: the group's encoding, compressed
	// payloads and additional data, reused from group to group; zeros is
	// Preallocate's source, made on first use.
	buf, comp, ad []byte
	zeros         []byte
	// mapWarned says the log has logged that it cannot map segments;
	// mapUnsupported that the platform cannot, so none is tried again.
	mapWarned, mapUnsupported bool
	// pf populates the active segment's mapping ahead of the writer (nil
	// until a segment is mapped on an FS that can); pfAsked is how far
	// into that mapping it has been asked to.
	pf      *prefaulter
	pfAsked int

	records, groups, bytesWritten atomic.Int64
	syncs, syncNanos              atomic.Int64
	rotations, released           atomic.Int64
	segCount, liveBytes           atomic.Int64
}

// Errors of the Log's life cycle.
var (
	// ErrNotReplayed is returned by WriteGroup, Sync and Release before
	// Replay has run: until then the log's tail may be torn, and nothing
	// may be written after it.
	ErrNotReplayed = fmt.Errorf("lightning/wal: the log has not been replayed: %w", interfaces.ErrInvalidArgument)
)

// retainLimit bounds the scratch buffers kept between groups, so one huge
// group does not pin its memory for the log's life.
const retainLimit = 16 << 20

// Open opens the log in opts.Dir, creating the directory (and
// opts.ArchiveDir) durably when missing, and lists its segments. It writes
// nothing else: call Replay before writing.
func Open(opts Options) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	codecs, err := opts.codecMap()
	if err != nil {
		return nil, err
	}
	l := &Log{
		opts:   opts,
		fs:     opts.FS,
		codec:  opts.writeCodec(),
		codecs: codecs,
		cipher: opts.Cipher,
		logger: opts.Logger,
	}
	if l.cipher != nil {
		l.overhead = l.cipher.Overhead()
	}
	if err := vfs.MkdirAllDurable(l.fs, opts.Dir); err != nil {
		return nil, err
	}
	l.listed, err = listSegments(l.fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	maxNum := uint64(0)
	if n := len(l.listed); n > 0 {
		maxNum = l.listed[n-1]
	}
	if opts.ArchiveDir != "" {
		if err := vfs.MkdirAllDurable(l.fs, opts.ArchiveDir); err != nil {
			return nil, err
		}
		archived, err := listSegments(l.fs, opts.ArchiveDir)
		if err != nil {
			return nil, err
		}
		// Numbers never repeat, so a segment archived long ago is never
		// replaced by a newer one of the same name.
		if n := len(archived); n > 0 {
			maxNum = max(maxNum, archived[n-1])
		}
	}
	l.nextNum = maxNum + 1
	return l, nil
}

// listSegments returns the numbers of the segment files in dir, in order.
// Other names are ignored.
func listSegments(fsys vfs.FS, dir string) ([]uint64, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("lightning/wal: list %s: %w", dir, err)
	}
	var nums []uint64
	for _, name := range names {
		if n, ok := parseSegmentName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

func (l *Log) segmentPath(num uint64) string {
	return filepath.Join(l.opts.Dir, segmentName(num))
}

// usableLocked returns the error a write-side call must fail with, if
// any. l.mu must be held.
func (l *Log) usableLocked() error {
	switch {
	case l.st == stateClosed:
		return fmt.Errorf("lightning/wal: %w", interfaces.ErrClosed)
	case l.err != nil:
		return l.err
	case l.st != stateReady:
		return ErrNotReplayed
	}
	return nil
}

// failLocked makes cause the sticky error and returns it: from now on
// every write-side call fails with an error matching both
// interfaces.ErrFailStopped and cause. l.mu must be held.
func (l *Log) failLocked(cause error) error {
	if l.err == nil {
		l.err = fmt.Errorf("lightning/wal: %w: %w", interfaces.ErrFailStopped, cause)
		l.logger.Error("lightning/wal: fail-stopped", "err", cause)
	}
	return l.err
}

func (l *Log) fail(cause error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(cause)
}

// WriteGroup appends recs to the active segment with one write call,
// first starting a new segment when the group would push the active one
// past SegmentSize (unless the active one holds no record yet). Ts values
// must be above 0, strictly increasing, and above every ts in the log.
//
// Arguments that break these rules return an error matching
// interfaces.ErrInvalidArgument and write nothing; a compression or
// sealing failure writes nothing either, and neither stops the log. Any
// I/O error is sticky: the log is fail-stopped, and
// this and every later write-side call return an error matching
// interfaces.ErrFailStopped; reopen and replay to recover.
//
// WriteGroup does not sync: call Sync for durability. It does not
// allocate once its buffers have grown to the group size.
func (l *Log) WriteGroup(recs []Record) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	err := l.usableLocked()
	seg, lastTs := l.active(), l.lastTs
	var written, synced int64
	if err == nil {
		written, synced = seg.written, seg.synced
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if err := l.checkGroup(recs, lastTs); err != nil {
		return err
	}
	buf, err := l.encodeGroup(recs, seg.num, written, synced)
	if err != nil {
		return err
	}
	if written > headerSize && written+int64(len(buf)) > l.opts.SegmentSize {
		if seg, err = l.rotate(); err != nil {
			return err
		}
		// Offsets and the segment number are part of every checksum and
		// of the additional data, so the group is encoded again for its
		// new place: once per segment.
		if buf, err = l.encodeGroup(recs, seg.num, headerSize, headerSize); err != nil {
			return err
		}
		written = headerSize
	}
	n, err := l.store(seg, buf, written)
	if err == nil {
		err = l.preallocate(seg, written+int64(n))
	}
	if end := int(written) + n; err == nil && l.pf != nil && seg.mapped != nil && end+prefaultLead/2 > l.pfAsked {
		l.pfAsked = l.pf.ahead(seg.mapped, end)
	}
	l.mu.Lock()
	if err != nil {
		// Whatever reached the file is a torn tail now.
		err = l.failLocked(fmt.Errorf("write %s: %w", seg.path, err))
		l.mu.Unlock()
		return err
	}
	seg.written += int64(n)
	seg.size = seg.written
	if seg.records == 0 {
		seg.firstTs = recs[0].Ts
	}
	seg.records += int64(len(recs))
	seg.lastTs = recs[len(recs)-1].Ts
	l.lastTs = seg.lastTs
	l.mu.Unlock()

	l.records.Add(int64(len(recs)))
	l.groups.Add(1)
	l.bytesWritten.Add(int64(n))
	l.liveBytes.Add(int64(n))
	l.buf = trim(buf)
	return nil
}

// store puts b into seg's file at off: a copy into the mapping when
// there is one and b fits, a WriteAt otherwise. A fault in the copy (the
// file system could not back the page) is an error like a failed write.
// writeMu must be held.
func (l *Log) store(seg *segment, b []byte, off int64) (int, error) {
	if seg.mapped != nil && off+int64(len(b)) <= int64(len(seg.mapped)) {
		if err := copyMapped(seg.mapped[off:], b); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	n, err := seg.file.WriteAt(b, off)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(b))
	}
	return n, err
}

// copyMapped copies src into dst, a write mapping, returning the fault
// as an error should the file system fail to back a page (SIGBUS on a
// full disk, where a sparse page is first stored to) instead of crashing
// the process.
func copyMapped(dst, src []byte) (err error) {
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			err = fmt.Errorf("store into the mapped segment faulted (is the disk full?): %v", r)
		}
	}()
	copy(dst, src)
	return nil
}

// mapSegment sizes seg's file to SegmentSize and maps it for writing when
// Options.MapWrites asks for it and the FS can. A failure is not an
// error: the log writes with write calls instead, and says why once.
func (l *Log) mapSegment(seg *segment) {
	if !l.opts.MapWrites {
		return
	}
	m, ok := l.fs.(vfs.WriteMapper)
	if !ok || l.mapUnsupported {
		return
	}
	size := l.opts.SegmentSize
	if err := seg.file.Truncate(size); err != nil {
		l.mapFailed(seg, err)
		return
	}
	seg.alloc = size
	data, unmap, err := m.MapWrite(seg.file, size)
	if err != nil {
		l.mapFailed(seg, err)
		// Give the space back now rather than at rotation; should that
		// fail, the zeros stay until then, harmless.
		if seg.file.Truncate(seg.written) == nil {
			seg.alloc = seg.written
		}
		return
	}
	seg.mapped, seg.unmap = data, unmap
	if l.pf == nil {
		if p, ok := l.fs.(vfs.WritePopulator); ok {
			l.pf = newPrefaulter(p.PopulateWrite, func(err error) {
				l.logger.Debug("lightning/wal: not populating mapped segments ahead of the writer", "err", err)
			})
		}
	}
	if l.pf != nil {
		l.pfAsked = l.pf.ahead(data, int(seg.written))
	}
}

// mapFailed notes, once per log, that segments are written with write
// calls: at debug level where the platform has no mappings, as a warning
// where a mapping failed.
func (l *Log) mapFailed(seg *segment, err error) {
	if errors.Is(err, errors.ErrUnsupported) {
		// The platform cannot map: later segments need not try.
		l.mapUnsupported = true
	}
	if l.mapWarned {
		return
	}
	l.mapWarned = true
	level := slog.LevelWarn
	if errors.Is(err, errors.ErrUnsupported) {
		level = slog.LevelDebug
	}
	l.logger.Log(context.Background(), level, "lightning/wal: cannot map segments for writing; writing records with write calls",
		"segment", seg.path, "err", err)
}

// unmapSegment releases seg's mapping, if it has one. The stores it took
// are in the page cache already; unmapping loses none of them.
func (l *Log) unmapSegment(seg *segment) error {
	if seg.mapped == nil {
		return nil
	}
	if l.pf != nil {
		l.pf.forget(seg.mapped)
	}
	err := seg.unmap()
	seg.mapped, seg.unmap = nil, nil
	if err != nil {
		return fmt.Errorf("unmap %s: %w", seg.path, err)
	}
	return nil
}

// preallocate writes zeros past end, the end of seg's records, when
// Options.Preallocate asks for them and the file does not already reach
// that far (see Options.Preallocate). writeMu must be held. The zeros are
// never synced on their own: the next Sync carries them, once.
func (l *Log) preallocate(seg *segment, end int64) error {
	step := l.opts.Preallocate
	seg.alloc = max(seg.alloc, end)
	if step <= 0 || seg.alloc-end >= step/2 {
		return nil
	}
	target := min(end+step, max(l.opts.SegmentSize, end))
	if target <= seg.alloc {
		return nil
	}
	if int64(len(l.zeros)) < step {
		l.zeros = make([]byte, step)
	}
	for off := seg.alloc; off < target; {
		n, err := seg.file.WriteAt(l.zeros[:min(target-off, int64(len(l.zeros)))], off)
		if err != nil {
			return fmt.Errorf("preallocate %s at %d: %w", seg.path, off, err)
		}
		off += int64(n)
	}
	seg.alloc = target
	return nil
}

// trimTail truncates seg's file to its records, dropping the zeros that
// preallocate wrote past them, before a rotation or Close: only the
// active segment may end in zeros, which a reader takes for a torn tail.
// The truncation is made durable by the sync that follows (trimmed forces
// one). writeMu must be held.
func (l *Log) trimTail(seg *segment) error {
	if err := l.unmapSegment(seg); err != nil {
		return err
	}
	if seg.alloc <= seg.written {
		return nil
	}
	if err := seg.file.Truncate(seg.written); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", seg.path, seg.written, err)
	}
	seg.alloc = seg.written
	l.mu.Lock()
	seg.trimmed = true
	l.mu.Unlock()
	return nil
}

// active returns the active segment (nil before Replay). l.mu must be
// held.
func (l *Log) active() *segment {
	if l.st != stateReady || len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// checkGroup validates the ts order and payload sizes of recs.
func (l *Log) checkGroup(recs []Record, lastTs uint64) error {
	maxPayload := MaxRecordBody - l.overhead
	prev := lastTs
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Ts == 0:
			return fmt.Errorf("lightning/wal: record %d of the group has ts 0: %w", i, interfaces.ErrInvalidArgument)
		case r.Ts <= prev:
			return fmt.Errorf("lightning/wal: record %d of the group has ts %d, not above %d: %w",
				i, r.Ts, prev, interfaces.ErrInvalidArgument)
		case len(r.Payload) > maxPayload:
			return fmt.Errorf("lightning/wal: record at ts %d has a %d-byte payload, above the %d-byte maximum: %w",
				r.Ts, len(r.Payload), maxPayload, interfaces.ErrInvalidArgument)
		}
		prev = r.Ts
	}
	return nil
}

// encodeGroup encodes recs for segment num starting at offset off, each
// record carrying synced as its synced offset, into l.buf.
func (l *Log) encodeGroup(recs []Record, num uint64, off, synced int64) ([]byte, error) {
	buf := l.buf[:0]
	var err error
	for i := range recs {
		buf, err = l.appendRecord(buf, num, off+int64(len(buf)), recs[i].Ts, synced, false, recs[i].Payload)
		if err != nil {
			l.buf = trim(buf)
			return nil, err
		}
	}
	l.buf = buf
	return buf, nil
}

// appendRecord appends the record at offset off of segment num to dst:
// header, then the payload, compressed when that pays and sealed when a
// cipher is configured, then the checksum in place.
func (l *Log) appendRecord(dst []byte, num uint64, off int64, ts uint64, synced int64, marker bool, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...)
	h := recHeader{ts: ts, synced: uint64(synced)}
	if marker {
		h.flags |= recFlagMarker
	}
	if l.codec != nil && !marker && len(payload) >= l.opts.CompressThreshold && len(payload) <= interfaces.MaxDecodedLen {
		comp, err := l.codec.Encode(l.comp[:0], payload)
		if err != nil {
			return dst[:start], fmt.Errorf("lightning/wal: compress record at ts %d: %w", ts, err)
		}
		l.comp = comp
		// A payload that does not shrink is stored as it is: decoding it
		// would cost time for nothing.
		if len(comp) < len(payload) {
			payload, h.codec = comp, l.codec.ID()
		}
	}
	if l.cipher == nil {
		h.length = uint32(len(payload))
		putRecHeader(dst[start:], h)
		dst = append(dst, payload...)
	} else {
		h.flags |= recFlagSealed
		h.length = uint32(len(payload) + l.overhead)
		putRecHeader(dst[start:], h)
		l.ad = appendAD(l.ad[:0], num, off, dst[start:start+recordHeaderSize])
		sealed, err := l.cipher.Seal(dst, payload, l.ad)
		if err != nil {
			return dst[:start], fmt.Errorf("lightning/wal: seal record at ts %d: %w", ts, err)
		}
		if got := len(sealed) - start - recordHeaderSize; got != int(h.length) {
			return sealed[:start], fmt.Errorf("lightning/wal: cipher sealed %d bytes into %d, not the %d its Overhead promises",
				len(payload), got, h.length)
		}
		dst = sealed
	}
	rec := dst[start:]
	putUint32(rec, recordCRC(num, off, rec[4:]))
	if cap(l.comp) > retainLimit {
		l.comp = nil
	}
	return dst, nil
}

func putUint32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// trim returns b emptied, or nil when it has grown past retainLimit.
func trim(b []byte) []byte {
	if cap(b) > retainLimit {
		return nil
	}
	return b[:0]
}

// rotate syncs the active segment, starts the next one and makes it
// active. writeMu must be held. Errors are sticky.
func (l *Log) rotate() (*segment, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	// At most one background sync runs: the segment it syncs must be
	// durable before its successor's successor can begin.
	if err := l.waitRotSync(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	old, prevTs, num := l.active(), l.lastTs, l.nextNum
	l.mu.Unlock()
	// A segment is synced whole before the next one begins — or, synced
	// in the background, before the next one's header is confirmed: that
	// is what lets a reader call any damage in a segment but the last
	// corruption. It ends at its last record: zeros past it would read as
	// damage.
	if err := l.trimTail(old); err != nil {
		return nil, l.fail(err)
	}
	background := l.opts.SyncRotatedInBackground
	if !background {
		if err := l.syncFile(old); err != nil {
			return nil, l.fail(err)
		}
	}
	seg, header, err := l.startSegment(num, prevTs, !background)
	if err != nil {
		return nil, l.fail(err)
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.nextNum = num + 1
	l.mu.Unlock()
	l.rotations.Add(1)
	if background {
		done := make(chan struct{})
		l.mu.Lock()
		l.rotSync = done
		l.mu.Unlock()
		go l.syncRotated(old, seg, header, done)
	} else {
		l.closeSealed(old)
	}
	l.logger.Debug("lightning/wal: rotated", "sealed", old.path, "active", seg.path, "prev_ts", prevTs, "background_sync", background)
	return seg, nil
}

// syncRotated syncs old, the segment a background rotation sealed, then
// confirms the header of next, its successor, and closes old's handle. A
// failure fail-stops the log; Replay then treats both as unsynced.
func (l *Log) syncRotated(old, next *segment, header []byte, done chan struct{}) {
	defer close(done)
	err := l.syncFile(old)
	if err == nil {
		if _, werr := next.file.WriteAt(header, 0); werr != nil {
			err = fmt.Errorf("confirm the header of %s: %w", next.path, werr)
		}
	}
	if err != nil {
		_ = l.fail(err)
	}
	l.closeSealed(old)
}

// closeSealed closes the handle of a sealed segment.
func (l *Log) closeSealed(old *segment) {
	if err := old.file.Close(); err != nil {
		// The data is synced (or the log fail-stopped); a failing close
		// loses nothing.
		l.logger.Warn("lightning/wal: close sealed segment", "segment", old.path, "err", err)
	}
	l.mu.Lock()
	old.file = nil
	l.mu.Unlock()
}

// waitRotSync waits for a background rotation sync to end, returning the
// sticky error should the log have failed.
func (l *Log) waitRotSync() error {
	l.mu.Lock()
	done := l.rotSync
	l.mu.Unlock()
	if done == nil {
		return nil
	}
	<-done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rotSync == done {
		l.rotSync = nil
	}
	return l.err
}

// syncFile fsyncs seg's file if it has unsynced bytes, and records it.
// syncMu must be held (or the log be otherwise exclusive).
func (l *Log) syncFile(seg *segment) error {
	l.mu.Lock()
	target, done := seg.written, seg.synced >= seg.written && !seg.trimmed
	trimmed := seg.trimmed
	l.mu.Unlock()
	if done {
		return nil
	}
	if err := l.timedSync(seg.file); err != nil {
		return fmt.Errorf("sync %s: %w", seg.path, err)
	}
	l.mu.Lock()
	seg.synced = max(seg.synced, target)
	if trimmed {
		seg.trimmed = false
	}
	l.mu.Unlock()
	return nil
}

func (l *Log) timedSync(f vfs.File) error {
	start := time.Now()
	err := f.Sync()
	l.syncNanos.Add(int64(time.Since(start)))
	l.syncs.Add(1)
	return err
}

// createSegment creates segment num with its header, syncs it and its
// directory, and returns it open for appending. On error the file may be
// left behind, empty or with a partial header: a torn tail the next
// Replay removes.
func (l *Log) createSegment(num, prevTs uint64) (*segment, error) {
	seg, _, err := l.startSegment(num, prevTs, true)
	return seg, err
}

// startSegment creates segment num and writes its header, syncing it and
// the directory. Without confirmed set (a background rotation), the header
// carries segFlagUnconfirmed, and startSegment returns the confirmed one
// for the caller to write once the segment before is synced.
func (l *Log) startSegment(num, prevTs uint64, confirmed bool) (*segment, []byte, error) {
	path := l.segmentPath(num)
	f, err := l.fs.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	h := segHeader{version: formatVersion, num: num, prevTs: prevTs}
	if l.cipher != nil {
		h.flags |= segFlagSealed
	}
	if l.opts.SyncRotatedInBackground {
		h.flags |= segFlagSyncedBehind
	}
	header := h.appendTo(make([]byte, 0, headerSize))
	written := header
	if !confirmed {
		u := h
		u.flags |= segFlagUnconfirmed
		written = u.appendTo(make([]byte, 0, headerSize))
	}
	// The header is durable before any record goes in (a sync of one
	// page and of the directory, against the whole segment a background
	// rotation leaves for later), so the only torn header is the last
	// segment's.
	_, err = f.Write(written)
	if err == nil {
		err = l.timedSync(f)
	}
	if err == nil {
		err = l.fs.SyncDir(l.opts.Dir)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	l.bytesWritten.Add(headerSize)
	l.liveBytes.Add(headerSize)
	l.segCount.Add(1)
	seg := &segment{num: num, path: path, prevTs: prevTs, lastTs: prevTs, size: headerSize,
		file: f, written: headerSize, synced: headerSize, alloc: headerSize}
	l.mapSegment(seg)
	return seg, header, nil
}

// Sync makes every record written so far durable: it fsyncs the active
// segment if it has unsynced bytes, and from then on records carry the
// new synced offset. It may run concurrently with WriteGroup, which it
// does not hold up during the fsync; concurrent Syncs are serialised, and
// one that finds its bytes already synced returns at once. A sync error
// fail-stops the log.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.waitRotSync(); err != nil {
		return err
	}
	l.mu.Lock()
	err := l.usableLocked()
	seg := l.active()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if err := l.syncFile(seg); err != nil {
		return l.fail(err)
	}
	return nil
}

// Close syncs the active segment, appends a clean-close marker (a record
// with no payload whose synced offset covers everything before it, so
// that any damage before it reads as corruption, never as a torn tail),
// syncs again and closes the file. Before Replay, or after a fail-stop,
// it only releases the file handles (returning the sticky error, if any).
// A second Close returns an error matching interfaces.ErrClosed.
func (l *Log) Close() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.st == stateClosed {
		l.mu.Unlock()
		return fmt.Errorf("lightning/wal: %w", interfaces.ErrClosed)
	}
	l.mu.Unlock()
	// A background rotation sync finishes first: its segment's handle
	// is its to close, and the active segment's header its to write.
	_ = l.waitRotSync()
	l.mu.Lock()
	seg, sticky, ready := l.active(), l.err, l.st == stateReady
	l.st = stateClosed
	l.mu.Unlock()
	if l.pf != nil {
		// After the segment is unmapped (forget waits for a populate of
		// it), the goroutine goes.
		defer func() { l.pf.stop(); l.pf = nil }()
	}
	if !ready {
		return sticky
	}
	var err error
	if sticky == nil {
		err = l.writeMarker(seg)
	}
	// After a fail-stop the segment keeps its unused end, a torn tail for
	// the next Replay; its mapping goes either way.
	if uerr := l.unmapSegment(seg); uerr != nil && err == nil {
		err = fmt.Errorf("lightning/wal: %w", uerr)
	}
	if cerr := seg.file.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("lightning/wal: close %s: %w", seg.path, cerr)
	}
	l.mu.Lock()
	seg.file = nil
	l.mu.Unlock()
	if sticky != nil {
		return sticky
	}
	return err
}

// writeMarker syncs seg, appends the clean-close marker and syncs again.
// Preallocated zeros are cut, and the cut synced, before the marker is
// written: a crash must never leave the marker followed by zeros, which
// a reader takes for damage after a clean close.
func (l *Log) writeMarker(seg *segment) error {
	if err := l.trimTail(seg); err != nil {
		return fmt.Errorf("lightning/wal: %w", err)
	}
	if err := l.syncFile(seg); err != nil {
		return fmt.Errorf("lightning/wal: %w", err)
	}
	l.mu.Lock()
	off, lastTs := seg.written, l.lastTs
	l.mu.Unlock()
	buf, err := l.appendRecord(l.buf[:0], seg.num, off, lastTs, off, true, nil)
	if err != nil {
		return err
	}
	l.buf = trim(buf)
	n, err := l.store(seg, buf, off)
	if err != nil {
		return fmt.Errorf("lightning/wal: write clean-close marker to %s: %w", seg.path, err)
	}
	l.mu.Lock()
	seg.written += int64(n)
	seg.size = seg.written
	l.mu.Unlock()
	l.bytesWritten.Add(int64(n))
	l.liveBytes.Add(int64(n))
	if err := l.syncFile(seg); err != nil {
		return fmt.Errorf("lightning/wal: %w", err)
	}
	return nil
}

// Stats returns the log's figures. It takes no lock.
func (l *Log) Stats() Stats {
	return Stats{
		Segments:     int(l.segCount.Load()),
		LiveBytes:    l.liveBytes.Load(),
		Records:      l.records.Load(),
		Groups:       l.groups.Load(),
		BytesWritten: l.bytesWritten.Load(),
		Syncs:        l.syncs.Load(),
		SyncLatency:  time.Duration(l.syncNanos.Load()),
		Rotations:    l.rotations.Load(),
		Released:     l.released.Load(),
	}
}

// LastTs returns the highest ts in the log: the last written or replayed,
// or, when every record has been released, the last one released.
func (l *Log) LastTs() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastTs
}
