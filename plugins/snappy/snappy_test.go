package snappy_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/snappy"
)

func TestConformance(t *testing.T) {
	conformance.TestCodec(t, func() (interfaces.Codec, error) { return snappy.New(), nil })
}

type codecsIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
}

func TestModule(t *testing.T) {
	require.NoError(t, fx.ValidateApp(snappy.Module, fx.NopLogger, fx.Invoke(func(codecsIn) {})))

	var got []interfaces.Codec
	app := fx.New(snappy.Module, fx.NopLogger, fx.Invoke(func(in codecsIn) { got = in.Codecs }))
	require.NoError(t, app.Err())
	require.Len(t, got, 1)
	require.Equal(t, interfaces.CodecSnappy, got[0].ID())
	require.Equal(t, interfaces.Descriptor{
		Kind:            interfaces.KindCodec,
		Name:            "snappy",
		Version:         "1.0.0",
		ContractVersion: interfaces.CodecContractVersion,
	}, got[0].Describe())
}

// TestFormat pins the byte format against hand-made Snappy blocks.
func TestFormat(t *testing.T) {
	c := snappy.New()
	tests := []struct {
		name    string
		encoded []byte
		decoded []byte
	}{
		{"empty", []byte{0x00}, []byte{}},
		// Length 5, literal tag (len-1)<<2 = 0x10, then the bytes.
		{"literal", []byte{0x05, 0x10, 'h', 'e', 'l', 'l', 'o'}, []byte("hello")},
		// Length 8: literal "ab", then a copy with a 1-byte offset
		// (tag 01, length 6 -> (6-4)<<2, offset 2).
		{"copy", []byte{0x08, 0x04, 'a', 'b', 0x01 | (6-4)<<2, 0x02}, []byte("abababab")},
		// The same copy with a 2-byte offset (tag 10, (len-1)<<2).
		{"copy2", []byte{0x08, 0x04, 'a', 'b', 0x02 | (6-1)<<2, 0x02, 0x00}, []byte("abababab")},
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
	require.Equal(t, []byte{0x05, 0x10, 'h', 'e', 'l', 'l', 'o'}, enc)
}

// TestDecodeRefuses checks the refusals that the package documentation
// promises, each before any large allocation.
func TestDecodeRefuses(t *testing.T) {
	c := snappy.New()
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty input", nil},
		{"unterminated length", []byte{0x80}},
		{"length above 2^32", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
		{"length above MaxDecodedLen", []byte{0x81, 0x80, 0x80, 0x80, 0x01, 0x00}},
		// 3 bytes of elements can decode to at most 64 bytes.
		{"length beyond the expansion bound", []byte{0x41, 0x02 | 63<<2, 0x01, 0x00}},
		// An S2 repeat (copy with offset 0), which standard Snappy lacks.
		{"s2 extension", []byte{0x08, 0x04, 'a', 'b', 0x01 | (6-4)<<2, 0x00}},
		{"literal past the end", []byte{0x05, 0x10, 'h', 'e'}},
		{"copy before the start", []byte{0x04, 0x01, 0x05}},
		{"output longer than declared", []byte{0x01, 0x04, 'a', 'b'}},
		{"output shorter than declared", []byte{0x03, 0x04, 'a', 'b'}},
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
	// The expansion bound is exact: 3 bytes of a 64-byte copy pass it.
	out, err := c.Decode(nil, []byte{0x40, 0x02 | 63<<2, 0x01, 0x00})
	require.ErrorIs(t, err, interfaces.ErrCorrupt, "a copy before any output is still corrupt")
	require.NotContains(t, err.Error(), "can encode")
	require.Empty(t, out)
}

func TestEncodeRefusesOversize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 256 MiB")
	}
	big := make([]byte, interfaces.MaxDecodedLen+1)
	_, err := snappy.New().Encode(nil, big)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestSteadyStateAllocs(t *testing.T) {
	c := snappy.New()
	src := conformance.HalfCompressible(4<<10, 1)
	enc, err := c.Encode(nil, src)
	require.NoError(t, err)
	encBuf := make([]byte, 0, 2*len(src))
	decBuf := make([]byte, 0, len(src))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Encode(encBuf[:0], src) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Decode(decBuf[:0], enc) }))
}

func FuzzDecode(f *testing.F) {
	c := snappy.New()
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
	f.Add([]byte{0x40, 0x02 | 63<<2, 0x01, 0x00})
	f.Add([]byte("\x08\x04ab\x09\x00"))
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
			// What decodes re-encodes and decodes to the same bytes.
			enc, err := c.Encode(nil, out)
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.Decode(nil, enc)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("round trip of decoded output failed: %v", err)
			}
		}
		// Any input round-trips as data.
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
	c := snappy.New()
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
	c := snappy.New()
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
