package wal

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/vfs"
)

// fileSize returns the size of path on fsys.
func fileSize(t *testing.T, fsys vfs.FS, path string) int64 {
	t.Helper()
	fi, err := fsys.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// TestPreallocateLayout follows the zeros Preallocate writes: the active
// segment runs on in zeros past its records, extended a step at a time;
// a sealed segment and a closed one end at their last record (and
// marker), so Check finds nothing to report; and the bytes the log counts
// are its records', not the zeros.
func TestPreallocateLayout(t *testing.T) {
	const step = 4096
	fs := vfs.NewMem()
	opts := Options{FS: fs, Dir: testDir, SegmentSize: 16 << 10, Preallocate: step}
	l, _, _ := openReplay(t, opts, 0)
	active := func() *segment { l.mu.Lock(); defer l.mu.Unlock(); return l.active() }

	ts := uint64(1)
	var written []Record
	write := func(size int) {
		t.Helper()
		g := makeGroup(ts, 1, func() int { return size })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+1
	}
	write(100)
	seg := active()
	require.Equal(t, seg.written+step, fileSize(t, fs, seg.path), "one step of zeros past the records")
	require.Equal(t, make([]byte, step), readFile(t, fs, seg.path)[seg.written:])
	require.Equal(t, seg.written, l.Stats().LiveBytes, "the zeros are not live bytes")

	// Records go into the zeros; the file grows, by a step past the
	// records, only when less than half a step of them is left.
	extensions := 0
	for range 40 {
		size := fileSize(t, fs, seg.path)
		write(300)
		if grown := fileSize(t, fs, seg.path); grown != size {
			extensions++
			require.Equal(t, seg.written+step, grown)
			require.Less(t, size-seg.written, int64(step/2), "grew with half a step of zeros left")
		} else {
			require.GreaterOrEqual(t, size-seg.written, int64(step/2), "kept with less than half a step left")
		}
	}
	require.Greater(t, extensions, 1)

	// Fill past the segment size: the sealed segment ends at its records.
	for len(segmentFiles(t, fs, testDir)) < 2 {
		g := makeGroup(ts, 1, func() int { return 900 })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+1
	}
	require.Equal(t, seg.written, fileSize(t, fs, seg.path), "a sealed segment keeps no zeros")
	require.LessOrEqual(t, fileSize(t, fs, active().path), opts.SegmentSize, "zeros stop at the segment size")

	require.NoError(t, l.Close())
	var total int64
	for _, p := range segmentFiles(t, fs, testDir) {
		total += fileSize(t, fs, p)
	}
	require.Equal(t, l.Stats().LiveBytes, total, "Close leaves no zeros behind")
	res, err := Check(opts)
	require.NoError(t, err)
	require.True(t, res.Clean)
	require.Empty(t, res.TornSegment)
	_, rres, recs := openReplay(t, opts, 0)
	require.True(t, rres.Clean)
	requireSame(t, written, recs, "after Close")
}

// TestPreallocatedZerosAfterACrash: a crash leaves the active segment's
// zeros behind, synced or not. Replay reads them as a torn tail and cuts
// them, keeping every synced record; Check, before that, reports the
// same tail without calling it corruption.
func TestPreallocatedZerosAfterACrash(t *testing.T) {
	for _, keep := range []float64{0, 0.5, 1} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			fs := vfs.NewMem()
			opts := Options{FS: fs, Dir: testDir, Preallocate: 8192}
			l, _, _ := openReplay(t, opts, 0)
			g := makeGroup(1, 5, func() int { return 50 })
			require.NoError(t, l.WriteGroup(g))
			require.NoError(t, l.Sync())
			unsynced := makeGroup(6, 3, func() int { return 50 })
			require.NoError(t, l.WriteGroup(unsynced))

			c := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep})
			copts := opts
			copts.FS = c
			res, err := Check(copts)
			require.NoError(t, err)
			require.NotEmpty(t, res.TornSegment, "the zeros are a torn tail")

			l2, rres, recs := openReplay(t, copts, 0)
			requirePrefix(t, append(g, unsynced...), recs)
			require.GreaterOrEqual(t, len(recs), len(g))
			require.True(t, rres.Torn())
			b := readFile(t, c, rres.TornSegment)
			require.Equal(t, rres.TornOffset, int64(len(b)), "cut at the tear")
			require.False(t, bytes.HasSuffix(b, make([]byte, 64)), "no zeros left")
			require.NoError(t, l2.Close())
			require.NoError(t, l.Close())
		})
	}
}
