package wal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// RecoveryMode says what Replay does with corruption.
type RecoveryMode uint8

const (
	// Strict fails Replay on corruption, changing nothing. The default.
	Strict RecoveryMode = iota
	// TruncateCorrupt cuts the log at the first corrupt record or
	// segment: that segment is truncated there (removed when its header
	// is the damage) and every later segment removed. What is lost is
	// reported in ReplayResult. For salvaging a damaged database only.
	TruncateCorrupt
)

func (m RecoveryMode) String() string {
	switch m {
	case Strict:
		return "strict"
	case TruncateCorrupt:
		return "truncate-corrupt"
	}
	return fmt.Sprintf("RecoveryMode(%d)", uint8(m))
}

// ReplayResult reports what Replay read, and what it cut.
type ReplayResult struct {
	// Segments counts the segment files found; SkippedSegments those not
	// read because every record in them is at or below afterTs (the next
	// segment's header says so). Check verifies those too.
	Segments        int
	SkippedSegments int
	// Records counts the records passed to fn.
	Records int64
	// LastTs is the highest ts in the log after recovery, including the
	// records at or below afterTs and those named by segment headers.
	LastTs uint64
	// Clean says the log ended with a clean-close marker: the last Close
	// completed.
	Clean bool
	// NewSegment is the path of the segment that new records go to.
	NewSegment string

	// ConfirmedHeader names the last segment when Replay confirmed its
	// header: a background rotation had started it and not yet synced
	// the segment before when the log stopped
	// (Options.SyncRotatedInBackground).
	ConfirmedHeader string
	// A torn tail — the unsynced end of the last segment, left damaged by
	// a crash — is cut: TornSegment and TornOffset say where, TornBytes
	// how much was cut, and TornRecords how many whole records lay past
	// the tear (written, never synced, dropped with it).
	TornSegment string
	TornOffset  int64
	TornBytes   int64
	TornRecords int64

	// With TruncateCorrupt, a corrupt record or segment is cut:
	// Corruption describes it, CorruptSegment and CorruptOffset say where;
	// LostSegments counts the segment files removed, LostBytes the bytes
	// cut or removed, and LostRecords the records in them that still
	// checked out.
	Corruption     *interfaces.CorruptionError
	CorruptSegment string
	CorruptOffset  int64
	LostSegments   int
	LostBytes      int64
	LostRecords    int64
}

// Lost reports whether the replay cut the log at corruption, losing
// records that had been synced.
func (r ReplayResult) Lost() bool { return r.Corruption != nil }

// Torn reports whether the replay cut a torn tail.
func (r ReplayResult) Torn() bool { return r.TornSegment != "" }

// peek is a segment's header as read ahead of the replay.
type peek struct {
	h    segHeader
	ok   bool
	size int64
}

// confirmHeader syncs segment prevNum, then rewrites h, the header of its
// successor at path, without segFlagUnconfirmed and syncs it and the
// directory: what the background rotation that started it left undone.
func (l *Log) confirmHeader(prevNum uint64, path string, h segHeader) error {
	h.flags &^= segFlagUnconfirmed
	sync := func(path string, header []byte) error {
		f, err := l.fs.OpenReadWrite(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		if header != nil {
			_, err = f.WriteAt(header, 0)
		}
		if err == nil {
			err = l.timedSync(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("confirm the header of segment %d: %s: %w", h.num, path, err)
		}
		return nil
	}
	if err := sync(l.segmentPath(prevNum), nil); err != nil {
		return err
	}
	if err := sync(path, h.appendTo(nil)); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.opts.Dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", l.opts.Dir, err)
	}
	return nil
}

// tailStart returns the index of the first segment of heads whose end may
// be a torn tail rather than corruption: the last one, or the one before
// it when the last was started by a background rotation that had not
// confirmed it (Options.SyncRotatedInBackground): its header is torn, or
// still unconfirmed, while the segment before it was written by such a
// log. That segment may be unsynced then, as the last one is.
func tailStart(heads []peek) int {
	n := len(heads)
	if n < 2 || !heads[n-2].ok || !heads[n-2].h.syncedBehind() {
		return n - 1
	}
	if !heads[n-1].ok || heads[n-1].h.unconfirmed() {
		return n - 2
	}
	return n - 1
}

// peekHeader reads the header of the segment at path, if it has one.
func peekHeader(fsys vfs.FS, path string) (peek, error) {
	var p peek
	f, err := fsys.Open(path)
	if err != nil {
		return p, fmt.Errorf("lightning/wal: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err == nil && size >= headerSize {
		var hb [headerSize]byte
		if err = readFull(f, hb[:], 0); err == nil {
			h, reason := parseSegHeader(hb[:])
			p = peek{h: h, ok: reason == ""}
		}
	}
	if err != nil {
		return p, fmt.Errorf("lightning/wal: read %s: %w", path, err)
	}
	p.size = size
	return p, nil
}

// Replay reads the log in order and calls fn for each record with
// ts > afterTs, with its payload opened and decompressed (valid only
// during the call). It must run once, before any write; an error from fn
// stops it and is returned as it is.
//
// Replay checks every record it reads (checksum, format, ts strictly
// increasing across the log) and that no segment is missing where records
// above afterTs could have been. Segments wholly at or below afterTs are
// not read. Damage is classified:
//
//   - a torn tail — damage in the last segment that a torn write could
//     leave, with no record after it saying that it had been synced — is
//     cut: the segment is truncated to its last whole record (removed if
//     its header is torn) and synced. When a background rotation
//     (Options.SyncRotatedInBackground) had not confirmed the last
//     segment's header, the segment before it may end in a torn tail too,
//     cut with the last segment removed; and a last segment whose
//     unconfirmed header names records the one before lacks is removed
//     whole. A last segment that survives unconfirmed is confirmed;
//   - anything else is corruption: with Strict, Replay returns an error
//     wrapping a *interfaces.CorruptionError naming the segment file and
//     offset, and changes nothing; with TruncateCorrupt it cuts the log
//     there and reports the loss.
//
// A segment needing a cipher, codec or format version that is not
// available is an error matching interfaces.ErrIncompatible in either
// mode. After Replay succeeds, new records go to a new segment, created
// with its header and synced with its directory: the log never appends
// after a cut. A failed Replay may be retried; one whose cuts failed
// half-way leaves the log fail-stopped.
func (l *Log) Replay(afterTs uint64, mode RecoveryMode, fn func(ts uint64, payload []byte) error) (ReplayResult, error) {
	var res ReplayResult
	if mode != Strict && mode != TruncateCorrupt {
		return res, fmt.Errorf("lightning/wal: unknown recovery mode %d: %w", mode, interfaces.ErrInvalidArgument)
	}
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	var err error
	switch {
	case l.st == stateClosed:
		err = fmt.Errorf("lightning/wal: %w", interfaces.ErrClosed)
	case l.err != nil:
		err = l.err
	case l.st == stateReady:
		err = fmt.Errorf("lightning/wal: Replay has already run: %w", interfaces.ErrInvalidArgument)
	}
	nums := l.listed
	l.mu.Unlock()
	if err != nil {
		return res, err
	}

	res.Segments = len(nums)
	heads, err := l.peekHeaders(nums)
	if err != nil {
		return res, err
	}
	d := &decoder{cipher: l.cipher, codecs: l.codecs}
	visit := func(rec rawRecord, payload []byte) error {
		if rec.h.marker() || rec.h.ts <= afterTs {
			return nil
		}
		if err := fn(rec.h.ts, payload); err != nil {
			return err
		}
		res.Records++
		return nil
	}

	var (
		segs    []*segment
		lastTs  uint64
		prevNum uint64
		// The cut to make, if any: segment cutNum at cutOff, and the
		// segments after it to remove.
		cutPath string
		cutOff  int64
		doomed  []uint64
	)
	tail := tailStart(heads)
	// confirm is the last segment when it survives with an unconfirmed
	// header: before new records go to a segment after it, the one before
	// it is synced and its header confirmed, as the background rotation
	// would have done.
	var (
		confirm    *segment
		confirmHdr segHeader
	)
	for i, num := range nums {
		path := l.segmentPath(num)
		last := i >= tail
		if !last && skippable(heads[i+1], nums[i+1], lastTs, afterTs) {
			next := heads[i+1].h.prevTs
			segs = append(segs, &segment{num: num, path: path, prevTs: heads[i].h.prevTs, records: -1,
				lastTs: next, size: heads[i].size})
			lastTs, prevNum = next, num
			res.SkippedSegments++
			continue
		}
		wr, size, err := l.walkFile(path, num, d, walkParams{
			last: last, prevNum: prevNum, prevTs: lastTs,
			needAbove: afterTs, decodeAbove: afterTs, visit: visit,
		})
		if err != nil {
			return res, err
		}
		seg := &segment{num: num, path: path, prevTs: wr.hdr.prevTs, records: wr.records,
			firstTs: wr.firstTs, lastTs: wr.lastTs, size: size}
		lastTs, prevNum = wr.lastTs, num
		if i == len(nums)-1 && i > 0 && wr.hdrOK && wr.hdr.unconfirmed() && (wr.dmg == nil || wr.dmg.off >= headerSize) {
			confirm, confirmHdr = seg, wr.hdr
		}
		if wr.dmg == nil {
			segs = append(segs, seg)
			res.Clean = i == len(nums)-1 && wr.marker
			continue
		}
		off := wr.dmg.off
		if wr.dmg.torn {
			res.TornSegment, res.TornOffset, res.TornBytes, res.TornRecords = path, off, size-off, wr.dmg.validAfter
			// A torn tail before the last segment: the last one, with
			// its torn or unconfirmed header, goes too (see tailStart),
			// and its records count as torn.
			for _, n := range nums[i+1:] {
				records, size, err := l.countRecords(l.segmentPath(n), n)
				if err != nil {
					return res, err
				}
				res.TornBytes += size
				res.TornRecords += records
			}
			doomed = nums[i+1:]
		} else {
			if mode == Strict {
				return res, fmt.Errorf("lightning/wal: replay: %w", wr.dmg.err)
			}
			res.Corruption, res.CorruptSegment, res.CorruptOffset = wr.dmg.err, path, off
			res.LostBytes, res.LostRecords = size-off, wr.dmg.validAfter
			if off < headerSize {
				res.LostSegments++
			}
			for _, n := range nums[i+1:] {
				records, size, err := l.countRecords(l.segmentPath(n), n)
				if err != nil {
					return res, err
				}
				res.LostSegments++
				res.LostBytes += size
				res.LostRecords += records
			}
			doomed = nums[i+1:]
		}
		cutPath, cutOff = path, off
		if off >= headerSize {
			seg.size = off
			segs = append(segs, seg)
		}
		break
	}

	// Every read succeeded: make the repairs and cuts, then start the new
	// segment. They are durable before the new segment exists, so a crash
	// in between finds the same log again.
	if confirm != nil {
		if err := l.confirmHeader(nums[len(nums)-2], confirm.path, confirmHdr); err != nil {
			return res, l.fail(err)
		}
		res.ConfirmedHeader = confirm.path
		l.logger.Info("lightning/wal: confirmed the header a background rotation had not",
			"segment", confirm.path, "prev_ts", confirm.prevTs)
	}
	if cutPath != "" {
		if err := l.cut(cutPath, cutOff, doomed); err != nil {
			return res, l.fail(err)
		}
		l.logCut(&res)
	}
	seg, err := l.createSegment(l.nextNum, lastTs)
	if err != nil {
		return res, l.fail(err)
	}
	segs = append(segs, seg)
	segs = l.dropEmptyTail(segs)

	var live int64
	for _, s := range segs {
		live += s.size
	}
	l.mu.Lock()
	l.segs = segs
	l.lastTs = lastTs
	l.nextNum++
	l.st = stateReady
	l.listed = nil
	l.mu.Unlock()
	l.segCount.Store(int64(len(segs)))
	l.liveBytes.Store(live)
	res.LastTs = lastTs
	res.NewSegment = seg.path
	l.logger.Debug("lightning/wal: replayed", "dir", l.opts.Dir, "segments", res.Segments,
		"skipped", res.SkippedSegments, "records", res.Records, "last_ts", lastTs, "clean", res.Clean)
	return res, nil
}

// skippable says a segment need not be read: the next segment's header
// (which checks out) says every record before it is at or below afterTs.
func skippable(next peek, nextNum, lastTs, afterTs uint64) bool {
	return next.ok && next.h.version == formatVersion && next.h.num == nextNum &&
		next.h.prevTs <= afterTs && next.h.prevTs >= lastTs
}

// peekHeaders reads the header of each segment, to know ahead which ones
// Replay may skip.
func (l *Log) peekHeaders(nums []uint64) ([]peek, error) {
	heads := make([]peek, len(nums))
	for i, num := range nums {
		var err error
		if heads[i], err = peekHeader(l.fs, l.segmentPath(num)); err != nil {
			return nil, err
		}
	}
	return heads, nil
}

// walkFile opens the segment at path and walks it whole.
func (l *Log) walkFile(path string, num uint64, d *decoder, p walkParams) (walkResult, int64, error) {
	f, err := l.fs.Open(path)
	if err != nil {
		return walkResult{}, 0, fmt.Errorf("lightning/wal: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return walkResult{}, 0, fmt.Errorf("lightning/wal: size of %s: %w", path, err)
	}
	wr, err := walkSegment(newScanner(path, num, f, size), d, p)
	return wr, size, err
}

// countRecords counts the data records of a segment that check out,
// wherever they are (a segment about to be removed is not trusted to be
// well formed), and returns its size.
func (l *Log) countRecords(path string, num uint64) (int64, int64, error) {
	f, err := l.fs.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("lightning/wal: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, 0, fmt.Errorf("lightning/wal: size of %s: %w", path, err)
	}
	var n int64
	// An incomplete scan only makes the count a lower bound.
	_, err = newScanner(path, num, f, size).scanValid(headerSize, 0, func(_ int64, h recHeader) bool {
		if !h.marker() {
			n++
		}
		return true
	})
	return n, size, err
}

// cut truncates the segment at path to off (removes it when off is inside
// its header) and removes the segments numbered doomed, durably.
func (l *Log) cut(path string, off int64, doomed []uint64) error {
	removed := false
	if off < headerSize {
		if err := l.fs.Remove(path); err != nil {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		removed = true
	} else {
		f, err := l.fs.OpenReadWrite(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		err = f.Truncate(off)
		if err == nil {
			err = l.timedSync(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("truncate %s to %d: %w", path, off, err)
		}
	}
	for _, n := range doomed {
		p := l.segmentPath(n)
		if err := l.fs.Remove(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		removed = true
	}
	if removed {
		if err := l.fs.SyncDir(l.opts.Dir); err != nil {
			return fmt.Errorf("sync directory %s: %w", l.opts.Dir, err)
		}
	}
	return nil
}

func (l *Log) logCut(res *ReplayResult) {
	if res.Torn() {
		l.logger.Warn("lightning/wal: cut a torn tail", "segment", res.TornSegment, "offset", res.TornOffset,
			"bytes", res.TornBytes, "unsynced_records", res.TornRecords)
	}
	if res.Lost() {
		l.logger.Error("lightning/wal: cut the log at corruption; records after it are lost",
			"segment", res.CorruptSegment, "offset", res.CorruptOffset, "reason", res.Corruption.Reason,
			"lost_segments", res.LostSegments, "lost_bytes", res.LostBytes, "lost_records", res.LostRecords)
	}
}

// dropEmptyTail removes the segments just before the new active one that
// hold no record (left by opens and closes without writes), once the new
// segment, whose header carries the same prev ts, is durable. It is best
// effort: a segment that cannot be removed stays, for Release.
func (l *Log) dropEmptyTail(segs []*segment) []*segment {
	active := segs[len(segs)-1]
	keep := len(segs) - 1
	for keep > 0 && segs[keep-1].records == 0 {
		keep--
	}
	if keep == len(segs)-1 {
		return segs
	}
	out := segs[:keep]
	var failed []*segment
	for _, s := range segs[keep : len(segs)-1] {
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("lightning/wal: remove empty segment", "segment", s.path, "err", err)
			failed = append(failed, s)
		}
	}
	if err := l.fs.SyncDir(l.opts.Dir); err != nil {
		l.logger.Warn("lightning/wal: sync directory", "dir", l.opts.Dir, "err", err)
	}
	out = append(out, failed...)
	return append(out, active)
}
