package lz4_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lz4"
)

func TestConformance(t *testing.T) {
	conformance.TestCodec(t, func() (interfaces.Codec, error) { return lz4.New(), nil })
}

type codecsIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
}

func TestModule(t *testing.T) {
	require.NoError(t, fx.ValidateApp(lz4.Module, fx.NopLogger, fx.Invoke(func(codecsIn) {})))

	var got []interfaces.Codec
	app := fx.New(lz4.Module, fx.NopLogger, fx.Invoke(func(in codecsIn) { got = in.Codecs }))
	require.NoError(t, app.Err())
	require.Len(t, got, 1)
	require.Equal(t, interfaces.CodecLZ4, got[0].ID())
	require.Equal(t, interfaces.Descriptor{
		Kind:            interfaces.KindCodec,
		Name:            "lz4",
		Version:         "1.0.0",
		ContractVersion: interfaces.CodecContractVersion,
	}, got[0].Describe())
}

// TestFormat pins the framing (uvarint length, then an LZ4 block) against
// hand-made encodings.
func TestFormat(t *testing.T) {
	c := lz4.New()
	tests := []struct {
		name    string
		encoded []byte
		decoded []byte
	}{
		{"empty", []byte{0x00}, []byte{}},
		// Length 5; token 0x50: 5 literals, no match (the last sequence).
		{"literals", []byte{0x05, 0x50, 'h', 'e', 'l', 'l', 'o'}, []byte("hello")},
		// Length 13: token 0x24 = 2 literals "ab", match length 4+4 at
		// offset 2 (little-endian), then 3 final literals "xyz".
		{"match", []byte{0x0d, 0x24, 'a', 'b', 0x02, 0x00, 0x30, 'x', 'y', 'z'}, []byte("ababababab" + "xyz")},
		// Length 300: 300 literals, 15 + 255 + 30 in the length bytes.
		{"long literal run", append([]byte{0xac, 0x02, 0xf0, 0xff, 30}, bytes.Repeat([]byte{'q'}, 300)...),
			bytes.Repeat([]byte{'q'}, 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(nil, tt.encoded)
			require.NoError(t, err)
			require.True(t, bytes.Equal(tt.decoded, got), "decoded %q, want %q", got, tt.decoded)
		})
	}
	enc, err := c.Encode(nil, nil)
	require.NoError(t, err)
	require.Equal(t, []byte{0x00}, enc)
	enc, err = c.Encode(nil, []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, []byte{0x05, 0x50, 'h', 'e', 'l', 'l', 'o'}, enc)

	// Incompressible input still makes one block within the bound.
	src := make([]byte, 10000)
	for i := range src {
		src[i] = byte(i*7919 + i>>3*31)
	}
	enc, err = c.Encode(nil, src)
	require.NoError(t, err)
	require.LessOrEqual(t, len(enc), 2+len(src)+len(src)/255+16)
}

// TestDecodeRefuses checks the refusals that the package documentation
// promises, each before any large allocation.
func TestDecodeRefuses(t *testing.T) {
	c := lz4.New()
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty input", nil},
		{"unterminated length", []byte{0x80}},
		{"length overflowing 64 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"non-canonical length", []byte{0x85, 0x00, 0x50, 'h', 'e', 'l', 'l', 'o'}},
		{"length above MaxDecodedLen", []byte{0x81, 0x80, 0x80, 0x80, 0x01, 0x50, 'h', 'e', 'l', 'l', 'o'}},
		// A 3-byte block decodes to at most 765 bytes.
		{"length beyond the expansion bound", []byte{0xfe, 0x05, 0x0f, 0x01, 0x00}},
		{"block after an empty length", []byte{0x00, 0x10, 'a'}},
		{"missing block", []byte{0x05}},
		{"block shorter than declared", []byte{0x06, 0x50, 'h', 'e', 'l', 'l', 'o'}},
		{"block longer than declared", []byte{0x04, 0x50, 'h', 'e', 'l', 'l', 'o'}},
		{"literals past the end", []byte{0x05, 0x50, 'h', 'e'}},
		{"offset before the start", []byte{0x0d, 0x24, 'a', 'b', 0x09, 0x00, 0x30, 'x', 'y', 'z'}},
		{"offset zero", []byte{0x0d, 0x24, 'a', 'b', 0x00, 0x00, 0x30, 'x', 'y', 'z'}},
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
	_, err := lz4.New().Encode(nil, big)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector, sync.Pool drops items at random")
	}
	c := lz4.New()
	src := conformance.HalfCompressible(4<<10, 1)
	enc, err := c.Encode(nil, src)
	require.NoError(t, err)
	encBuf := make([]byte, 0, 2*len(src))
	decBuf := make([]byte, 0, len(src))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Encode(encBuf[:0], src) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Decode(decBuf[:0], enc) }))
}

func FuzzDecode(f *testing.F) {
	c := lz4.New()
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
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0xfe, 0x05, 0x0f, 0x01, 0x00})
	f.Add([]byte{0x0d, 0x24, 'a', 'b', 0x09, 0x00, 0x30, 'x', 'y', 'z'})
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
	c := lz4.New()
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
}

func BenchmarkDecode(b *testing.B) {
	c := lz4.New()
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
