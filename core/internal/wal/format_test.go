package wal

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

func TestSegmentNames(t *testing.T) {
	for _, tc := range []struct {
		num  uint64
		name string
	}{
		{1, "0000000000000001.wal"},
		{0xabc, "0000000000000abc.wal"},
		{1 << 63, "8000000000000000.wal"},
		{^uint64(0), "ffffffffffffffff.wal"},
	} {
		require.Equal(t, tc.name, segmentName(tc.num))
		n, ok := parseSegmentName(tc.name)
		require.True(t, ok, tc.name)
		require.Equal(t, tc.num, n)
	}
	for _, bad := range []string{
		"", "0000000000000000.wal", "000000000000001.wal", "00000000000000001.wal",
		"0000000000000ABC.wal", "000000000000000g.wal", "0000000000000001.wa",
		"0000000000000001.log", "0000000000000001.wal.tmp", "+000000000000001.wal", "LOCK",
	} {
		_, ok := parseSegmentName(bad)
		require.False(t, ok, "%q parsed as a segment name", bad)
	}
}

func TestSegHeaderRoundTrip(t *testing.T) {
	for _, h := range []segHeader{
		{version: formatVersion, num: 1},
		{version: formatVersion, flags: segFlagSealed, num: 77, prevTs: 12345},
		{version: 9, flags: 0xffff, num: ^uint64(0), prevTs: ^uint64(0)},
	} {
		b := h.appendTo(nil)
		require.Len(t, b, headerSize)
		require.Equal(t, segmentMagic, string(b[:8]))
		require.Equal(t, crc32.Checksum(b[:28], castagnoli), binary.LittleEndian.Uint32(b[28:]))
		got, reason := parseSegHeader(b)
		require.Empty(t, reason)
		require.Equal(t, h, got)
		// Every single-bit flip is caught by the magic or the checksum.
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << (i % 8)
			_, reason := parseSegHeader(c)
			require.NotEmpty(t, reason, "flip at byte %d", i)
		}
		for n := range headerSize {
			_, reason := parseSegHeader(b[:n])
			require.Contains(t, reason, "shorter")
		}
	}
}

func TestRecordHeaderRoundTrip(t *testing.T) {
	for _, h := range []recHeader{
		{length: 0, ts: 1, synced: headerSize},
		{length: 17, codec: rleCodecID, flags: recFlagSealed, ts: 1 << 40, synced: 4096},
		{length: MaxRecordBody, flags: recFlagMarker | recFlagSealed, reserved: 3, ts: ^uint64(0), synced: ^uint64(0)},
	} {
		b := make([]byte, recordHeaderSize)
		putRecHeader(b, h)
		binary.LittleEndian.PutUint32(b, 0xdeadbeef)
		h.crc = 0xdeadbeef
		require.Equal(t, h, decodeRecHeader(b))
	}
}

func TestCRCSeedMatchesCRC32(t *testing.T) {
	for _, tc := range []struct {
		num uint64
		off int64
	}{{0, 0}, {1, 32}, {0x0102030405060708, 0x1112131415161718}, {^uint64(0), 1 << 62}} {
		var pos [16]byte
		binary.LittleEndian.PutUint64(pos[:8], tc.num)
		binary.LittleEndian.PutUint64(pos[8:], uint64(tc.off))
		require.Equal(t, crc32.Update(0, castagnoli, pos[:]), crcSeed(tc.num, tc.off))
		rest := []byte("rest of the record")
		require.Equal(t, crc32.Update(0, castagnoli, append(pos[:], rest...)), recordCRC(tc.num, tc.off, rest))
	}
}

func TestRecordCRCBindsPlace(t *testing.T) {
	rest := []byte("header-and-body")
	base := recordCRC(3, 100, rest)
	require.NotEqual(t, base, recordCRC(4, 100, rest), "segment number must change the checksum")
	require.NotEqual(t, base, recordCRC(3, 101, rest), "offset must change the checksum")
	require.Equal(t, base, recordCRC(3, 100, append([]byte(nil), rest...)))
}

func TestAppendAD(t *testing.T) {
	hdr := make([]byte, recordHeaderSize)
	for i := range hdr {
		hdr[i] = byte(i)
	}
	ad := appendAD(nil, 7, 96, hdr)
	require.Len(t, ad, 8+8+8+24)
	require.Equal(t, segmentMagic, string(ad[:8]))
	require.Equal(t, uint64(7), binary.LittleEndian.Uint64(ad[8:]))
	require.Equal(t, uint64(96), binary.LittleEndian.Uint64(ad[16:]))
	require.Equal(t, hdr[4:], ad[24:], "AD covers the header after the checksum")
}

func TestPlausible(t *testing.T) {
	good := recHeader{length: 10, ts: 5, synced: headerSize}
	for _, tc := range []struct {
		name  string
		h     recHeader
		off   int64
		minTs uint64
		want  bool
	}{
		{"good", good, 100, 5, true},
		{"ts below", good, 100, 6, false},
		{"reserved", recHeader{length: 10, ts: 5, synced: headerSize, reserved: 1}, 100, 0, false},
		{"flags", recHeader{length: 10, ts: 5, synced: headerSize, flags: 4}, 100, 0, false},
		{"synced in header", recHeader{length: 10, ts: 5, synced: 8}, 100, 0, false},
		{"synced past offset", recHeader{length: 10, ts: 5, synced: 101}, 100, 0, false},
		{"synced at offset", recHeader{length: 10, ts: 5, synced: 100}, 100, 0, true},
		{"zeros", recHeader{}, 100, 0, false},
		{"huge", recHeader{length: MaxRecordBody + 1, ts: 5, synced: headerSize}, 100, 0, false},
	} {
		require.Equal(t, tc.want, plausible(tc.h, tc.off, tc.minTs), tc.name)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := func() Options { o := Options{Dir: "x"}; o.EnsureDefaults(); return o }
	o := ok()
	require.NoError(t, o.Validate())
	require.Equal(t, int64(DefaultSegmentSize), o.SegmentSize)
	require.Equal(t, DefaultCompressThreshold, o.CompressThreshold)
	for name, mutate := range map[string]func(*Options){
		"no dir":        func(o *Options) { o.Dir = "" },
		"tiny segment":  func(o *Options) { o.SegmentSize = MinSegmentSize - 1 },
		"threshold":     func(o *Options) { o.CompressThreshold = -1 },
		"archive = dir": func(o *Options) { o.ArchiveDir = "x/" },
		"codec clash": func(o *Options) {
			o.Codec = rleCodec{}
			o.Codecs = []interfaces.Codec{otherCodec{}}
		},
	} {
		o := ok()
		mutate(&o)
		require.ErrorIs(t, o.Validate(), interfaces.ErrInvalidArgument, name)
	}
}

// otherCodec claims the test codec's ID under another name.
type otherCodec struct{ rleCodec }

func (otherCodec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{Kind: interfaces.KindCodec, Name: "other"}
}
