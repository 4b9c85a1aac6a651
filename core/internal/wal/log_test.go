package wal

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/plugins/zstd"
	"github.com/lightningdb/lightning/vfs"
)

// writeWorkload writes groups of 1..5 records with payloads of 0..maxSize
// bytes from ts first, syncing after every syncEvery-th group, and returns
// the records in order.
func writeWorkload(t tb, l *Log, rng *mrand.Rand, first uint64, groups, maxSize, syncEvery int) []Record {
	t.Helper()
	var all []Record
	ts := first
	for g := range groups {
		grp := makeGroup(ts, 1+rng.IntN(5), func() int { return rng.IntN(maxSize + 1) })
		require.NoError(t, l.WriteGroup(grp))
		all = append(all, grp...)
		ts += uint64(len(grp))
		if syncEvery > 0 && (g+1)%syncEvery == 0 {
			require.NoError(t, l.Sync())
		}
	}
	return all
}

func TestRoundTripAcrossRotationAndReopen(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	l, res, recs := openReplay(t, opts, 0)
	require.Empty(t, recs)
	require.Zero(t, res.Segments)
	require.Equal(t, filepath.Join(testDir, "0000000000000001.wal"), res.NewSegment)

	rng := mrand.New(mrand.NewPCG(1, 2))
	want := writeWorkload(t, l, rng, 1, 200, 300, 3)
	st := l.Stats()
	require.Equal(t, int64(len(want)), st.Records)
	require.Equal(t, int64(200), st.Groups)
	require.Greater(t, st.Rotations, int64(5), "small segments must rotate")
	require.Equal(t, int(st.Rotations)+1, st.Segments)
	require.Len(t, segmentFiles(t, fsys, testDir), st.Segments)
	require.NoError(t, l.Check())
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Close(), interfaces.ErrClosed)

	// Every segment respects the size bound, unless it holds one group.
	for _, p := range segmentFiles(t, fsys, testDir) {
		size := int64(len(readFile(t, fsys, p)))
		if size > opts.SegmentSize {
			recs, _ := segRecords(t, opts, p)
			require.LessOrEqual(t, len(recs), 6, "%s is over the bound with more than one group", p)
		}
	}

	l, res, recs = openReplay(t, opts, 0)
	require.Equal(t, want, recs)
	require.True(t, res.Clean)
	require.False(t, res.Torn())
	require.False(t, res.Lost())
	require.Equal(t, want[len(want)-1].Ts, res.LastTs)
	require.Equal(t, int64(len(want)), res.Records)

	// More writes after a reopen continue the log.
	more := writeWorkload(t, l, rng, res.LastTs+1, 20, 300, 0)
	require.NoError(t, l.Close())
	_, res, recs = openReplay(t, opts, 0)
	require.Equal(t, append(want, more...), recs)
	require.Equal(t, more[len(more)-1].Ts, res.LastTs)

	cr, err := Check(opts)
	require.NoError(t, err)
	require.Equal(t, int64(len(want)+len(more)), cr.Records)
	require.Equal(t, want[0].Ts, cr.FirstTs)
	require.Equal(t, res.LastTs, cr.LastTs)
}

func TestReplayAfterTs(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	l, _, _ := openReplay(t, opts, 0)
	want := writeWorkload(t, l, mrand.New(mrand.NewPCG(3, 4)), 1, 150, 200, 0)
	require.NoError(t, l.Close())
	nsegs := len(segmentFiles(t, fsys, testDir))
	require.Greater(t, nsegs, 4)
	last := want[len(want)-1].Ts

	for _, after := range []uint64{0, 1, 17, last / 2, last - 1, last, last + 100} {
		c := cloneFS(fsys)
		o := memOpts(c)
		l, res, recs := openReplay(t, o, after)
		var exp []Record
		for _, r := range want {
			if r.Ts > after {
				exp = append(exp, r)
			}
		}
		require.Equal(t, exp, recs, "after %d", after)
		require.Equal(t, last, res.LastTs, "after %d", after)
		require.Equal(t, nsegs, res.Segments)
		if after >= last/2 {
			require.Positive(t, res.SkippedSegments, "after %d: segments wholly below afterTs are skipped", after)
		} else if after == 0 {
			require.Zero(t, res.SkippedSegments)
		}
		// Release works from the bounds Replay learnt, read or skipped.
		require.NoError(t, l.Release(after))
		require.NoError(t, l.Check())
		require.NoError(t, l.Close())
		_, _, recs = openReplay(t, o, after)
		require.Equal(t, exp, recs, "after %d, after release", after)
	}
}

func TestReopenWithoutWritesKeepsFewSegments(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	l, _, _ := openReplay(t, opts, 0)
	want := writeWorkload(t, l, mrand.New(mrand.NewPCG(5, 6)), 1, 5, 50, 0)
	require.NoError(t, l.Close())
	before := len(segmentFiles(t, fsys, testDir))
	for range 10 {
		l, res, recs := openReplay(t, opts, 0)
		require.Equal(t, want, recs)
		require.True(t, res.Clean)
		require.NoError(t, l.Close())
	}
	// The segment holding records stays, plus at most the fresh one.
	require.LessOrEqual(t, len(segmentFiles(t, fsys, testDir)), before+1)
	cr, err := Check(opts)
	require.NoError(t, err)
	require.True(t, cr.Clean)
}

func TestEmptyPayloadsAndBigGroup(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	l, _, _ := openReplay(t, opts, 0)
	want := []Record{{Ts: 1, Payload: nil}, {Ts: 2, Payload: []byte{}}, {Ts: 3, Payload: []byte("x")}}
	require.NoError(t, l.WriteGroup(want))
	// A group larger than a segment goes to a segment of its own.
	big := makeGroup(10, 3, func() int { return int(opts.SegmentSize) })
	require.NoError(t, l.WriteGroup(big))
	require.NoError(t, l.WriteGroup(makeGroup(20, 1, func() int { return 10 })))
	st := l.Stats()
	require.Equal(t, int64(2), st.Rotations)
	require.NoError(t, l.Close())
	_, _, recs := openReplay(t, opts, 0)
	require.Len(t, recs, 7)
	require.Empty(t, recs[0].Payload)
	require.Empty(t, recs[1].Payload)
	require.Equal(t, big, recs[3:6])
}

func TestWriteGroupValidation(t *testing.T) {
	fsys := vfs.NewMem()
	l, _, _ := openReplay(t, Options{FS: fsys, Dir: testDir, Cipher: newGCMCipher(1)}, 0)
	require.NoError(t, l.WriteGroup([]Record{{Ts: 5, Payload: []byte("a")}}))
	for name, g := range map[string][]Record{
		"ts 0":           {{Ts: 0}},
		"ts not above":   {{Ts: 5}},
		"not increasing": {{Ts: 7}, {Ts: 7}},
		"decreasing":     {{Ts: 9}, {Ts: 8}},
		"too large":      {{Ts: 9, Payload: make([]byte, MaxRecordBody-28)}},
	} {
		require.ErrorIs(t, l.WriteGroup(g), interfaces.ErrInvalidArgument, name)
	}
	// Invalid groups write nothing and do not fail-stop the log.
	require.NoError(t, l.WriteGroup([]Record{{Ts: 6, Payload: []byte("b")}}))
	require.NoError(t, l.WriteGroup(nil))
	require.NoError(t, l.Sync())
	require.NoError(t, l.Close())
	_, _, recs := openReplay(t, Options{FS: fsys, Dir: testDir, Cipher: newGCMCipher(1)}, 0)
	require.Equal(t, []Record{{Ts: 5, Payload: []byte("a")}, {Ts: 6, Payload: []byte("b")}}, recs)
}

func TestLifeCycleErrors(t *testing.T) {
	fsys := vfs.NewMem()
	l, err := Open(memOpts(fsys))
	require.NoError(t, err)
	// Before Replay nothing is written.
	require.ErrorIs(t, l.WriteGroup([]Record{{Ts: 1}}), ErrNotReplayed)
	require.ErrorIs(t, l.Sync(), ErrNotReplayed)
	require.ErrorIs(t, l.Release(1), ErrNotReplayed)
	require.NoError(t, l.Check())
	require.Empty(t, segmentFiles(t, fsys, testDir))
	_, err = l.Replay(0, RecoveryMode(9), nil)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)

	_, err = l.Replay(0, Strict, func(uint64, []byte) error { return nil })
	require.NoError(t, err)
	_, err = l.Replay(0, Strict, func(uint64, []byte) error { return nil })
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument, "Replay runs once")
	require.NoError(t, l.Close())
	for name, call := range map[string]func() error{
		"WriteGroup": func() error { return l.WriteGroup([]Record{{Ts: 1}}) },
		"Sync":       l.Sync,
		"Release":    func() error { return l.Release(1) },
		"Check":      l.Check,
		"Close":      l.Close,
		"Replay": func() error {
			_, err := l.Replay(0, Strict, func(uint64, []byte) error { return nil })
			return err
		},
	} {
		require.ErrorIs(t, call(), interfaces.ErrClosed, name)
	}
	require.Equal(t, 1, l.Stats().Segments, "Stats work after Close")

	// Closing before Replay writes nothing at all.
	l, err = Open(memOpts(fsys))
	require.NoError(t, err)
	before := fsys.String()
	require.NoError(t, l.Close())
	require.Equal(t, before, fsys.String())
}

func TestOpenCreatesDirectoriesDurably(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: "a/b/wal", ArchiveDir: "a/archive"}
	l, _, _ := openReplay(t, opts, 0)
	require.NoError(t, l.WriteGroup(makeGroup(1, 2, func() int { return 10 })))
	require.NoError(t, l.Sync())
	// A crash right now keeps the directories, the segment and the
	// synced records.
	crashed := fsys.CrashClone(vfs.CrashOptions{})
	opts.FS = crashed
	_, _, recs := openReplay(t, opts, 0)
	require.Len(t, recs, 2)
	_, err := crashed.Stat("a/archive")
	require.NoError(t, err)
}

func TestReplayCallbackErrorChangesNothing(t *testing.T) {
	fsys := vfs.NewMem()
	opts := memOpts(fsys)
	l, _, _ := openReplay(t, opts, 0)
	want := writeWorkload(t, l, mrand.New(mrand.NewPCG(7, 8)), 1, 40, 100, 0)
	require.NoError(t, l.Sync())
	// Crash with a torn tail: the unsynced end may be cut.
	require.NoError(t, l.WriteGroup(makeGroup(want[len(want)-1].Ts+1, 1, func() int { return 50 })))
	crashed := fsys.CrashClone(vfs.CrashOptions{})
	opts.FS = crashed
	before := crashed.String()

	l, err := Open(opts)
	require.NoError(t, err)
	boom := errors.New("boom")
	n := 0
	_, err = l.Replay(0, Strict, func(uint64, []byte) error {
		n++
		if n == 10 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, before, crashed.String(), "a failed replay changes no file")
	// It may be retried.
	var recs []Record
	res, err := l.Replay(0, Strict, func(ts uint64, p []byte) error {
		recs = append(recs, Record{Ts: ts, Payload: bytes.Clone(p)})
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, want, recs)
	require.Equal(t, want[len(want)-1].Ts, res.LastTs)
	require.NoError(t, l.Close())
}

func TestCompression(t *testing.T) {
	zc, err := zstd.New(nil)
	require.NoError(t, err)
	for _, codec := range []interfaces.Codec{rleCodec{}, snappy.New(), zc} {
		t.Run(codec.Describe().Name, func(t *testing.T) {
			fsys := vfs.NewMem()
			opts := Options{FS: fsys, Dir: testDir, Codec: codec, CompressThreshold: 64, SegmentSize: 1 << 16}
			l, _, _ := openReplay(t, opts, 0)
			compressible := bytes.Repeat([]byte("abcdefgh"), 200)
			for i := range compressible {
				if i%16 == 0 {
					compressible[i] = 'z'
				}
			}
			if codec.ID() == rleCodecID {
				compressible = bytes.Repeat([]byte{'a'}, 2000)
			}
			want := []Record{
				{Ts: 1, Payload: compressible},                  // compressed
				{Ts: 2, Payload: payloadOf(2, 2000)},            // random: stored as is
				{Ts: 3, Payload: bytes.Repeat([]byte{'b'}, 63)}, // below the threshold
				{Ts: 4, Payload: bytes.Repeat([]byte{'c'}, 64)}, // at it
			}
			require.NoError(t, l.WriteGroup(want))
			require.NoError(t, l.Close())

			recs, _ := segRecords(t, opts, segmentFiles(t, fsys, testDir)[0])
			require.Len(t, recs, 5)
			require.Equal(t, codec.ID(), recs[0].Codec)
			require.Less(t, recs[0].Size, int64(len(compressible)))
			require.Equal(t, interfaces.CodecNone, recs[1].Codec)
			require.Equal(t, interfaces.CodecNone, recs[2].Codec)
			require.Equal(t, codec.ID(), recs[3].Codec)
			require.True(t, recs[4].Marker)

			_, _, got := openReplay(t, opts, 0)
			require.Equal(t, want, got)
			// Reading needs the codec: configured for reading only is
			// enough, missing is incompatible.
			_, _, got = openReplay(t, Options{FS: cloneFS(fsys), Dir: testDir, Codecs: []interfaces.Codec{codec}}, 0)
			require.Equal(t, want, got)
			_, _, _, err := tryOpenReplay(Options{FS: cloneFS(fsys), Dir: testDir}, 0, TruncateCorrupt)
			require.ErrorIs(t, err, interfaces.ErrIncompatible)
			// Records at or below afterTs are not decoded, so they need no codec.
			_, _, got, err = tryOpenReplay(Options{FS: cloneFS(fsys), Dir: testDir}, 4, Strict)
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

func TestCipher(t *testing.T) {
	fsys := vfs.NewMem()
	c := newGCMCipher(1)
	opts := Options{FS: fsys, Dir: testDir, Cipher: c, Codec: rleCodec{}, CompressThreshold: 16, SegmentSize: 1024}
	l, _, _ := openReplay(t, opts, 0)
	secret := []byte("the secret payload, not to be seen on disk")
	want := []Record{{Ts: 1, Payload: secret}, {Ts: 2, Payload: bytes.Repeat([]byte{'q'}, 500)}}
	want = append(want, makeGroup(3, 30, func() int { return 60 })...)
	for i := 0; i < len(want); i += 4 {
		require.NoError(t, l.WriteGroup(want[i:min(i+4, len(want))]))
	}
	require.NoError(t, l.Close())
	paths := segmentFiles(t, fsys, testDir)
	require.Greater(t, len(paths), 1)
	for _, p := range paths {
		require.False(t, bytes.Contains(readFile(t, fsys, p), []byte("secret")), "plaintext on disk in %s", p)
		recs, info := segRecords(t, opts, p)
		require.True(t, info.Sealed)
		for _, r := range recs {
			require.True(t, r.Sealed)
		}
	}
	recs, _ := segRecords(t, opts, paths[0])
	require.Equal(t, rleCodecID, recs[1].Codec, "compressed before sealing")

	_, _, got := openReplay(t, opts, 0)
	require.Equal(t, want, got)

	// Without the cipher, or with a plaintext log and a cipher: refused.
	_, _, _, err := tryOpenReplay(Options{FS: cloneFS(fsys), Dir: testDir, Codec: rleCodec{}}, 0, TruncateCorrupt)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	_, err = Check(Options{FS: fsys, Dir: testDir, Codec: rleCodec{}})
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	plain := vfs.NewMem()
	pl, _, _ := openReplay(t, memOpts(plain), 0)
	require.NoError(t, pl.WriteGroup(makeGroup(1, 1, func() int { return 10 })))
	require.NoError(t, pl.Close())
	_, _, _, err = tryOpenReplay(Options{FS: plain, Dir: testDir, Cipher: c}, 0, TruncateCorrupt)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	// Another key under another id: the envelope says so.
	_, _, _, err = tryOpenReplay(Options{FS: cloneFS(fsys), Dir: testDir, Cipher: newGCMCipher(2), Codec: rleCodec{}}, 0, TruncateCorrupt)
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
}

// resealCRC recomputes the checksum of the record at off of segment num in
// b, as an attacker who knows the format would after moving bytes.
func resealCRC(b []byte, num uint64, off int64) {
	h := decodeRecHeader(b[off:])
	end := off + recordHeaderSize + int64(h.length)
	putUint32(b[off:], recordCRC(num, off, b[off+4:end]))
}

func TestCipherBindsRecordsToTheirPlace(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir, Cipher: newGCMCipher(1), SegmentSize: 512}
	l, _, _ := openReplay(t, opts, 0)
	// Records of one size, so they can be swapped.
	for ts := uint64(1); ts <= 20; ts++ {
		require.NoError(t, l.WriteGroup([]Record{{Ts: ts, Payload: payloadOf(ts, 40)}}))
		require.NoError(t, l.Sync())
	}
	require.NoError(t, l.Close())
	paths := segmentFiles(t, fsys, testDir)
	require.GreaterOrEqual(t, len(paths), 3)
	r0, _ := segRecords(t, opts, paths[0])
	r1, _ := segRecords(t, opts, paths[1])
	seg0, seg1 := readFile(t, fsys, paths[0]), readFile(t, fsys, paths[1])
	n0, _ := parseSegmentName(filepath.Base(paths[0]))
	n1, _ := parseSegmentName(filepath.Base(paths[1]))
	size := r0[0].Size
	require.Equal(t, size, r0[1].Size)

	cases := map[string]func() (path string, data []byte, off int64){
		"moved within a segment": func() (string, []byte, int64) {
			b := bytes.Clone(seg0)
			a, c := r0[0].Offset, r0[1].Offset
			copy(b[c:c+size], seg0[a:a+size])
			// Keep the ts order intact so only the cipher can object.
			copy(b[c+12:c+20], seg0[c+12:c+20])
			resealCRC(b, n0, c)
			return paths[0], b, c
		},
		"moved to another segment": func() (string, []byte, int64) {
			b := bytes.Clone(seg1)
			a, c := r0[0].Offset, r1[0].Offset
			copy(b[c:c+size], seg0[a:a+size])
			copy(b[c+12:c+20], seg1[c+12:c+20])
			resealCRC(b, n1, c)
			return paths[1], b, c
		},
		"ts edited": func() (string, []byte, int64) {
			b := bytes.Clone(seg0)
			c := r0[1].Offset
			b[c+12]++ // still above the previous ts
			resealCRC(b, n0, c)
			return paths[0], b, c
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			c := cloneFS(fsys)
			path, data, off := mk()
			writeFile(t, c, path, data)
			_, _, _, err := tryOpenReplay(Options{FS: c, Dir: testDir, Cipher: newGCMCipher(1)}, 0, Strict)
			ce := requireCorruption(t, err, path)
			require.Equal(t, off, ce.Offset)
			require.ErrorIs(t, err, interfaces.ErrDecrypt)
			_, err = Check(Options{FS: c, Dir: testDir, Cipher: newGCMCipher(1)})
			require.ErrorIs(t, err, interfaces.ErrDecrypt)
		})
	}
}

func TestRelease(t *testing.T) {
	for _, archive := range []bool{false, true} {
		t.Run(map[bool]string{false: "delete", true: "archive"}[archive], func(t *testing.T) {
			fsys := vfs.NewMem()
			opts := memOpts(fsys)
			if archive {
				opts.ArchiveDir = "db/archive"
			}
			l, _, _ := openReplay(t, opts, 0)
			want := writeWorkload(t, l, mrand.New(mrand.NewPCG(9, 10)), 1, 100, 200, 0)
			paths := segmentFiles(t, fsys, testDir)
			require.Greater(t, len(paths), 4)
			first, _ := segRecords(t, opts, paths[0])
			second, _ := segRecords(t, opts, paths[1])

			// Nothing is released below the first segment's last record.
			require.NoError(t, l.Release(first[len(first)-1].Ts-1))
			require.Len(t, segmentFiles(t, fsys, testDir), len(paths))
			// Exactly the first segment goes at its last ts.
			before := l.Stats()
			firstSize := int64(len(readFile(t, fsys, paths[0])))
			require.NoError(t, l.Release(first[len(first)-1].Ts))
			require.Equal(t, paths[1:], segmentFiles(t, fsys, testDir))
			st := l.Stats()
			require.Equal(t, before.Segments-1, st.Segments)
			require.Equal(t, int64(1), st.Released)
			require.Equal(t, before.LiveBytes-firstSize, st.LiveBytes)
			// A ts in the middle of the second segment releases nothing more.
			require.NoError(t, l.Release(second[0].Ts))
			require.Equal(t, paths[1:], segmentFiles(t, fsys, testDir))
			// Everything: all but the active segment.
			require.NoError(t, l.Release(interfaces.MaxTs))
			left := segmentFiles(t, fsys, testDir)
			require.Len(t, left, 1)
			require.Equal(t, paths[len(paths)-1], left[0])
			require.Equal(t, 1, l.Stats().Segments)

			if archive {
				archived := segmentFiles(t, fsys, opts.ArchiveDir)
				require.Len(t, archived, len(paths)-1)
				var recs []Record
				for _, p := range archived {
					rs, _ := segRecords(t, opts, p)
					for _, r := range rs {
						if !r.Marker {
							recs = append(recs, Record{Ts: r.Ts, Payload: r.Payload})
						}
					}
				}
				require.Equal(t, want[:len(recs)], recs, "the archive holds the released prefix")
			} else {
				_, err := fsys.Stat("db/archive")
				require.Error(t, err)
			}

			// Released segments are durably gone: a crash keeps the rest.
			require.NoError(t, l.Sync())
			crashed := fsys.CrashClone(vfs.CrashOptions{})
			require.Len(t, segmentFiles(t, crashed, testDir), 1)
			o := opts
			o.FS = crashed
			_, activeInfo := segRecords(t, o, left[0])
			_, res, recs := openReplay(t, o, activeInfo.PrevTs)
			require.Equal(t, want[len(want)-len(recs):], recs)
			require.Equal(t, activeInfo.PrevTs, recs[0].Ts-1)
			require.Equal(t, want[len(want)-1].Ts, res.LastTs)
			// Replaying from below what was released finds records
			// missing: the storage would have lost them.
			_, _, _, err := tryOpenReplay(Options{FS: cloneFS(crashed), Dir: testDir, ArchiveDir: opts.ArchiveDir}, activeInfo.PrevTs-1, Strict)
			requireCorruption(t, err, left[0])
			require.NoError(t, l.Close())

			// Numbering continues after the largest number, archived
			// ones included.
			l, res, _ = openReplay(t, opts, interfaces.MaxTs)
			require.NoError(t, l.Release(interfaces.MaxTs))
			n, _ := parseSegmentName(filepath.Base(res.NewSegment))
			last, _ := parseSegmentName(filepath.Base(paths[len(paths)-1]))
			require.Greater(t, n, last)
			require.NoError(t, l.Close())
			if archive {
				// Even when Dir's largest segments are gone.
				for _, p := range segmentFiles(t, fsys, testDir) {
					require.NoError(t, fsys.Remove(p))
				}
				l, res, _ := openReplay(t, opts, interfaces.MaxTs)
				m, _ := parseSegmentName(filepath.Base(res.NewSegment))
				require.Greater(t, m, n-1)
				require.NoError(t, l.Close())
			}
		})
	}
}

// blockingSyncs is an injector that holds every segment fsync until
// released.
type blockingSyncs struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSyncs) MaybeError(op vfs.Op) error {
	if op.Kind == vfs.OpSync && b.armed.Load() {
		b.entered <- struct{}{}
		<-b.release
	}
	return nil
}

func TestSyncDoesNotBlockWriteGroup(t *testing.T) {
	mem := vfs.NewMem()
	inj := &blockingSyncs{entered: make(chan struct{}), release: make(chan struct{})}
	efs := vfs.NewErrorFS(mem, inj)
	opts := Options{FS: efs, Dir: testDir, SegmentSize: 1 << 20}
	l, _, _ := openReplay(t, opts, 0)
	require.NoError(t, l.WriteGroup(makeGroup(1, 2, func() int { return 100 })))

	inj.armed.Store(true)
	syncDone := make(chan error)
	go func() { syncDone <- l.Sync() }()
	<-inj.entered // the fsync is in progress

	// Writes proceed while it runs, and carry the old synced offset.
	wrote := make(chan error)
	go func() {
		for ts := uint64(3); ts < 50; ts++ {
			if err := l.WriteGroup(makeGroup(ts, 1, func() int { return 100 })); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("WriteGroup blocked behind a running fsync")
	}
	inj.armed.Store(false)
	close(inj.release)
	require.NoError(t, <-syncDone)
	require.NoError(t, l.WriteGroup(makeGroup(50, 1, func() int { return 10 })))

	recs, _ := segRecords(t, opts, segmentFiles(t, mem, testDir)[0])
	var during, after int64
	for _, r := range recs {
		switch r.Ts {
		case 3:
			during = r.Synced
		case 50:
			after = r.Synced
		}
	}
	require.Equal(t, int64(headerSize), during, "records written during the fsync do not claim it")
	require.Equal(t, recs[2].Offset, after, "records after it claim what it covered: the first group")
	require.NoError(t, l.Close())
}

func TestConcurrentUse(t *testing.T) {
	fsys := vfs.NewMem()
	opts := Options{FS: fsys, Dir: testDir, SegmentSize: 4096, ArchiveDir: "db/archive"}
	l, _, _ := openReplay(t, opts, 0)
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		durable atomic.Uint64
	)
	errs := make(chan error, 16)
	background := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := f(); err != nil {
					errs <- err
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	background(l.Sync)
	background(l.Sync)
	background(func() error { return l.Release(durable.Load()) })
	background(l.Check)
	background(func() error { _ = l.Stats(); return nil })

	rng := mrand.New(mrand.NewPCG(11, 12))
	var want []Record
	ts := uint64(1)
	for range 600 {
		g := makeGroup(ts, 1+rng.IntN(4), func() int { return rng.IntN(200) })
		require.NoError(t, l.WriteGroup(g))
		want = append(want, g...)
		ts += uint64(len(g))
		if rng.IntN(10) == 0 {
			durable.Store(ts - 1 - uint64(rng.IntN(20)))
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	d := durable.Load()
	require.NoError(t, l.Close())
	_, res, recs := openReplay(t, opts, d)
	var exp []Record
	for _, r := range want {
		if r.Ts > d {
			exp = append(exp, r)
		}
	}
	require.Equal(t, exp, recs)
	require.Equal(t, want[len(want)-1].Ts, res.LastTs)
}

func TestWriteGroupDoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	for name, opts := range map[string]Options{
		"plain":  {FS: vfs.Default, Dir: filepath.Join(dir, "plain"), SegmentSize: 1 << 30},
		"sealed": {FS: vfs.Default, Dir: filepath.Join(dir, "sealed"), SegmentSize: 1 << 30, Cipher: newGCMCipher(1)},
		"rle": {FS: vfs.Default, Dir: filepath.Join(dir, "rle"), SegmentSize: 1 << 30,
			Codec: rleCodec{}, CompressThreshold: 64},
	} {
		t.Run(name, func(t *testing.T) {
			l, _, _ := openReplay(t, opts, 0)
			defer l.Close()
			g := makeGroup(1, 16, func() int { return 128 })
			for i := range g {
				g[i].Payload = bytes.Repeat([]byte{byte(i)}, 128)
			}
			ts := uint64(1)
			step := func() {
				for i := range g {
					g[i].Ts = ts
					ts++
				}
				if err := l.WriteGroup(g); err != nil {
					t.Fatal(err)
				}
			}
			step()
			require.Zero(t, testing.AllocsPerRun(100, step))
		})
	}
}
