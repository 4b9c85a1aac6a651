package wal

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// seedSegments returns the segment files of a few real logs: plain,
// compressed, sealed, closed cleanly and crashed, rotated, with a torn
// tail.
func seedSegments(t testing.TB) (plain, sealed [][]byte) {
	build := func(opts Options, closeIt bool) [][]byte {
		fsys := vfs.NewMem()
		opts.FS, opts.Dir, opts.SegmentSize = fsys, testDir, 300
		l, _, _, err := tryOpenReplay(opts, 0, Strict)
		require.NoError(t, err)
		rng := mrand.New(mrand.NewPCG(71, 72))
		ts := uint64(1)
		for g := range 8 {
			grp := makeGroup(ts, 1+rng.IntN(2), func() int { return rng.IntN(80) })
			if g%3 == 0 {
				grp[0].Payload = bytes.Repeat([]byte{'r'}, 90)
			}
			require.NoError(t, l.WriteGroup(grp))
			ts += uint64(len(grp))
			if g%2 == 0 {
				require.NoError(t, l.Sync())
			}
		}
		if closeIt {
			require.NoError(t, l.Close())
		}
		var out [][]byte
		for _, p := range segmentFiles(t, fsys, testDir) {
			out = append(out, readFile(t, fsys, p))
		}
		return out
	}
	plain = append(plain, build(Options{}, true)...)
	plain = append(plain, build(Options{Codec: rleCodec{}, CompressThreshold: 16}, false)...)
	sealed = append(sealed, build(Options{Cipher: newGCMCipher(1)}, true)...)
	sealed = append(sealed, build(Options{Cipher: newGCMCipher(1), Codec: rleCodec{}, CompressThreshold: 16}, false)...)
	return plain, sealed
}

// acceptable reports whether err is an outcome ReadSegment or Replay may
// have on arbitrary bytes.
func acceptable(err error) bool {
	return err == nil || interfaces.IsCorruption(err) || errors.Is(err, interfaces.ErrIncompatible) ||
		errors.Is(err, interfaces.ErrKeyMismatch)
}

func FuzzReadSegment(f *testing.F) {
	plain, sealed := seedSegments(f)
	for _, s := range plain {
		f.Add(s, false)
		f.Add(s[:len(s)*2/3], false)
	}
	for _, s := range sealed {
		f.Add(s, true)
	}
	f.Add([]byte{}, false)
	f.Add([]byte(segmentMagic), false)
	f.Add(make([]byte, 200), false)
	f.Fuzz(func(t *testing.T, data []byte, withCipher bool) {
		fsys := vfs.NewMem()
		path := filepath.Join(testDir, segmentName(1))
		require.NoError(t, fsys.MkdirAll(testDir, 0o755))
		writeFile(t, fsys, path, data)
		opts := Options{FS: fsys, Codecs: []interfaces.Codec{rleCodec{}}}
		if withCipher {
			opts.Cipher = newGCMCipher(1)
		}
		var (
			prevEnd = int64(headerSize)
			n       int64
		)
		info, err := ReadSegment(opts, path, func(r SegmentRecord) error {
			// Every record returned verified: recompute its checksum from
			// the raw bytes, independently of the reader.
			require.Equal(t, prevEnd, r.Offset, "records are back to back")
			require.LessOrEqual(t, r.Offset+recordHeaderSize, int64(len(data)))
			h := decodeRecHeader(data[r.Offset:])
			end := r.Offset + recordHeaderSize + int64(h.length)
			require.LessOrEqual(t, end, int64(len(data)))
			require.Equal(t, end-r.Offset, r.Size)
			require.Equal(t, h.crc, recordCRC(1, r.Offset, data[r.Offset+4:end]))
			require.Equal(t, h.ts, r.Ts)
			if r.Marker {
				require.Empty(t, r.Payload)
			} else {
				n++
			}
			prevEnd = end
			return nil
		})
		require.True(t, acceptable(err), "unexpected error: %v", err)
		require.Equal(t, n, info.Records)
		require.LessOrEqual(t, info.End, int64(len(data)))
		if err == nil {
			require.Equal(t, int64(len(data)), info.End)
			require.Equal(t, int64(len(data)), prevEnd)
		}
	})
}

// FuzzReplay replays a log whose first segment is whole and whose second
// (and last) is arbitrary bytes, in both modes: no panic, only the
// expected errors, and a log that, once replayed, takes writes and
// replays the same again.
func FuzzReplay(f *testing.F) {
	base := vfs.NewMem()
	opts := Options{FS: base, Dir: testDir, SegmentSize: 300, Codecs: []interfaces.Codec{rleCodec{}}}
	l, _, _ := openReplay(f, opts, 0)
	first := makeGroup(1, 3, func() int { return 80 })
	require.NoError(f, l.WriteGroup(first))
	// Seeds for the second segment: real continuations, whole and cut.
	require.NoError(f, l.WriteGroup(makeGroup(4, 2, func() int { return 60 })))
	require.NoError(f, l.Sync())
	require.NoError(f, l.WriteGroup(makeGroup(6, 1, func() int { return 10 })))
	require.NoError(f, l.Close())
	paths := segmentFiles(f, base, testDir)
	require.Len(f, paths, 2)
	second := readFile(f, base, paths[1])
	for _, n := range []int{len(second), len(second) - 1, len(second) / 2, headerSize, 7, 0} {
		f.Add(second[:n], uint64(0))
	}
	f.Add(second, uint64(4))
	require.NoError(f, base.Remove(paths[1]))
	require.NoError(f, base.SyncDir(testDir))

	f.Fuzz(func(t *testing.T, data []byte, afterTs uint64) {
		afterTs %= 8
		for _, mode := range []RecoveryMode{Strict, TruncateCorrupt} {
			fsys := cloneFS(base)
			writeFile(t, fsys, paths[1], data)
			o := opts
			o.FS = fsys
			l, res, recs, err := tryOpenReplay(o, afterTs, mode)
			require.True(t, acceptable(err), "%v: unexpected error: %v", mode, err)
			if err != nil {
				if mode == TruncateCorrupt {
					require.False(t, interfaces.IsCorruption(err), "TruncateCorrupt failed on corruption: %v", err)
				}
				continue
			}
			// The whole first segment always comes back.
			var want []Record
			for _, r := range first {
				if r.Ts > afterTs {
					want = append(want, r)
				}
			}
			require.GreaterOrEqual(t, len(recs), len(want))
			requirePrefix(t, recs, want)
			for i := 1; i < len(recs); i++ {
				require.Greater(t, recs[i].Ts, recs[i-1].Ts)
			}
			more := makeGroup(max(res.LastTs, afterTs)+1, 2, func() int { return 5 })
			require.NoError(t, l.WriteGroup(more))
			require.NoError(t, l.Close())
			l, res2, again := openReplay(t, o, afterTs)
			requireSame(t, append(recs, more...), again, "after a second replay")
			require.False(t, res2.Torn())
			require.NoError(t, l.Close())
			_, err = Check(o)
			require.NoError(t, err)
		}
	})
}
