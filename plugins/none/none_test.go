package none_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/none"
)

func TestConformance(t *testing.T) {
	conformance.TestCodec(t, func() (interfaces.Codec, error) { return none.New(), nil })
}

type codecsIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
}

func TestModule(t *testing.T) {
	require.NoError(t, fx.ValidateApp(none.Module, fx.NopLogger, fx.Invoke(func(codecsIn) {})))

	var got []interfaces.Codec
	app := fx.New(none.Module, fx.NopLogger, fx.Invoke(func(in codecsIn) { got = in.Codecs }))
	require.NoError(t, app.Err())
	require.Len(t, got, 1)
	require.Equal(t, interfaces.CodecNone, got[0].ID())
	require.Equal(t, interfaces.Descriptor{
		Kind:            interfaces.KindCodec,
		Name:            "none",
		Version:         "1.0.0",
		ContractVersion: interfaces.CodecContractVersion,
	}, got[0].Describe())
}

func TestIdentity(t *testing.T) {
	var c none.Codec // the zero value works
	for _, src := range [][]byte{nil, {}, {0}, []byte("lightning")} {
		enc, err := c.Encode([]byte("p"), src)
		require.NoError(t, err)
		require.Equal(t, append([]byte("p"), src...), enc)
		dec, err := c.Decode([]byte("q"), src)
		require.NoError(t, err)
		require.Equal(t, append([]byte("q"), src...), dec)
	}
}

func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 256 MiB")
	}
	big := make([]byte, interfaces.MaxDecodedLen+1)
	c := none.New()
	out, err := c.Encode([]byte("keep"), big)
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	require.Equal(t, []byte("keep"), out)
	out, err = c.Decode([]byte("keep"), big)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
	require.Equal(t, []byte("keep"), out)
}

func TestSteadyStateAllocs(t *testing.T) {
	c := none.New()
	src := conformance.HalfCompressible(4<<10, 1)
	buf := make([]byte, 0, len(src))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Encode(buf[:0], src) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.Decode(buf[:0], src) }))
}

func FuzzDecode(f *testing.F) {
	c := none.New()
	f.Add([]byte{})
	f.Add([]byte("lightning"))
	f.Add(conformance.HalfCompressible(1<<10, 2))
	f.Add([]byte{0xff, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := c.Decode(nil, data)
		if err != nil {
			if !errors.Is(err, interfaces.ErrCorrupt) {
				t.Fatalf("Decode error %v does not match ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("Decode is not the identity")
		}
		enc, err := c.Encode(nil, data)
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("Encode is not the identity: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	c := none.New()
	src := conformance.HalfCompressible(4<<10, 1)
	dst := make([]byte, 0, len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(dst[:0], src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := none.New()
	src := conformance.HalfCompressible(4<<10, 1)
	dst := make([]byte, 0, len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(dst[:0], src); err != nil {
			b.Fatal(err)
		}
	}
}
