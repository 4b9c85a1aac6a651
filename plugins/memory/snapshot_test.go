package memory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// testVersion is a version as the snapshot tests write and read it.
type testVersion struct {
	key   string
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

// encodeSnapshot writes versions (in order) into a snapshot in memory.
func encodeSnapshot(t testing.TB, hdr snapshotHeader, vs []testVersion, cipher interfaces.Cipher, codec interfaces.Codec, blockSize int) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw, err := newSnapshotWriter(&buf, hdr, cipher, codec, blockSize)
	require.NoError(t, err)
	for _, v := range vs {
		ver := newVersion([]byte(v.key), v.ts, v.kind, []byte(v.value))
		require.NoError(t, sw.add(&ver))
	}
	size, err := sw.finish()
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), size)
	return buf.Bytes()
}

// decodeSnapshot reads a snapshot from memory.
func decodeSnapshot(data []byte, cipher interfaces.Cipher, codecs map[interfaces.CodecID]interfaces.Codec) ([]testVersion, snapshotInfo, error) {
	var out []testVersion
	info, err := readSnapshot(bytes.NewReader(data), int64(len(data)), "SNAPSHOT", cipher, codecs,
		func(key []byte, ts uint64, kind interfaces.EntryKind, value []byte) error {
			out = append(out, testVersion{string(key), ts, kind, string(value)})
			return nil
		})
	return out, info, err
}

var rleCodecs = map[interfaces.CodecID]interfaces.Codec{RLECodecID: RLECodec{}}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func crc(b []byte) []byte  { return le32(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestSnapshotLayout pins the format byte for byte, as doc.go draws it.
func TestSnapshotLayout(t *testing.T) {
	vs := []testVersion{
		{"a", 5, interfaces.KindSet, "xy"},
		{"a", 2, interfaces.KindDelete, ""},
		{"b", 7, interfaces.KindSet, ""},
	}
	got := encodeSnapshot(t, snapshotHeader{durableTs: 7, discardTs: 3}, vs, nil, nil, DefaultBlockSize)

	header := cat([]byte("LTNGMEM\x00"), []byte{1, 0}, []byte{0, 0}, []byte{0}, []byte{0, 0, 0}, le64(7), le64(3))
	header = cat(header, crc(header))
	entries := cat(
		[]byte{1}, le64(5), []byte{1, 'a'}, []byte{2, 'x', 'y'},
		[]byte{2}, le64(2), []byte{1, 'a'}, []byte{0},
		[]byte{1}, le64(7), []byte{1, 'b'}, []byte{0},
	)
	block := cat([]byte{0, 0, 0, 0}, le32(3), le32(uint32(len(entries))), le32(uint32(len(entries))), entries)
	block = cat(block, crc(block))
	footer := cat(le64(3), le64(1))
	want := cat(header, block, footer)
	want = cat(want, crc(want))
	require.Equal(t, want, got)

	back, info, err := decodeSnapshot(got, nil, nil)
	require.NoError(t, err)
	require.Equal(t, vs, back)
	require.Equal(t, uint64(7), info.header.durableTs)
	require.Equal(t, uint64(3), info.header.discardTs)
	require.Equal(t, uint64(3), info.count)
	require.Equal(t, uint64(1), info.blocks)

	// An empty snapshot is a header and a footer.
	empty := encodeSnapshot(t, snapshotHeader{}, nil, nil, nil, DefaultBlockSize)
	require.Len(t, empty, headerSize+footerSize)
	back, info, err = decodeSnapshot(empty, nil, nil)
	require.NoError(t, err)
	require.Empty(t, back)
	require.Zero(t, info.blocks)
}

// manyVersions returns n versions in order, with tombstones, several
// versions per key, and values that compress.
func manyVersions(n int) []testVersion {
	var vs []testVersion
	for i := 0; len(vs) < n; i++ {
		key := fmt.Sprintf("key-%05d", i)
		for ts := uint64(3); ts >= 1 && len(vs) < n; ts-- {
			v := testVersion{key, uint64(i)*3 + ts, interfaces.KindSet, string(bytes.Repeat([]byte{byte(i)}, i%300))}
			if (i+int(ts))%5 == 0 {
				v.kind, v.value = interfaces.KindDelete, ""
			}
			vs = append(vs, v)
		}
	}
	return vs
}

func TestSnapshotRoundTrip(t *testing.T) {
	vs := manyVersions(3000)
	durable := vs[len(vs)-1].ts + 100
	cases := []struct {
		name   string
		cipher interfaces.Cipher
		codec  interfaces.Codec
		block  int
	}{
		{"plain, one block", nil, nil, MaxBlockSize},
		{"plain, small blocks", nil, nil, MinBlockSize},
		{"compressed", nil, RLECodec{}, MinBlockSize},
		{"sealed", NewGCMCipher(3), nil, MinBlockSize},
		{"compressed and sealed", NewGCMCipher(3), RLECodec{}, MinBlockSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := encodeSnapshot(t, snapshotHeader{durableTs: durable, discardTs: 9}, vs, c.cipher, c.codec, c.block)
			back, info, err := decodeSnapshot(data, c.cipher, rleCodecs)
			require.NoError(t, err)
			require.Equal(t, vs, back)
			require.Equal(t, c.cipher != nil, info.header.sealed())
			if c.block == MinBlockSize {
				require.Greater(t, info.blocks, uint64(10))
			}
			if c.codec != nil && c.cipher == nil {
				plain := encodeSnapshot(t, snapshotHeader{durableTs: durable}, vs, nil, nil, c.block)
				require.Less(t, len(data), len(plain)*3/4, "the codec compresses")
				require.Equal(t, byte(RLECodecID), data[12])
			}
		})
	}
}

func TestSnapshotLargeEntryMakesItsOwnBlock(t *testing.T) {
	big := string(bytes.Repeat([]byte("v"), 3*MinBlockSize))
	vs := []testVersion{{"a", 1, interfaces.KindSet, "x"}, {"b", 1, interfaces.KindSet, big}, {"c", 1, interfaces.KindSet, "y"}}
	data := encodeSnapshot(t, snapshotHeader{durableTs: 1}, vs, nil, nil, MinBlockSize)
	back, info, err := decodeSnapshot(data, nil, nil)
	require.NoError(t, err)
	require.Equal(t, vs, back)
	require.Equal(t, uint64(3), info.blocks)
}

// blockOffsets returns the offset of every block of a valid snapshot.
func blockOffsets(data []byte) []int64 {
	var offs []int64
	for off := int64(headerSize); off < int64(len(data)-footerSize); {
		offs = append(offs, off)
		off += blockHeaderSize + int64(binary.LittleEndian.Uint32(data[off+12:])) + blockCRCSize
	}
	return offs
}

// TestSnapshotEveryByteFlipIsCorruption flips each byte of a snapshot of
// several blocks in turn: every damage is a CorruptionError naming the
// part that holds the byte, never a panic or a wrong answer.
func TestSnapshotEveryByteFlipIsCorruption(t *testing.T) {
	for _, c := range []struct {
		name   string
		cipher interfaces.Cipher
		codec  interfaces.Codec
	}{{"plain", nil, nil}, {"compressed and sealed", NewGCMCipher(1), RLECodec{}}} {
		t.Run(c.name, func(t *testing.T) {
			data := encodeSnapshot(t, snapshotHeader{durableTs: 1000}, manyVersions(300), c.cipher, c.codec, MinBlockSize)
			offs := blockOffsets(data)
			require.Greater(t, len(offs), 2)
			footer := int64(len(data) - footerSize)
			for i := range data {
				for _, mask := range []byte{0x01, 0x80} {
					bad := bytes.Clone(data)
					bad[i] ^= mask
					_, _, err := decodeSnapshot(bad, c.cipher, rleCodecs)
					var ce *interfaces.CorruptionError
					if !errors.As(err, &ce) || ce.File != "SNAPSHOT" {
						t.Fatalf("flip of byte %d: %v; want a CorruptionError in SNAPSHOT", i, err)
					}
					want := int64(0)
					switch {
					case int64(i) >= footer:
						want = footer
					case i >= headerSize:
						for _, o := range offs {
							if o <= int64(i) {
								want = o
							}
						}
					}
					if ce.Offset != want {
						t.Fatalf("flip of byte %d: %v; want offset %d", i, err, want)
					}
				}
			}
		})
	}
}

func TestSnapshotTruncationIsCorruption(t *testing.T) {
	data := encodeSnapshot(t, snapshotHeader{durableTs: 1000}, manyVersions(200), nil, nil, MinBlockSize)
	for n := 0; n < len(data); n++ {
		_, _, err := decodeSnapshot(data[:n], nil, nil)
		require.True(t, interfaces.IsCorruption(err), "truncated to %d bytes: %v", n, err)
	}
	_, _, err := decodeSnapshot(append(bytes.Clone(data), 0), nil, nil)
	require.True(t, interfaces.IsCorruption(err), "a byte appended: %v", err)
}

// rebuild assembles a snapshot from raw entry streams with correct
// checksums, so the tests can reach the checks behind them.
func rebuild(hdr snapshotHeader, flags uint16, version uint16, blocks [][]byte, counts []uint32, codecs []byte) []byte {
	h := hdr.encode()
	binary.LittleEndian.PutUint16(h[8:], version)
	binary.LittleEndian.PutUint16(h[10:], flags)
	binary.LittleEndian.PutUint32(h[32:], crc32.Checksum(h[:32], castagnoli))
	out := bytes.Clone(h)
	total := uint64(0)
	for i, raw := range blocks {
		id := byte(0)
		if codecs != nil {
			id = codecs[i]
		}
		b := cat([]byte{id, 0, 0, 0}, le32(counts[i]), le32(uint32(len(raw))), le32(uint32(len(raw))), raw)
		out = cat(out, b, crc(b))
		total += uint64(counts[i])
	}
	out = cat(out, le64(total), le64(uint64(len(blocks))))
	return cat(out, crc(out))
}

func entry(kind byte, ts uint64, key, value string) []byte {
	b := append([]byte{kind}, le64(ts)...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

func TestSnapshotStructuralChecks(t *testing.T) {
	hdr := snapshotHeader{durableTs: 10}
	good := entry(1, 5, "a", "v")
	cases := []struct {
		name         string
		data         []byte
		incompatible bool
	}{
		{"out of order keys", rebuild(hdr, 0, 1, [][]byte{cat(entry(1, 5, "b", ""), entry(1, 5, "a", ""))}, []uint32{2}, nil), false},
		{"ts ascending within a key", rebuild(hdr, 0, 1, [][]byte{cat(entry(1, 4, "a", ""), entry(1, 5, "a", ""))}, []uint32{2}, nil), false},
		{"duplicate version", rebuild(hdr, 0, 1, [][]byte{cat(good, good)}, []uint32{2}, nil), false},
		{"order across blocks", rebuild(hdr, 0, 1, [][]byte{entry(1, 5, "b", ""), entry(1, 5, "a", "")}, []uint32{1, 1}, nil), false},
		{"unknown kind", rebuild(hdr, 0, 1, [][]byte{entry(3, 5, "a", "")}, []uint32{1}, nil), false},
		{"ts 0", rebuild(hdr, 0, 1, [][]byte{entry(1, 0, "a", "")}, []uint32{1}, nil), false},
		{"ts above durable", rebuild(hdr, 0, 1, [][]byte{entry(1, 11, "a", "")}, []uint32{1}, nil), false},
		{"tombstone with a value", rebuild(hdr, 0, 1, [][]byte{entry(2, 5, "a", "x")}, []uint32{1}, nil), false},
		{"key runs past the block", rebuild(hdr, 0, 1, [][]byte{good[:len(good)-3]}, []uint32{1}, nil), false},
		{"bytes left over", rebuild(hdr, 0, 1, [][]byte{cat(good, []byte{0})}, []uint32{1}, nil), false},
		{"fewer entries than counted", rebuild(hdr, 0, 1, [][]byte{good}, []uint32{2}, nil), false},
		{"block of no entries", rebuild(hdr, 0, 1, [][]byte{{}}, []uint32{0}, nil), false},
		{"oversized key length", rebuild(hdr, 0, 1, [][]byte{cat([]byte{1}, le64(5), binary.AppendUvarint(nil, interfaces.MaxKeySize+1))}, []uint32{1}, nil), false},
		{"stored codec payload that does not decode", rebuild(hdr, 0, 1, [][]byte{good}, []uint32{1}, []byte{byte(RLECodecID)}), false},
		{"newer format version", rebuild(hdr, 0, 2, [][]byte{good}, []uint32{1}, nil), true},
		{"unknown flag", rebuild(hdr, 2, 1, [][]byte{good}, []uint32{1}, nil), true},
		{"codec not configured", rebuild(hdr, 0, 1, [][]byte{good}, []uint32{1}, []byte{77}), true},
		{"sealed without a cipher", rebuild(hdr, flagSealed, 1, [][]byte{good}, []uint32{1}, nil), true},
	}
	require.NotPanics(t, func() {
		_, _, err := decodeSnapshot(rebuild(hdr, 0, 1, [][]byte{good}, []uint32{1}, nil), nil, rleCodecs)
		require.NoError(t, err, "the well-formed base case")
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := decodeSnapshot(c.data, nil, rleCodecs)
			require.Error(t, err)
			if c.incompatible {
				require.ErrorIs(t, err, interfaces.ErrIncompatible)
				require.False(t, interfaces.IsCorruption(err), "%v", err)
				return
			}
			var ce *interfaces.CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "SNAPSHOT", ce.File)
			require.GreaterOrEqual(t, ce.Offset, int64(headerSize), "%v", err)
		})
	}
}

func TestSnapshotSealedBlocksAreBoundToPlaceAndSnapshot(t *testing.T) {
	c := NewGCMCipher(1)
	vs := manyVersions(300)
	data := encodeSnapshot(t, snapshotHeader{durableTs: 5000}, vs, c, nil, MinBlockSize)
	offs := blockOffsets(data)
	require.GreaterOrEqual(t, len(offs), 3)
	blk := func(d []byte, i int) []byte {
		end := int64(len(d) - footerSize)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		return d[offs[i]:end]
	}
	// Swap two blocks of equal length, fixing every checksum: the CRCs
	// pass, authentication does not.
	b0, b1 := bytes.Clone(blk(data, 0)), bytes.Clone(blk(data, 1))
	if len(b0) == len(b1) {
		swapped := cat(data[:offs[0]], b1, b0, data[offs[2]:len(data)-4])
		swapped = cat(swapped, crc(swapped))
		_, _, err := decodeSnapshot(swapped, c, nil)
		require.ErrorIs(t, err, interfaces.ErrDecrypt)
		require.True(t, interfaces.IsCorruption(err))
	}
	// A block from a snapshot with another durable ts does not open here.
	other := encodeSnapshot(t, snapshotHeader{durableTs: 5001}, vs, c, nil, MinBlockSize)
	require.Equal(t, offs, blockOffsets(other))
	spliced := cat(data[:offs[0]], blk(other, 0), data[offs[1]:len(data)-4])
	spliced = cat(spliced, crc(spliced))
	_, _, err := decodeSnapshot(spliced, c, nil)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, offs[0], ce.Offset)
	// Another key is a key mismatch, reported as such.
	_, _, err = decodeSnapshot(data, NewGCMCipher(2), nil)
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
}

func TestSnapshotCallbackErrorStops(t *testing.T) {
	data := encodeSnapshot(t, snapshotHeader{durableTs: 1000}, manyVersions(10), nil, nil, MinBlockSize)
	stop := errors.New("stop")
	n := 0
	_, err := readSnapshot(bytes.NewReader(data), int64(len(data)), "SNAPSHOT", nil, nil,
		func([]byte, uint64, interfaces.EntryKind, []byte) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 3, n)
}

// FuzzReadSnapshot feeds arbitrary bytes to the snapshot reader: it must
// never panic, and whatever it accepts must be well-formed and survive a
// rewrite.
func FuzzReadSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(f, snapshotHeader{}, nil, nil, nil, DefaultBlockSize))
	f.Add(encodeSnapshot(f, snapshotHeader{durableTs: 7, discardTs: 3}, []testVersion{
		{"a", 5, interfaces.KindSet, "xy"}, {"a", 2, interfaces.KindDelete, ""}, {"b", 7, interfaces.KindSet, ""},
	}, nil, nil, DefaultBlockSize))
	f.Add(encodeSnapshot(f, snapshotHeader{durableTs: 1000}, manyVersions(60), nil, nil, MinBlockSize))
	f.Add(encodeSnapshot(f, snapshotHeader{durableTs: 1000}, manyVersions(60), nil, RLECodec{}, MinBlockSize))
	f.Add(rebuild(snapshotHeader{durableTs: 10}, 0, 1, [][]byte{entry(1, 5, "a", "v")}, []uint32{1}, []byte{byte(RLECodecID)}))
	f.Add([]byte("LTNGMEM\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, info, err := decodeSnapshot(data, nil, rleCodecs)
		if err != nil {
			return
		}
		require.Equal(t, info.count, uint64(len(vs)))
		for i, v := range vs {
			require.NotZero(t, v.ts)
			require.LessOrEqual(t, v.ts, info.header.durableTs)
			if i > 0 {
				p := vs[i-1]
				require.True(t, p.key < v.key || (p.key == v.key && p.ts > v.ts), "order at %d", i)
			}
		}
		again := encodeSnapshot(t, info.header, vs, nil, nil, MinBlockSize)
		back, _, err := decodeSnapshot(again, nil, nil)
		require.NoError(t, err)
		require.Equal(t, vs, back)
	})
}

// FuzzSnapshotBlock fuzzes what lies behind the checksums: a block's entry
// stream, entry count and codec, wrapped in a snapshot whose checksums are
// all correct.
func FuzzSnapshotBlock(f *testing.F) {
	f.Add(entry(1, 5, "a", "v"), uint32(1), byte(0), uint64(10))
	f.Add(cat(entry(1, 5, "a", "v"), entry(2, 4, "a", ""), entry(1, 9, "b", "")), uint32(3), byte(0), uint64(10))
	rle, _ := RLECodec{}.Encode(nil, cat(entry(1, 5, "a", "vvvvvvvv"), entry(1, 5, "b", "")))
	f.Add(rle, uint32(2), byte(RLECodecID), uint64(5))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint32(1), byte(0), uint64(1))
	f.Fuzz(func(t *testing.T, raw []byte, count uint32, codec byte, durable uint64) {
		hdr := snapshotHeader{durableTs: durable}
		data := rebuild(hdr, 0, 1, [][]byte{raw}, []uint32{count}, []byte{codec})
		vs, info, err := decodeSnapshot(data, nil, rleCodecs)
		if err != nil {
			if !interfaces.IsCorruption(err) && !errors.Is(err, interfaces.ErrIncompatible) {
				t.Fatalf("an error that is neither corruption nor incompatibility: %v", err)
			}
			return
		}
		require.Equal(t, uint64(count), info.count)
		require.Len(t, vs, int(count))
		again := encodeSnapshot(t, info.header, vs, nil, nil, MinBlockSize)
		back, _, err := decodeSnapshot(again, nil, nil)
		require.NoError(t, err)
		require.Equal(t, vs, back)
	})
}

// TestSnapshotMixedBlocks alternates blocks that compress with blocks that
// do not (stored with codec 0), sealed and not: the reader must not decode
// one block into the buffer holding another.
func TestSnapshotMixedBlocks(t *testing.T) {
	var vs []testVersion
	for i := range 40 {
		value := bytes.Repeat([]byte{'z'}, 3000)
		if i%2 == 1 {
			for j := range value {
				value[j] = byte(j*7919 + i*104729 + j>>3)
			}
		}
		vs = append(vs, testVersion{fmt.Sprintf("k%03d", i), 1, interfaces.KindSet, string(value)})
	}
	for _, c := range []interfaces.Cipher{nil, NewGCMCipher(4)} {
		data := encodeSnapshot(t, snapshotHeader{durableTs: 1}, vs, c, RLECodec{}, MinBlockSize)
		codecs := map[byte]int{}
		for _, off := range blockOffsets(data) {
			codecs[data[off]]++
		}
		require.Positive(t, codecs[0], "some blocks stored uncompressed")
		require.Positive(t, codecs[byte(RLECodecID)], "some blocks compressed")
		back, _, err := decodeSnapshot(data, c, rleCodecs)
		require.NoError(t, err)
		require.Equal(t, vs, back)
	}
}
