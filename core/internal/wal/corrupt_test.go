package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// layout is where every record of a log lies.
type layout struct {
	paths []string
	// recs[i] are the records of paths[i], markers included.
	recs [][]SegmentRecord
	// data are the data records of the whole log, in order.
	data []Record
}

func readLayout(t *testing.T, opts Options) layout {
	var lo layout
	lo.paths = segmentFiles(t, opts.FS, opts.Dir)
	for _, p := range lo.paths {
		rs, _ := segRecords(t, opts, p)
		lo.recs = append(lo.recs, rs)
		for _, r := range rs {
			if !r.Marker {
				lo.data = append(lo.data, Record{Ts: r.Ts, Payload: r.Payload})
			}
		}
	}
	return lo
}

// locate returns the record of segment si holding byte off (nil for the
// header) and how many data records of the log precede it.
func (lo layout) locate(si int, off int64) (*SegmentRecord, int) {
	before := 0
	for i := range si {
		for _, r := range lo.recs[i] {
			if !r.Marker {
				before++
			}
		}
	}
	if off < headerSize {
		return nil, before
	}
	for i := range lo.recs[si] {
		r := &lo.recs[si][i]
		if off < r.Offset+r.Size {
			return r, before
		}
		if !r.Marker {
			before++
		}
	}
	panic(fmt.Sprintf("offset %d is past the records of segment %d", off, si))
}

// flipped returns a copy of fsys with one bit of one byte of path flipped.
func flipped(t *testing.T, fsys *vfs.MemFS, path string, off int64, bit uint) *vfs.MemFS {
	c := cloneFS(fsys)
	b := readFile(t, c, path)
	b[off] ^= 1 << bit
	writeFile(t, c, path, b)
	return c
}

// buildLog writes a small log of several segments, reopened once (so a
// marker sits in a segment that is not the last), and returns its FS.
func buildLog(t *testing.T, opts Options, closeAtEnd bool) *vfs.MemFS {
	fsys := vfs.NewMem()
	opts.FS = fsys
	rng := mrand.New(mrand.NewPCG(21, 22))
	l, _, _ := openReplay(t, opts, 0)
	ts := uint64(1)
	for life := range 2 {
		for range 6 {
			g := makeGroup(ts, 1+rng.IntN(3), func() int { return 8 + rng.IntN(50) })
			require.NoError(t, l.WriteGroup(g))
			ts += uint64(len(g))
			if life == 0 || closeAtEnd || rng.IntN(2) == 0 {
				require.NoError(t, l.Sync())
			}
		}
		if life == 0 {
			require.NoError(t, l.Close())
			l, _, _ = openReplay(t, opts, 0)
		}
	}
	if closeAtEnd {
		require.NoError(t, l.Close())
	} else {
		// Leave the last groups unsynced behind a synced one, as a crash
		// would find them (the clone keeps them).
		require.NoError(t, l.Sync())
		for range 3 {
			g := makeGroup(ts, 1, func() int { return 8 + rng.IntN(50) })
			require.NoError(t, l.WriteGroup(g))
			ts++
		}
		fsys = fsys.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	}
	return fsys
}

// flipBits yields the (segment, offset, bit) of the flips to try: every
// byte, or a sample of them in -short mode.
func flipBits(lo layout, fsys vfs.FS, t *testing.T) [][3]int64 {
	var out [][3]int64
	rng := mrand.New(mrand.NewPCG(5, 5))
	for si, p := range lo.paths {
		n := int64(len(readFile(t, fsys, p)))
		for off := range n {
			if testing.Short() && rng.IntN(4) != 0 {
				continue
			}
			out = append(out, [3]int64{int64(si), off, int64(rng.IntN(8))})
		}
	}
	return out
}

func TestBitFlipInCleanLog(t *testing.T) {
	opts := Options{Dir: testDir, SegmentSize: 400}
	pristine := buildLog(t, opts, true)
	opts.FS = pristine
	lo := readLayout(t, opts)
	require.GreaterOrEqual(t, len(lo.paths), 3)
	last := len(lo.paths) - 1
	for _, f := range flipBits(lo, pristine, t) {
		si, off, bit := int(f[0]), f[1], uint(f[2])
		path := lo.paths[si]
		rec, before := lo.locate(si, off)
		c := flipped(t, pristine, path, off, bit)
		o := Options{FS: c, Dir: testDir, SegmentSize: 400}
		what := fmt.Sprintf("flip of bit %d at %s:%d", bit, path, off)

		if si == last && rec != nil && rec.Marker {
			// The final marker is the only record nothing attests: a flip
			// there reads as a torn tail, and loses nothing.
			l, res, recs, err := tryOpenReplay(o, 0, Strict)
			require.NoError(t, err, what)
			require.Equal(t, lo.data, recs, what)
			require.True(t, res.Torn(), what)
			require.Equal(t, rec.Offset, res.TornOffset, what)
			require.False(t, res.Clean, what)
			require.NoError(t, l.Close())
			continue
		}
		wantOff := int64(0)
		if rec != nil {
			wantOff = rec.Offset
		}
		_, _, _, err := tryOpenReplay(o, 0, Strict)
		ce := requireCorruption(t, err, path)
		require.Equal(t, wantOff, ce.Offset, what)
		_, err = Check(o)
		require.Equal(t, wantOff, requireCorruption(t, err, path).Offset, what)

		// TruncateCorrupt keeps exactly the records before the damage.
		l, res, recs, err := tryOpenReplay(o, 0, TruncateCorrupt)
		require.NoError(t, err, what)
		requireSame(t, lo.data[:before], recs, what)
		require.True(t, res.Lost(), what)
		require.Equal(t, path, res.CorruptSegment, what)
		require.Equal(t, wantOff, res.CorruptOffset, what)
		lost := len(lo.data) - before
		if rec != nil && !rec.Marker {
			lost-- // the damaged record itself no longer checks out
		}
		require.Equal(t, int64(lost), res.LostRecords, what)
		later := len(lo.paths) - 1 - si
		if rec == nil {
			later++
		}
		require.Equal(t, later, res.LostSegments, what)
		require.NoError(t, l.Close())
		// The salvaged log is whole again.
		l, res, recs = openReplay(t, o, 0)
		requireSame(t, lo.data[:before], recs, what)
		require.False(t, res.Lost(), what)
		require.NoError(t, l.Close())
		_, err = Check(o)
		require.NoError(t, err, what)
	}
}

func TestBitFlipInCrashedLog(t *testing.T) {
	opts := Options{Dir: testDir, SegmentSize: 1200}
	pristine := buildLog(t, opts, false)
	opts.FS = pristine
	lo := readLayout(t, opts)
	last := len(lo.paths) - 1
	lastRecs := lo.recs[last]
	require.GreaterOrEqual(t, len(lastRecs), 4)
	var corruptInLast, tornInLast int
	defer func() {
		// Both outcomes must have been exercised in the last segment.
		require.Positive(t, corruptInLast)
		require.Positive(t, tornInLast)
	}()
	for _, f := range flipBits(lo, pristine, t) {
		si, off, bit := int(f[0]), f[1], uint(f[2])
		path := lo.paths[si]
		rec, before := lo.locate(si, off)
		o := Options{FS: flipped(t, pristine, path, off, bit), Dir: testDir, SegmentSize: 1200}
		what := fmt.Sprintf("flip of bit %d at %s:%d", bit, path, off)

		// Damage is corruption when the segment is not the last, or when
		// a later record says the damaged bytes had been synced.
		corrupt := si != last || rec == nil
		if !corrupt {
			for _, r := range lastRecs {
				if r.Offset > rec.Offset && r.Synced > rec.Offset {
					corrupt = true
				}
			}
		}
		l, res, recs, err := tryOpenReplay(o, 0, Strict)
		if si == last && rec != nil {
			if corrupt {
				corruptInLast++
			} else {
				tornInLast++
			}
		}
		if corrupt {
			wantOff := int64(0)
			if rec != nil {
				wantOff = rec.Offset
			}
			require.Equal(t, wantOff, requireCorruption(t, err, path).Offset, what)
			continue
		}
		require.NoError(t, err, what)
		require.True(t, res.Torn(), what)
		require.Equal(t, rec.Offset, res.TornOffset, what)
		requireSame(t, lo.data[:before], recs, what)
		require.NoError(t, l.Close())
	}
}

func TestMissingSegment(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	opts.SegmentSize = 400
	l, _, _ := openReplay(t, opts, 0)
	want := writeWorkload(t, l, mrand.New(mrand.NewPCG(31, 32)), 1, 30, 60, 0)
	require.NoError(t, l.Close())
	lo := readLayout(t, opts)
	require.GreaterOrEqual(t, len(lo.paths), 4)
	require.NoError(t, fsys.Remove(lo.paths[1]))
	_, third := segRecords(t, opts, lo.paths[2])

	_, _, _, err := tryOpenReplay(Options{FS: cloneFS(fsys), Dir: testDir}, 0, Strict)
	ce := requireCorruption(t, err, lo.paths[2])
	require.Zero(t, ce.Offset)
	require.Contains(t, ce.Reason, "missing")

	// Not a problem for a storage that has everything before it.
	_, res, recs := openReplay(t, Options{FS: cloneFS(fsys), Dir: testDir}, third.PrevTs)
	require.Equal(t, 1, res.SkippedSegments)
	requirePrefix(t, want[third.PrevTs:], recs)
	require.Len(t, recs, len(want)-int(third.PrevTs))

	// TruncateCorrupt keeps what precedes the gap.
	c := cloneFS(fsys)
	l, res, recs, err = tryOpenReplay(Options{FS: c, Dir: testDir}, 0, TruncateCorrupt)
	require.NoError(t, err)
	require.Equal(t, lo.data[:len(lo.recs[0])], recs, "the first segment (no marker: the log closed later)")
	require.Equal(t, len(lo.paths)-2, res.LostSegments)
	require.Equal(t, lo.paths[2], res.CorruptSegment)
	require.NoError(t, l.Close())
	require.Len(t, segmentFiles(t, c, testDir), 2)
}

func TestTornAndCorruptHeaders(t *testing.T) {
	build := func() (*vfs.MemFS, layout) {
		fsys := vfs.NewMem()
		opts := Options{FS: fsys, Dir: testDir, SegmentSize: 400}
		l, _, _ := openReplay(t, opts, 0)
		writeWorkload(t, l, mrand.New(mrand.NewPCG(41, 42)), 1, 20, 60, 1)
		return fsys, readLayout(t, opts)
	}
	fsys, lo := build()
	last := len(lo.paths) - 1
	lastNum, _ := parseSegmentName(filepath.Base(lo.paths[last]))
	prevTs := lo.data[len(lo.data)-1].Ts

	// A crash right after creating the next segment: it is empty, or its
	// header partial. Either is a torn tail; the segment is removed.
	hdr := segHeader{version: formatVersion, num: lastNum + 1, prevTs: prevTs}.appendTo(nil)
	next := filepath.Join(testDir, segmentName(lastNum+1))
	for _, n := range []int{0, 1, 12, headerSize - 1} {
		c := cloneFS(fsys)
		writeFile(t, c, next, hdr[:n])
		l, res, recs, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
		require.NoError(t, err, "header of %d bytes", n)
		require.Equal(t, lo.data, recs)
		require.True(t, res.Torn())
		require.Equal(t, next, res.TornSegment)
		require.Equal(t, int64(n), res.TornBytes)
		_, err = c.Stat(next)
		require.Error(t, err, "the torn segment is removed")
		require.NoError(t, l.Close())
		_, _, again := openReplay(t, Options{FS: c, Dir: testDir}, 0)
		require.Equal(t, lo.data, again)
	}
	// A whole header is a valid empty segment.
	c := cloneFS(fsys)
	writeFile(t, c, next, hdr)
	_, res, recs := openReplay(t, Options{FS: c, Dir: testDir}, 0)
	require.Equal(t, lo.data, recs)
	require.False(t, res.Torn())

	// The same damage in a segment that is not the last is corruption.
	c = cloneFS(fsys)
	writeFile(t, c, lo.paths[1], hdr[:10])
	_, _, _, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	require.Zero(t, requireCorruption(t, err, lo.paths[1]).Offset)

	// A damaged header of the last segment whose records check out is
	// corruption: the header was synced before any record was written.
	c = cloneFS(fsys)
	b := readFile(t, c, lo.paths[last])
	b[3] ^= 0x10
	writeFile(t, c, lo.paths[last], b)
	_, _, _, err = tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	ce := requireCorruption(t, err, lo.paths[last])
	require.Zero(t, ce.Offset)
	require.Contains(t, ce.Reason, "synced through")
}

// rewriteHeader replaces the header of the segment at path.
func rewriteHeader(t *testing.T, fsys vfs.FS, path string, h segHeader) {
	b := readFile(t, fsys, path)
	copy(b, h.appendTo(nil))
	writeFile(t, fsys, path, b)
}

func TestHeaderFields(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir, SegmentSize: 400}
	l, _, _ := openReplay(t, opts, 0)
	writeWorkload(t, l, mrand.New(mrand.NewPCG(51, 52)), 1, 20, 60, 0)
	require.NoError(t, l.Close())
	lo := readLayout(t, opts)
	_, info := segRecords(t, opts, lo.paths[1])
	good := segHeader{version: formatVersion, num: info.Number, prevTs: info.PrevTs}

	for name, tc := range map[string]struct {
		h      segHeader
		incomp bool
		reason string
	}{
		"version":       {segHeader{version: 2, num: good.num, prevTs: good.prevTs}, true, ""},
		"flags":         {segHeader{version: 1, flags: 8, num: good.num, prevTs: good.prevTs}, true, ""},
		"sealed":        {segHeader{version: 1, flags: segFlagSealed, num: good.num, prevTs: good.prevTs}, true, ""},
		"number":        {segHeader{version: 1, num: good.num + 5, prevTs: good.prevTs}, false, "names segment"},
		"prev ts ahead": {segHeader{version: 1, num: good.num, prevTs: good.prevTs + 1}, false, "but segment"},
		"prev ts back":  {segHeader{version: 1, num: good.num, prevTs: good.prevTs - 1}, false, "already read"},
	} {
		t.Run(name, func(t *testing.T) {
			c := cloneFS(fsys)
			rewriteHeader(t, c, lo.paths[1], tc.h)
			if tc.incomp {
				// Not corruption: no mode cuts it.
				_, _, _, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, TruncateCorrupt)
				require.ErrorIs(t, err, interfaces.ErrIncompatible)
				return
			}
			_, _, _, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
			ce := requireCorruption(t, err, lo.paths[1])
			require.Zero(t, ce.Offset)
			require.Contains(t, ce.Reason, tc.reason)
			l, res, recs, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, TruncateCorrupt)
			require.NoError(t, err)
			require.Equal(t, lo.data[:len(lo.recs[0])], recs)
			require.Equal(t, len(lo.paths)-1, res.LostSegments)
			require.NoError(t, l.Close())
		})
	}
}

// appendRaw appends a record with header h (checksum computed) and body
// to the segment at path, returning its offset.
func appendRaw(t *testing.T, fsys vfs.FS, path string, h recHeader, body []byte) int64 {
	num, ok := parseSegmentName(filepath.Base(path))
	require.True(t, ok)
	b := readFile(t, fsys, path)
	off := int64(len(b))
	h.length = uint32(len(body))
	rec := make([]byte, recordHeaderSize, recordHeaderSize+len(body))
	putRecHeader(rec, h)
	rec = append(rec, body...)
	binary.LittleEndian.PutUint32(rec, recordCRC(num, off, rec[4:]))
	writeFile(t, fsys, path, append(b, rec...))
	return off
}

func TestRecordsThatCheckOutButBreakTheFormat(t *testing.T) {
	// A log that crashed (no marker), so that appended records would be a
	// torn tail were they not well formed but wrong.
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir}
	l, _, _ := openReplay(t, opts, 0)
	want := makeGroup(1, 3, func() int { return 20 })
	require.NoError(t, l.WriteGroup(want))
	require.NoError(t, l.Sync())
	crashed := fsys.CrashClone(vfs.CrashOptions{})
	path := segmentFiles(t, crashed, testDir)[0]
	size := int64(len(readFile(t, crashed, path)))

	for name, h := range map[string]recHeader{
		"reserved":         {ts: 10, synced: headerSize, reserved: 1},
		"unknown flag":     {ts: 10, synced: headerSize, flags: 4},
		"sealed flag":      {ts: 10, synced: headerSize, flags: recFlagSealed},
		"synced too low":   {ts: 10, synced: 8},
		"synced too high":  {ts: 10, synced: uint64(size) + 1},
		"ts repeated":      {ts: 3, synced: headerSize},
		"ts back":          {ts: 2, synced: headerSize},
		"marker ts":        {ts: 9, synced: uint64(size), flags: recFlagMarker},
		"marker synced":    {ts: 3, synced: headerSize, flags: recFlagMarker},
		"marker codec":     {ts: 3, synced: uint64(size), flags: recFlagMarker, codec: 1},
		"unknown codec":    {ts: 10, synced: headerSize, codec: 77},
		"codec fails":      {ts: 10, synced: headerSize, codec: rleCodecID},
		"marker with body": {ts: 3, synced: uint64(size), flags: recFlagMarker},
	} {
		t.Run(name, func(t *testing.T) {
			c := cloneFS(crashed)
			body := []byte(nil)
			switch name {
			case "marker with body":
				body = []byte{0}
			case "codec fails":
				body = []byte{5} // five bytes promised, no runs
			}
			off := appendRaw(t, c, path, h, body)
			o := Options{FS: c, Dir: testDir, Codecs: []interfaces.Codec{rleCodec{}}}
			_, _, _, err := tryOpenReplay(o, 0, Strict)
			if name == "unknown codec" {
				require.ErrorIs(t, err, interfaces.ErrIncompatible)
				return
			}
			require.Equal(t, off, requireCorruption(t, err, path).Offset)
			l, res, recs, err := tryOpenReplay(o, 0, TruncateCorrupt)
			require.NoError(t, err)
			require.Equal(t, want, recs)
			require.Equal(t, off, res.CorruptOffset)
			require.NoError(t, l.Close())
		})
	}

	// After a clean-close marker nothing may follow: not a record that
	// checks out, and not garbage either.
	require.NoError(t, l.Close())
	closed := fsys.CrashClone(vfs.CrashOptions{})
	path = segmentFiles(t, closed, testDir)[0]
	c := cloneFS(closed)
	off := appendRaw(t, c, path, recHeader{ts: 4, synced: headerSize}, []byte("late"))
	_, _, _, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	ce := requireCorruption(t, err, path)
	require.Equal(t, off, ce.Offset)
	require.Contains(t, ce.Reason, "marker")
	c = cloneFS(closed)
	b := readFile(t, c, path)
	writeFile(t, c, path, append(b, bytes.Repeat([]byte{0}, 40)...))
	_, _, _, err = tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	require.Equal(t, int64(len(b)), requireCorruption(t, err, path).Offset)
}

func TestCorruptNonLastSegmentTail(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir, SegmentSize: 400}
	l, _, _ := openReplay(t, opts, 0)
	writeWorkload(t, l, mrand.New(mrand.NewPCG(61, 62)), 1, 20, 60, 0)
	require.NoError(t, l.Close())
	lo := readLayout(t, opts)
	// Cut the first segment inside its last record: what a torn write
	// would leave, but a segment is synced whole before the next begins.
	b := readFile(t, fsys, lo.paths[0])
	lastRec := lo.recs[0][len(lo.recs[0])-1]
	writeFile(t, fsys, lo.paths[0], b[:lastRec.Offset+5])
	_, _, _, err := tryOpenReplay(opts, 0, Strict)
	ce := requireCorruption(t, err, lo.paths[0])
	require.Equal(t, lastRec.Offset, ce.Offset)
	require.Contains(t, ce.Reason, "not the last segment")
}

func TestScanPastDamageIsBounded(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir}
	l, _, _ := openReplay(t, opts, 0)
	want := makeGroup(1, 2, func() int { return 30 })
	require.NoError(t, l.WriteGroup(want))
	require.NoError(t, l.Sync())
	crashed := fsys.CrashClone(vfs.CrashOptions{})
	path := segmentFiles(t, crashed, testDir)[0]
	base := readFile(t, crashed, path)

	// Damage, then bytes crafted so that every 28th offset looks like a
	// record header (plausible fields, a long length) that fails its
	// checksum: the worst case for the scan past damage.
	fakes := func(n int) []byte {
		b := append(bytes.Clone(base), bytes.Repeat([]byte{0xee}, 40)...) // a torn record
		h := recHeader{length: uint32(n / 2), ts: 1 << 40, synced: headerSize}
		for range n / recordHeaderSize {
			rec := make([]byte, recordHeaderSize)
			putRecHeader(rec, h)
			b = append(b, rec...)
		}
		return b
	}
	// A moderate amount is scanned through: a torn tail.
	c := cloneFS(crashed)
	writeFile(t, c, path, fakes(4<<10))
	l, res, recs, err := tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	require.NoError(t, err)
	requireSame(t, want, recs, "")
	require.True(t, res.Torn())
	require.NoError(t, l.Close())

	// Past the bound the scan gives up, and the damage is not cut.
	defer func(b, f int64) { scanBudgetBase, scanBudgetFactor = b, f }(scanBudgetBase, scanBudgetFactor)
	scanBudgetBase, scanBudgetFactor = 1<<10, 1
	c = cloneFS(crashed)
	writeFile(t, c, path, fakes(4<<10))
	_, _, _, err = tryOpenReplay(Options{FS: c, Dir: testDir}, 0, Strict)
	ce := requireCorruption(t, err, path)
	require.Equal(t, int64(len(base)), ce.Offset)
	require.Contains(t, ce.Reason, "look-alike")
}
