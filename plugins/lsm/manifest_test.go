package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/vfs"
)

// sampleEdits are edits of every shape, for round trips and seeds.
func sampleEdits() []*versionEdit {
	return []*versionEdit{
		{},
		{hasNextFileNum: true, nextFileNum: 7},
		{hasDurableTs: true, durableTs: base.MaxTs, hasLogNum: true, logNum: 1 << 40},
		{deleted: []deletedFileEntry{{0, 3}, {6, 1 << 50}}},
		{
			hasNextFileNum: true, nextFileNum: 20, hasDurableTs: true, durableTs: 99,
			added: []newFileEntry{
				{0, meta(11, "a", "z", 90, 99, 4096)},
				{3, meta(12, "", "\xff\xff", 1, 2, 1)},
			},
			deleted: []deletedFileEntry{{1, 5}},
		},
	}
}

func editsEqual(t *testing.T, want, got *versionEdit) {
	t.Helper()
	require.Equal(t, want.hasNextFileNum, got.hasNextFileNum)
	require.Equal(t, want.nextFileNum, got.nextFileNum)
	require.Equal(t, want.hasDurableTs, got.hasDurableTs)
	require.Equal(t, want.durableTs, got.durableTs)
	require.Equal(t, want.hasLogNum, got.hasLogNum)
	require.Equal(t, want.logNum, got.logNum)
	require.Equal(t, len(want.deleted), len(got.deleted))
	for i := range want.deleted {
		require.Equal(t, want.deleted[i], got.deleted[i])
	}
	require.Equal(t, len(want.added), len(got.added))
	for i := range want.added {
		require.Equal(t, want.added[i].level, got.added[i].level)
		require.True(t, sameMeta(want.added[i].meta, got.added[i].meta), "%s vs %s", want.added[i].meta, got.added[i].meta)
	}
}

func TestEditRoundTrip(t *testing.T) {
	for i, ve := range sampleEdits() {
		enc := ve.encode(nil)
		got, reason := decodeEdit(enc)
		require.Empty(t, reason, "edit %d", i)
		editsEqual(t, ve, got)
		// The encoding is canonical: decoding and encoding again gives the
		// same bytes.
		require.Equal(t, enc, got.encode(nil), "edit %d", i)
	}
}

func TestDecodeEditRejects(t *testing.T) {
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	key := func(k string, ts uint64) []byte {
		enc := ik(k, ts, base.KindSet).Append(nil)
		return append(uv(uint64(len(enc))), enc...)
	}
	newFile := func(level, num, size uint64, small, large []byte, minTs, maxTs, entries, dels, ukeys uint64) []byte {
		b := uv(tagNewFile, level, num, size)
		b = append(b, small...)
		b = append(b, large...)
		return append(b, uv(minTs, maxTs, entries, dels, ukeys)...)
	}
	good := newFile(1, 5, 100, key("a", 9), key("b", 3), 3, 9, 4, 1, 2)
	_, reason := decodeEdit(good)
	require.Empty(t, reason)
	cases := []struct {
		name string
		enc  []byte
		want string
	}{
		{"truncated tag", []byte{0x80}, "malformed tag"},
		{"unknown tag", uv(99), "unknown tag"},
		{"next file number twice", uv(tagNextFileNum, 1, tagNextFileNum, 2), "appears twice"},
		{"durable ts too large", uv(tagDurableTs, base.MaxTs+1), "durable ts"},
		{"truncated value", uv(tagLogNum), "malformed log number"},
		{"level out of range", uv(tagDeletedFile, NumLevels, 3), "level 7 out of range"},
		{"deleted table 0", uv(tagDeletedFile, 1, 0), "number 0"},
		{"new table 0", newFile(1, 0, 100, key("a", 9), key("b", 3), 3, 9, 4, 1, 2), "number 0"},
		{"empty table", newFile(1, 5, 0, key("a", 9), key("b", 3), 3, 9, 4, 1, 2), "of 0 bytes"},
		{"inverted bounds", newFile(1, 5, 100, key("b", 9), key("a", 3), 3, 9, 4, 1, 2), "above largest"},
		{"inverted ts", newFile(1, 5, 100, key("a", 9), key("b", 3), 9, 3, 4, 1, 2), "ts range"},
		{"ts 0", newFile(1, 5, 100, key("a", 9), key("b", 3), 0, 9, 4, 1, 2), "ts range"},
		{"bounds outside ts", newFile(1, 5, 100, key("a", 12), key("b", 3), 3, 9, 4, 1, 2), "outside the ts range"},
		{"more tombstones than entries", newFile(1, 5, 100, key("a", 9), key("b", 3), 3, 9, 4, 5, 2), "tombstones"},
		{"no user keys", newFile(1, 5, 100, key("a", 9), key("b", 3), 3, 9, 4, 1, 0), "user keys"},
		{"short key", append(uv(tagNewFile, 1, 5, 100), uv(3, 1, 2, 3)...), "smallest key of 3 bytes"},
		{"key past the end", append(uv(tagNewFile, 1, 5, 100), uv(50)...), "smallest key of 50 bytes"},
		{"bad kind", append(append(uv(tagNewFile, 1, 5, 100), uv(9)...), append([]byte("a"), 7, 1, 0, 0, 0, 0, 0, 0)...), "unknown kind"},
	}
	for _, c := range cases {
		_, reason := decodeEdit(c.enc)
		require.Contains(t, reason, c.want, c.name)
	}
}

// writeTestManifest writes a manifest of edits (the first a snapshot) and
// returns its bytes.
func writeTestManifest(t testing.TB, fs vfs.FS, num uint64, cipher interfaces.Cipher, edits ...*versionEdit) []byte {
	t.Helper()
	require.NoError(t, fs.MkdirAll("db", 0o755))
	w, err := createManifest(fs, "db", num, cipher, edits[0])
	require.NoError(t, err)
	for _, ve := range edits[1:] {
		require.NoError(t, w.append(ve))
	}
	require.NoError(t, w.close())
	data, err := readWhole(fs, filepath.Join("db", manifestName(num)))
	require.NoError(t, err)
	require.Equal(t, w.size, int64(len(data)))
	return data
}

// manifestEdits are a snapshot and the edits of a flush, a compaction
// and a move.
func manifestEdits() []*versionEdit {
	return []*versionEdit{
		{hasNextFileNum: true, nextFileNum: 10, hasDurableTs: true, durableTs: 50, hasLogNum: true, logNum: 3,
			added: []newFileEntry{{0, meta(4, "c", "k", 41, 50, 1000)}, {0, meta(3, "a", "m", 30, 40, 1000)}, {1, meta(2, "a", "z", 1, 29, 5000)}}},
		{hasNextFileNum: true, nextFileNum: 11, hasDurableTs: true, durableTs: 60, hasLogNum: true, logNum: 4,
			added: []newFileEntry{{0, meta(10, "b", "q", 51, 60, 900)}}},
		{hasNextFileNum: true, nextFileNum: 14,
			deleted: []deletedFileEntry{{0, 3}, {0, 4}, {0, 10}, {1, 2}},
			added:   []newFileEntry{{1, meta(12, "a", "k", 1, 60, 3000)}, {1, meta(13, "l", "z", 1, 60, 3000)}}},
		{hasNextFileNum: true, nextFileNum: 14,
			deleted: []deletedFileEntry{{1, 13}},
			added:   []newFileEntry{{2, meta(13, "l", "z", 1, 60, 3000)}}},
	}
}

func TestReplayManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		cipher interfaces.Cipher
	}{{"plain", nil}, {"sealed", newTestCipher(1)}} {
		t.Run(c.name, func(t *testing.T) {
			data := writeTestManifest(t, vfs.NewMem(), 9, c.cipher, manifestEdits()...)
			r, err := replayManifest(data, "m", 9, c.cipher)
			require.NoError(t, err)
			require.False(t, r.torn)
			require.Equal(t, 4, r.records)
			require.Equal(t, uint64(60), r.durableTs)
			require.Equal(t, uint64(4), r.logNum)
			require.Equal(t, uint64(14), r.nextFileNum)
			require.Len(t, r.files, 2)
			require.Equal(t, 1, r.files[12].level)
			require.Equal(t, 2, r.files[13].level)
			v, err := applyEdit(nil, r.edit(), nil)
			require.NoError(t, err)
			require.Equal(t, uint64(6000), v.totalBytes())

			// Under another manifest number, sealed records fail to open;
			// the header names the number in any case.
			_, err = replayManifest(data, "m", 8, c.cipher)
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
		})
	}
}

// TestReplayTornTail cuts the manifest at every length and zero-fills
// tails: each is a torn tail that keeps the whole records before it.
func TestReplayTornTail(t *testing.T) {
	data := writeTestManifest(t, vfs.NewMem(), 9, nil, manifestEdits()...)
	// The offsets where records end.
	var ends []int
	for off := manifestHeaderLen; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		off += recordHeaderLen + n
		ends = append(ends, off)
	}
	require.Len(t, ends, 4)
	records := func(n int) int {
		k := 0
		for _, e := range ends {
			if e <= n {
				k++
			}
		}
		return k
	}
	for n := ends[0]; n < len(data); n++ {
		r, err := replayManifest(data[:n], "m", 9, nil)
		require.NoError(t, err, "cut at %d", n)
		require.Equal(t, records(n), r.records, "cut at %d", n)
		require.Equal(t, n != ends[records(n)-1], r.torn, "cut at %d", n)
		// Zeros where the rest was (a file extended but never written).
		z := append(bytes.Clone(data[:n]), make([]byte, len(data)-n)...)
		r, err = replayManifest(z, "m", 9, nil)
		if n == ends[records(n)-1] {
			require.NoError(t, err, "zeros from %d", n)
			require.Equal(t, records(n), r.records)
			require.True(t, r.torn)
		}
	}
	// Cut inside the snapshot: no edit at all is corruption, not a fresh
	// database.
	_, err := replayManifest(data[:ends[0]-1], "m", 9, nil)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
}

// TestReplayFlipEveryByte flips each byte of a manifest: every flip is a
// CorruptionError naming the record it hit, never a silent cut or a
// different version.
func TestReplayFlipEveryByte(t *testing.T) {
	for _, c := range []struct {
		name   string
		cipher interfaces.Cipher
	}{{"plain", nil}, {"sealed", newTestCipher(1)}} {
		t.Run(c.name, func(t *testing.T) {
			data := writeTestManifest(t, vfs.NewMem(), 9, c.cipher, manifestEdits()...)
			starts := []int{0}
			for off := manifestHeaderLen; off < len(data); {
				starts = append(starts, off)
				off += recordHeaderLen + int(binary.LittleEndian.Uint32(data[off:]))
			}
			for i := range data {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(data)
					bad[i] ^= mask
					_, err := replayManifest(bad, "m", 9, c.cipher)
					var ce *interfaces.CorruptionError
					require.ErrorAs(t, err, &ce, "flip %#x at byte %d", mask, i)
					require.Equal(t, "m", ce.File)
					want := 0
					for _, s := range starts {
						if s <= i {
							want = s
						}
					}
					require.Equal(t, int64(want), ce.Offset, "flip %#x at byte %d: %v", mask, i, err)
				}
			}
		})
	}
}

func TestReplayIncompatible(t *testing.T) {
	g := newTestCipher(1)
	plain := writeTestManifest(t, vfs.NewMem(), 9, nil, manifestEdits()...)
	sealed := writeTestManifest(t, vfs.NewMem(), 9, g, manifestEdits()...)
	_, err := replayManifest(plain, "m", 9, g)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	_, err = replayManifest(sealed, "m", 9, nil)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	// Another key: authentication fails, which is corruption.
	_, err = replayManifest(sealed, "m", 9, newTestCipher(2))
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	// Another format version, with a valid header checksum.
	v2 := bytes.Clone(plain)
	binary.LittleEndian.PutUint32(v2[8:], 2)
	binary.LittleEndian.PutUint32(v2[24:], crc32c(v2[:24]))
	_, err = replayManifest(v2, "m", 9, nil)
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
}

// TestReplayInconsistent checks edits that decode but do not fit.
func TestReplayInconsistent(t *testing.T) {
	base := manifestEdits()[0]
	for _, c := range []struct {
		name string
		ve   *versionEdit
		want string
	}{
		{"delete a missing table", &versionEdit{deleted: []deletedFileEntry{{0, 77}}}, "where it is not"},
		{"delete from the wrong level", &versionEdit{deleted: []deletedFileEntry{{2, 3}}}, "where it is not"},
		{"add twice", &versionEdit{hasNextFileNum: true, nextFileNum: 10, added: []newFileEntry{{3, meta(2, "a", "b", 1, 2, 5)}}}, "twice"},
		{"durable ts goes down", &versionEdit{hasDurableTs: true, durableTs: 10}, "goes down"},
		{"log number goes down", &versionEdit{hasLogNum: true, logNum: 1}, "goes down"},
		{"table above the durable ts", &versionEdit{added: []newFileEntry{{0, meta(8, "a", "b", 60, 70, 5)}}}, "above the durable ts"},
		{"table number not below the next", &versionEdit{added: []newFileEntry{{0, meta(10, "a", "b", 1, 2, 5)}}}, "next file number"},
	} {
		data := writeTestManifest(t, vfs.NewMem(), 9, nil, base, c.ve)
		_, err := replayManifest(data, "m", 9, nil)
		require.ErrorIs(t, err, interfaces.ErrCorrupt, c.name)
		require.Contains(t, err.Error(), c.want, c.name)
	}
}

func TestCurrent(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("db", 0o755))
	require.NoError(t, setCurrent(fs, "db", 42))
	num, err := readCurrent(fs, "db")
	require.NoError(t, err)
	require.Equal(t, uint64(42), num)
	for _, bad := range []string{"", "MANIFEST-000042", "MANIFEST-\n", "MANIFEST-00x1\n", "000042.sst\n", "MANIFEST-000042\n\n"} {
		f, err := fs.Create("db/CURRENT")
		require.NoError(t, err)
		_, err = f.Write([]byte(bad))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = readCurrent(fs, "db")
		require.ErrorIs(t, err, interfaces.ErrCorrupt, "%q", bad)
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// FuzzDecodeEdit feeds arbitrary bytes to the edit decoder: it never
// panics, and what it accepts encodes back to the same bytes.
func FuzzDecodeEdit(f *testing.F) {
	for _, ve := range sampleEdits() {
		f.Add(ve.encode(nil))
	}
	for _, ve := range manifestEdits() {
		f.Add(ve.encode(nil))
	}
	f.Add([]byte{tagNewFile, 1, 1, 1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		ve, reason := decodeEdit(b)
		if reason != "" {
			require.Nil(t, ve)
			return
		}
		again, reason := decodeEdit(ve.encode(nil))
		require.Empty(t, reason)
		editsEqual(t, ve, again)
	})
}

// FuzzReplayManifest feeds arbitrary bytes to manifest replay: it never
// panics, and fails only with corruption or incompatibility.
func FuzzReplayManifest(f *testing.F) {
	f.Add(writeTestManifest(f, vfs.NewMem(), 9, nil, manifestEdits()...))
	f.Add(writeTestManifest(f, vfs.NewMem(), 9, nil, manifestEdits()[0]))
	f.Add(manifestHeader(9, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := replayManifest(b, "m", 9, nil)
		if err != nil {
			require.True(t, errors.Is(err, interfaces.ErrCorrupt) || errors.Is(err, interfaces.ErrIncompatible), "%v", err)
			return
		}
		require.Positive(t, r.records)
		require.LessOrEqual(t, r.validLen, int64(len(b)))
		if _, err := applyEdit(nil, r.edit(), nil); err != nil {
			// Levels that break the invariants are caught when the
			// version is built, which recover reports as corruption.
			require.NotEmpty(t, err.Error())
		}
	})
}
