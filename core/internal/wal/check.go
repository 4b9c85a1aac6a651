package wal

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// CheckResult describes a log that Check verified.
type CheckResult struct {
	// Segments counts the segment files read; Records their data records
	// that verified; Bytes the bytes read.
	Segments int
	Records  int64
	Bytes    int64
	// FirstTs and LastTs are the ts of the first and last records read (0
	// when none).
	FirstTs, LastTs uint64
	// Clean says the last segment ends with a clean-close marker.
	Clean bool
	// A torn tail in the last segment is not an error (Replay would cut
	// it): TornSegment, TornOffset and TornBytes say where and how much.
	TornSegment string
	TornOffset  int64
	TornBytes   int64
}

// Check verifies the log in opts.Dir without changing anything: every
// segment header, every record's checksum and format, that every sealed
// body opens and every compressed body decompresses, that ts values
// increase across the log, and that consecutive segments join up. Unlike
// Replay it reads every segment. A torn tail in the last segment is
// reported in the result; corruption is returned, every problem found
// joined, each a *interfaces.CorruptionError naming the file and offset.
// Check must not run while a Log is replaying the same directory.
func Check(opts Options) (CheckResult, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return CheckResult{}, err
	}
	codecs, err := opts.codecMap()
	if err != nil {
		return CheckResult{}, err
	}
	nums, err := listSegments(opts.FS, opts.Dir)
	if err != nil {
		return CheckResult{}, err
	}
	paths := make([]string, len(nums))
	for i, n := range nums {
		paths[i] = filepath.Join(opts.Dir, segmentName(n))
	}
	items, err := closedItems(opts.FS, nums, paths)
	if err != nil {
		return CheckResult{}, err
	}
	return verify(opts.FS, &decoder{cipher: opts.Cipher, codecs: codecs}, items)
}

// Check verifies the log's segments as the package's Check does, while
// the log is in use: each segment up to what has been written to it, the
// active one included. It may run concurrently with every other method;
// Release waits for it. Before Replay it checks the segments Open found,
// classifying damage at the end of the last one as a torn tail.
func (l *Log) Check() error {
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	// The active segment gets its header when a background rotation
	// sync ends: check with none running (a rotation may start another
	// meanwhile; the segments as they are at the snapshot stay valid).
	l.mu.Lock()
	for l.rotSync != nil {
		l.mu.Unlock()
		_ = l.waitRotSync()
		l.mu.Lock()
	}
	if l.st == stateClosed {
		l.mu.Unlock()
		return fmt.Errorf("lightning/wal: %w", interfaces.ErrClosed)
	}
	var items []checkItem
	if l.st == stateReady {
		for _, s := range l.segs {
			// size is what has been written: for the active segment it
			// moves with each WriteGroup, under mu.
			items = append(items, checkItem{num: s.num, path: s.path, limit: s.size})
		}
	}
	listed := l.listed
	ready := l.st == stateReady
	l.mu.Unlock()
	if !ready {
		paths := make([]string, len(listed))
		for i, n := range listed {
			paths[i] = l.segmentPath(n)
		}
		var err error
		if items, err = closedItems(l.fs, listed, paths); err != nil {
			return err
		}
	}
	_, err := verify(l.fs, &decoder{cipher: l.cipher, codecs: l.codecs}, items)
	return err
}

// closedItems returns the check items of a log no writer has open: whole
// files, the tail ones (see tailStart) allowed a torn tail.
func closedItems(fsys vfs.FS, nums []uint64, paths []string) ([]checkItem, error) {
	heads := make([]peek, len(nums))
	for i := max(0, len(nums)-2); i < len(nums); i++ {
		var err error
		if heads[i], err = peekHeader(fsys, paths[i]); err != nil {
			return nil, err
		}
	}
	tail := tailStart(heads)
	items := make([]checkItem, len(nums))
	for i, n := range nums {
		items[i] = checkItem{num: n, path: paths[i], limit: -1, last: i >= tail}
	}
	return items, nil
}

// checkItem is a segment for verify.
type checkItem struct {
	num  uint64
	path string
	// limit is how many bytes to read; -1 for the whole file.
	limit int64
	// last says damage may be classified as a torn tail.
	last bool
}

func verify(fsys vfs.FS, d *decoder, items []checkItem) (CheckResult, error) {
	var (
		res     CheckResult
		errs    []error
		lastTs  uint64
		prevNum uint64
	)
	for _, it := range items {
		wr, limit, err := verifyOne(fsys, d, it, walkParams{
			last: it.last, prevNum: prevNum, prevTs: lastTs,
			needAbove: math.MaxUint64, decodeAbove: 0,
		})
		if err != nil {
			errs = append(errs, err)
			lastTs, prevNum = 0, 0
			continue
		}
		res.Segments++
		res.Bytes += limit
		res.Records += wr.records
		if wr.records > 0 {
			if res.FirstTs == 0 {
				res.FirstTs = wr.firstTs
			}
			res.LastTs = wr.lastTs
		}
		res.Clean = wr.marker && wr.dmg == nil
		lastTs, prevNum = wr.lastTs, it.num
		switch {
		case wr.dmg == nil:
		case wr.dmg.torn:
			res.TornSegment, res.TornOffset, res.TornBytes = it.path, wr.dmg.off, limit-wr.dmg.off
		default:
			errs = append(errs, wr.dmg.err)
			// What follows is checked on its own terms: a segment after
			// damage cannot be held to where the damaged one seemed to
			// end.
			lastTs, prevNum = 0, 0
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("lightning/wal: check: %w", errors.Join(errs...))
	}
	return res, nil
}

func verifyOne(fsys vfs.FS, d *decoder, it checkItem, p walkParams) (walkResult, int64, error) {
	f, err := fsys.Open(it.path)
	if err != nil {
		return walkResult{}, 0, fmt.Errorf("lightning/wal: open %s: %w", it.path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return walkResult{}, 0, fmt.Errorf("lightning/wal: size of %s: %w", it.path, err)
	}
	limit := size
	if it.limit >= 0 {
		limit = min(it.limit, size)
	}
	wr, err := walkSegment(newScanner(it.path, it.num, f, limit), d, p)
	return wr, limit, err
}

// SegmentRecord is a record as ReadSegment reports it.
type SegmentRecord struct {
	// Offset is the record's offset in the segment file; Size its stored
	// size, header included.
	Offset int64
	Size   int64
	// Ts is the record's ts (for a marker, the log's last ts).
	Ts uint64
	// Synced is the segment offset known durable when it was written.
	Synced int64
	// Codec is the codec its payload was compressed with (0 = none).
	Codec interfaces.CodecID
	// Sealed and Marker are its flags.
	Sealed bool
	Marker bool
	// Payload is the payload, opened and decompressed; empty for a
	// marker. Valid only during the callback.
	Payload []byte
}

// SegmentInfo describes a segment that ReadSegment read.
type SegmentInfo struct {
	// Number and PrevTs are the header's (PrevTs: the log's last ts
	// before the segment); Sealed its encryption flag.
	Number uint64
	PrevTs uint64
	Sealed bool
	// Size is the file's size; End the offset where the records that
	// verify end (Size when the whole file does).
	Size int64
	End  int64
	// Records counts the data records read; FirstTs and LastTs are their
	// first and last ts.
	Records         int64
	FirstTs, LastTs uint64
	// Clean says the segment ends with a clean-close marker.
	Clean bool
	// TornTail says the damage at End could be a torn write: were this
	// the log's last segment, Replay would cut it there rather than call
	// it corruption.
	TornTail bool
}

// ReadSegment reads and verifies one segment file at path, on opts.FS,
// calling fn for each record that verifies, markers included, in order,
// without replaying anything; opts.Dir is not used. The segment number
// is taken from the file name (from the header when the name is not a
// segment's). Damage stops the walk and is returned as an error wrapping
// a *interfaces.CorruptionError naming path and the offset; the info says
// whether it could be a torn tail. A segment that needs a cipher or codec
// not configured is an error matching interfaces.ErrIncompatible. An
// error from fn is returned as it is.
func ReadSegment(opts Options, path string, fn func(SegmentRecord) error) (SegmentInfo, error) {
	opts.EnsureDefaults()
	codecs, err := opts.codecMap()
	if err != nil {
		return SegmentInfo{}, err
	}
	f, err := opts.FS.Open(path)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("lightning/wal: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("lightning/wal: size of %s: %w", path, err)
	}
	info := SegmentInfo{Size: size}
	num, ok := parseSegmentName(filepath.Base(path))
	if !ok {
		var hb [headerSize]byte
		if size >= headerSize {
			if err := readFull(f, hb[:], 0); err != nil {
				return info, fmt.Errorf("lightning/wal: read %s: %w", path, err)
			}
		}
		h, reason := parseSegHeader(hb[:min(size, headerSize)])
		if reason != "" {
			return info, fmt.Errorf("lightning/wal: %w", interfaces.Corruptf(path, 0,
				"the file name is not a segment's and the header does not check out: %s", reason))
		}
		num = h.num
	}
	d := &decoder{cipher: opts.Cipher, codecs: codecs}
	wr, err := walkSegment(newScanner(path, num, f, size), d, walkParams{
		last: true, needAbove: math.MaxUint64, decodeAbove: 0,
		visit: func(rec rawRecord, payload []byte) error {
			return fn(SegmentRecord{
				Offset: rec.off, Size: rec.end() - rec.off, Ts: rec.h.ts, Synced: int64(rec.h.synced),
				Codec: rec.h.codec, Sealed: rec.h.sealed(), Marker: rec.h.marker(), Payload: payload,
			})
		},
	})
	info.Number, info.PrevTs, info.Sealed = wr.hdr.num, wr.hdr.prevTs, wr.hdr.sealed()
	if !wr.hdrOK {
		info.Number = num
	}
	info.Records, info.FirstTs, info.LastTs, info.Clean, info.End = wr.records, wr.firstTs, wr.lastTs, wr.marker, wr.end
	if wr.records == 0 {
		info.LastTs = 0
	}
	if err != nil {
		return info, err
	}
	if wr.dmg != nil {
		info.End, info.TornTail, info.Clean = wr.dmg.off, wr.dmg.torn, false
		return info, fmt.Errorf("lightning/wal: %w", wr.dmg.err)
	}
	return info, nil
}
