package bench

import (
	"bytes"
	"compress/flate"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValueGenRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		size  int
		ratio float64
	}{{0, 0.5}, {-1, 0.5}, {valuePoolSize, 0.5}, {100, 0}, {100, 1.5}} {
		_, err := NewValueGen(tc.size, tc.ratio, 1)
		require.Error(t, err, "size %d ratio %v", tc.size, tc.ratio)
	}
}

func TestValueGenDeterministic(t *testing.T) {
	a, err := NewValueGen(100, 0.5, 1)
	require.NoError(t, err)
	b, err := NewValueGen(100, 0.5, 1)
	require.NoError(t, err)
	c, err := NewValueGen(100, 0.5, 2)
	require.NoError(t, err)
	require.Equal(t, 100, a.Size())
	for i := uint64(0); i < 50000; i += 997 {
		require.Len(t, a.Value(i), 100)
		require.Equal(t, a.Value(i), b.Value(i))
	}
	require.NotEqual(t, a.Value(0), c.Value(0))
	require.NotEqual(t, a.Value(0), a.Value(1), "consecutive values differ")
}

// compressedRatio deflates many values back to back, as a block compressor
// sees them.
func compressedRatio(t *testing.T, g *ValueGen, count int) float64 {
	var raw, out bytes.Buffer
	for i := range count {
		raw.Write(g.Value(uint64(i)))
	}
	w, err := flate.NewWriter(&out, flate.BestSpeed)
	require.NoError(t, err)
	_, err = w.Write(raw.Bytes())
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return float64(out.Len()) / float64(raw.Len())
}

func TestValueGenCompressibility(t *testing.T) {
	for _, tc := range []struct {
		ratio    float64
		min, max float64
	}{
		// Random printable bytes carry ~6.6 of 8 bits, so even "incompressible"
		// values shrink a little; half-compressible ones land near half that.
		{0.5, 0.40, 0.60},
		{1.0, 0.80, 0.95},
		{0.25, 0.20, 0.35},
	} {
		g, err := NewValueGen(100, tc.ratio, 1)
		require.NoError(t, err)
		got := compressedRatio(t, g, 4000)
		require.GreaterOrEqual(t, got, tc.min, "ratio %v", tc.ratio)
		require.LessOrEqual(t, got, tc.max, "ratio %v", tc.ratio)
	}
}
