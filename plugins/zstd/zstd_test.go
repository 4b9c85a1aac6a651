package zstd_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/zstd"
)

func newCodec(t testing.TB, level int) *zstd.Codec {
	t.Helper()
	c, err := zstd.New(&zstd.Options{Level: level})
	require.NoError(t, err)
	return c
}

func TestConformance(t *testing.T) {
	conformance.TestCodec(t, func() (interfaces.Codec, error) { return zstd.New(nil) })
}

// TestConformanceLevels runs the suite at the other encoders' levels (the
// library maps 1-2, 3-5, 6-9 and 10-22 to four encoders). The best one is
// slow under the race detector, and the level changes only the encoder,
// whose output TestLevelsInteroperate decodes, so it runs without -race.
func TestConformanceLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("the default level runs in TestConformance")
	}
	levels := []int{zstd.MinLevel, 6}
	if !raceEnabled {
		levels = append(levels, zstd.MaxLevel)
	}
	for _, level := range levels {
		t.Run(levelName(level), func(t *testing.T) {
			conformance.TestCodec(t, func() (interfaces.Codec, error) { return zstd.New(&zstd.Options{Level: level}) })
		})
	}
}

type codecsIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
}

func TestModule(t *testing.T) {
	require.NoError(t, fx.ValidateApp(zstd.Module, fx.NopLogger, fx.Invoke(func(codecsIn) {})))
	require.NoError(t, fx.ValidateApp(zstd.Module, fx.NopLogger, fx.Supply(&zstd.Options{Level: 9}),
		fx.Invoke(func(codecsIn) {})))

	for _, opts := range []fx.Option{fx.Options(), fx.Supply(&zstd.Options{Level: 19})} {
		var got []interfaces.Codec
		app := fx.New(zstd.Module, opts, fx.NopLogger, fx.Invoke(func(in codecsIn) { got = in.Codecs }))
		require.NoError(t, app.Err())
		require.Len(t, got, 1)
		require.Equal(t, interfaces.CodecZstd, got[0].ID())
		require.Equal(t, interfaces.Descriptor{
			Kind:            interfaces.KindCodec,
			Name:            "zstd",
			Version:         "1.0.0",
			ContractVersion: interfaces.CodecContractVersion,
		}, got[0].Describe())
	}

	app := fx.New(zstd.Module, fx.Supply(&zstd.Options{Level: 99}), fx.NopLogger, fx.Invoke(func(codecsIn) {}))
	require.ErrorIs(t, app.Err(), interfaces.ErrInvalidArgument)
}

func TestOptions(t *testing.T) {
	tests := []struct {
		level   int
		wantErr bool
	}{
		{-1, true}, {0, false}, {1, false}, {3, false}, {9, false}, {22, false}, {23, true},
	}
	for _, tt := range tests {
		o := zstd.Options{Level: tt.level}
		o.EnsureDefaults()
		err := o.Validate()
		if tt.wantErr {
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument, "level %d", tt.level)
			_, err = zstd.New(&zstd.Options{Level: tt.level})
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument, "level %d", tt.level)
			continue
		}
		require.NoError(t, err, "level %d", tt.level)
		if tt.level == 0 {
			require.Equal(t, zstd.DefaultLevel, o.Level)
		}
	}
}

// TestLevelsInteroperate checks that the level affects only Encode: a
// codec of any level decodes what any other wrote, and higher levels do
// not compress worse on text.
func TestLevelsInteroperate(t *testing.T) {
	src := bytes.Repeat([]byte("lightning strikes the same key twice; compaction rewrites it. "), 2000)
	reader := newCodec(t, zstd.DefaultLevel)
	var sizes []int
	for _, level := range []int{1, 3, 6, 10, 22} {
		enc, err := newCodec(t, level).Encode(nil, src)
		require.NoError(t, err)
		dec, err := reader.Decode(nil, enc)
		require.NoError(t, err)
		require.Equal(t, src, dec)
		sizes = append(sizes, len(enc))
	}
	require.LessOrEqual(t, sizes[len(sizes)-1], sizes[0], "sizes by level: %v", sizes)
}

// frame builds a single-segment frame with a 1-byte content size (FHD
// 0x20, or 0x24 with a checksum) around the given blocks.
func frame(size byte, blocks ...byte) []byte {
	return append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, size}, blocks...)
}

// TestFormat pins the byte format against hand-made frames.
func TestFormat(t *testing.T) {
	c := newCodec(t, 0)
	enc, err := c.Encode(nil, nil)
	require.NoError(t, err)
	require.Equal(t, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00}, enc,
		"empty input is a full frame: content size 0, one empty raw last block")

	for _, src := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("ab"), 200), make([]byte, 70000)} {
		enc, err := c.Encode(nil, src)
		require.NoError(t, err)
		require.Equal(t, []byte{0x28, 0xb5, 0x2f, 0xfd}, enc[:4], "magic")
		fhd := enc[4]
		require.NotZero(t, fhd&0x20, "single segment")
		require.NotZero(t, fhd&0x04, "content checksum")
		require.Zero(t, fhd&0x03, "no dictionary id")
		var size uint64
		switch fhd >> 6 {
		case 0:
			size = uint64(enc[5])
		case 1:
			size = uint64(enc[5]) | uint64(enc[6])<<8 + 256
		case 2:
			size = uint64(enc[5]) | uint64(enc[6])<<8 | uint64(enc[7])<<16 | uint64(enc[8])<<24
		}
		require.Equal(t, uint64(len(src)), size, "content size")
	}

	tests := []struct {
		name    string
		encoded []byte
		decoded []byte
	}{
		// Raw last block of 5 bytes: header 1 | 0<<1 | 5<<3 = 0x29.
		{"raw block", frame(5, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'), []byte("hello")},
		// RLE last block of 7 bytes: header 1 | 1<<1 | 7<<3 = 0x3b.
		{"rle block", frame(7, 0x3b, 0x00, 0x00, 'z'), []byte("zzzzzzz")},
		// Two raw blocks, the first not last: 0<<0 | 2<<3 = 0x10.
		{"two blocks", frame(4, 0x10, 0x00, 0x00, 'a', 'b', 0x11, 0x00, 0x00, 'c', 'd'), []byte("abcd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(nil, tt.encoded)
			require.NoError(t, err)
			require.Equal(t, tt.decoded, got)
		})
	}
}

// TestDecodeRefuses checks the refusals that the package documentation
// promises, each before any large allocation.
func TestDecodeRefuses(t *testing.T) {
	c := newCodec(t, 0)
	valid, err := c.Encode(nil, []byte("lightning lightning lightning"))
	require.NoError(t, err)
	badSum := bytes.Clone(valid)
	badSum[len(badSum)-1] ^= 1
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty input", nil},
		{"bad magic", []byte{0x28, 0xb5, 0x2f, 0xfe, 0x20, 0x00, 0x01, 0x00, 0x00}},
		{"short header", []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{"skippable frame", []byte{0x50, 0x2a, 0x4d, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00}},
		// FHD 0x00: no single segment, so a window descriptor follows
		// and the content size is absent.
		{"multi-segment frame", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}},
		// FHD 0x21: single segment with a 1-byte dictionary id.
		{"dictionary id", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x21, 0x07, 0x05, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}},
		// FHD 0xe0: 8-byte content size.
		{"content size above MaxDecodedLen", []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0,
			0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}},
		// FHD 0xa0: 4-byte content size of 64 MiB in a 17-byte frame.
		{"content size beyond the expansion bound", []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0,
			0x00, 0x00, 0x00, 0x04, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}},
		{"content size larger than the blocks", frame(6, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o')},
		{"content size smaller than the blocks", frame(4, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o')},
		{"missing last block", frame(2, 0x10, 0x00, 0x00, 'a', 'b')},
		{"reserved block type", frame(1, 0x07, 0x00, 0x00, 'a')},
		{"checksum mismatch", badSum},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"second frame", append(bytes.Clone(valid), valid...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("keep")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			out, err := c.Decode(prefix, tt.in)
			runtime.ReadMemStats(&ms)
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			require.Equal(t, prefix, out, "dst comes back unextended")
			require.Less(t, ms.TotalAlloc-before, uint64(1<<20))
		})
	}
}

func TestEncodeRefusesOversize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 256 MiB")
	}
	big := make([]byte, interfaces.MaxDecodedLen+1)
	_, err := newCodec(t, 0).Encode(nil, big)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestSteadyStateAllocs(t *testing.T) {
	c := newCodec(t, 0)
	src := conformance.HalfCompressible(4<<10, 1)
	enc, err := c.Encode(nil, src)
	require.NoError(t, err)
	encBuf := make([]byte, 0, 2*len(src))
	decBuf := make([]byte, 0, len(src))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Encode(encBuf[:0], src) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Decode(decBuf[:0], enc) }))
}

func FuzzDecode(f *testing.F) {
	c, err := zstd.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, src := range [][]byte{
		nil, []byte("a"), []byte("lightning lightning lightning"),
		conformance.HalfCompressible(1<<10, 2), bytes.Repeat([]byte{0}, 5000),
	} {
		enc, err := c.Encode(nil, src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
		f.Add(enc[:len(enc)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add(frame(7, 0x3b, 0x00, 0x00, 'z'))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x00, 0x00, 0x00, 0x04, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x50, 0x2a, 0x4d, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := c.Decode(nil, data)
		if err != nil {
			if !errors.Is(err, interfaces.ErrCorrupt) {
				t.Fatalf("Decode error %v does not match ErrCorrupt", err)
			}
		} else {
			if len(out) > interfaces.MaxDecodedLen {
				t.Fatalf("Decode returned %d bytes", len(out))
			}
			enc, err := c.Encode(nil, out)
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.Decode(nil, enc)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("round trip of decoded output failed: %v", err)
			}
		}
		enc, err := c.Encode(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := c.Decode(nil, enc)
		if err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("round trip of %d bytes failed: %v", len(data), err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, level := range []int{1, 3, 9} {
		b.Run(levelName(level), func(b *testing.B) {
			c := newCodec(b, level)
			src := conformance.HalfCompressible(4<<10, 1)
			dst := make([]byte, 0, 2*len(src))
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := c.Encode(dst[:0], src)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n)/float64(len(src)), "ratio")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	c := newCodec(b, 0)
	src := conformance.HalfCompressible(4<<10, 1)
	enc, err := c.Encode(nil, src)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(dst[:0], enc); err != nil {
			b.Fatal(err)
		}
	}
}

func levelName(level int) string { return fmt.Sprintf("level=%d", level) }
