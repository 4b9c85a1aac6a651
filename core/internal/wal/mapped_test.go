package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/vfs"
)

// mappedOptions returns options for a log on the OS file system, in a
// fresh directory, that stores records through a mapping.
func mappedOptions(t *testing.T) Options {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no write mappings on " + runtime.GOOS)
	}
	return Options{FS: vfs.Default, Dir: filepath.Join(t.TempDir(), "wal"), SegmentSize: 64 << 10, MapWrites: true}
}

// TestMappedWrites writes groups through the mapping, across rotations
// and a group larger than a segment (which goes by write call), and
// checks the files: the active segment sized to SegmentSize up front,
// sealed ones and a closed one cut to their records, Check clean, and
// every record back after a reopen.
func TestMappedWrites(t *testing.T) {
	opts := mappedOptions(t)
	l, _, _ := openReplay(t, opts, 0)
	active := func() *segment { l.mu.Lock(); defer l.mu.Unlock(); return l.active() }
	require.NotNil(t, active().mapped, "the new segment is mapped")
	require.Equal(t, opts.SegmentSize, fileSize(t, opts.FS, active().path))

	var written []Record
	ts := uint64(1)
	for i := 0; i < 120; i++ {
		size := 700
		if i == 60 {
			size = int(opts.SegmentSize) + 1000 // a segment of its own, past the mapping
		}
		g := makeGroup(ts, 1+i%3, func() int { return size })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+uint64(len(g))
		if i%17 == 0 {
			require.NoError(t, l.Sync())
		}
	}
	require.Greater(t, l.Stats().Rotations, int64(2))
	seg := active()
	require.NotNil(t, seg.mapped)
	segs := segmentFiles(t, opts.FS, opts.Dir)
	require.Equal(t, seg.path, segs[len(segs)-1])
	var sealed int64
	for _, p := range segs[:len(segs)-1] {
		sealed += fileSize(t, opts.FS, p)
	}
	require.Equal(t, l.Stats().LiveBytes-seg.written, sealed, "sealed segments end at their records")

	require.NoError(t, l.Close())
	var total int64
	for _, p := range segmentFiles(t, opts.FS, opts.Dir) {
		total += fileSize(t, opts.FS, p)
	}
	require.Equal(t, l.Stats().LiveBytes, total, "Close cuts the unused end")
	requireCleanReopen(t, opts, written)
}

// requireCleanReopen checks that the closed log in opts is clean and
// replays exactly written.
func requireCleanReopen(t *testing.T, opts Options, written []Record) {
	t.Helper()
	res, err := Check(opts)
	require.NoError(t, err)
	require.True(t, res.Clean)
	l, rres, recs := openReplay(t, opts, 0)
	require.True(t, rres.Clean)
	requireSame(t, written, recs, "after Close")
	require.NoError(t, l.Close())
}

// abandon drops l as a killed process would: the mapping and the file go,
// nothing is synced, truncated or marked.
func abandon(t *testing.T, l *Log) {
	t.Helper()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	seg := l.active()
	l.st = stateClosed
	l.mu.Unlock()
	require.NoError(t, l.unmapSegment(seg))
	require.NoError(t, seg.file.Close())
	if l.pf != nil {
		l.pf.stop()
	}
}

// TestMappedWritesSurviveTheProcess: records stored through the mapping
// and never synced are in the page cache, so a log abandoned as a killed
// process leaves it — no Close, no Sync — replays all of them. The unused
// end of the segment reads as a torn tail: Check reports it, Replay cuts
// it. (The core's crash loop does the same with a real SIGKILL.)
func TestMappedWritesSurviveTheProcess(t *testing.T) {
	opts := mappedOptions(t)
	l, _, _ := openReplay(t, opts, 0)
	var written []Record
	ts := uint64(1)
	for i := 0; i < 40; i++ {
		g := makeGroup(ts, 2, func() int { return 100 + i })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+2
	}
	end := l.Stats().LiveBytes
	abandon(t, l)

	res, err := Check(opts)
	require.NoError(t, err)
	require.NotEmpty(t, res.TornSegment)
	require.Equal(t, end, res.TornOffset)
	require.Equal(t, opts.SegmentSize-end, res.TornBytes)

	l2, rres, recs := openReplay(t, opts, 0)
	requireSame(t, written, recs, "after the process died")
	require.True(t, rres.Torn())
	require.Equal(t, end, rres.TornOffset)
	require.Equal(t, end, fileSize(t, opts.FS, rres.TornSegment), "the unused end is cut")
	require.NoError(t, l2.Close())
}

// TestCopyMappedFault: a store the file system cannot back faults (here,
// past the end of a file truncated under the mapping, as a full disk would
// under a sparse page); copyMapped returns it as an error instead of
// crashing the process.
func TestCopyMappedFault(t *testing.T) {
	opts := mappedOptions(t)
	require.NoError(t, vfs.MkdirAllDurable(opts.FS, opts.Dir))
	f, err := opts.FS.Create(filepath.Join(opts.Dir, "f"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(1<<16))
	data, unmap, err := opts.FS.(vfs.WriteMapper).MapWrite(f, 1<<16)
	require.NoError(t, err)
	defer func() { require.NoError(t, unmap()) }()
	require.NoError(t, copyMapped(data[100:], []byte("fits")))
	require.NoError(t, f.Truncate(0))
	err = copyMapped(data[1<<15:], []byte("past the end"))
	require.ErrorContains(t, err, "faulted")
}

// failingMapper is the OS file system with mappings that always fail
// with err, counting the attempts.
type failingMapper struct {
	vfs.FS
	err   error
	tries *int
}

func (m failingMapper) MapWrite(vfs.File, int64) ([]byte, func() error, error) {
	*m.tries++
	return nil, nil, m.err
}

// TestMapWritesFallsBack: when the file system cannot map, the log writes
// with write calls and loses nothing, and a segment it failed to map does
// not keep the space it was sized to. A platform without mappings is not
// asked again for each segment; a mapping that failed otherwise is.
func TestMapWritesFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		oneTry bool
	}{
		{"unsupported", fmt.Errorf("no mmap here: %w", errors.ErrUnsupported), true},
		{"failed", errors.New("no mapping today"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := mappedOptions(t)
			tries := 0
			opts.FS = failingMapper{FS: vfs.Default, err: tc.err, tries: &tries}
			opts.SegmentSize = 16 << 10
			l, _, _ := openReplay(t, opts, 0)
			seg := func() *segment { l.mu.Lock(); defer l.mu.Unlock(); return l.active() }()
			require.Equal(t, int64(headerSize), fileSize(t, opts.FS, seg.path), "the sized file is cut back")
			var written []Record
			for i := uint64(0); i < 100; i++ {
				g := makeGroup(1+i, 1, func() int { return 900 })
				require.NoError(t, l.WriteGroup(g))
				written = append(written, g...)
			}
			require.Greater(t, l.Stats().Rotations, int64(2))
			require.True(t, l.mapWarned)
			if tc.oneTry {
				require.Equal(t, 1, tries)
			} else {
				require.Equal(t, int(l.Stats().Rotations)+1, tries)
			}
			require.NoError(t, l.Close())
			l2, rres, recs := openReplay(t, opts, 0)
			require.True(t, rres.Clean)
			requireSame(t, written, recs, "written without a mapping")
			require.NoError(t, l2.Close())
		})
	}
}
