package bench

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestZipfianRejectsBadInput(t *testing.T) {
	_, err := NewZipfian(0, 0.99, NewRand(1, 0))
	require.Error(t, err)
	for _, theta := range []float64{0, 1, -0.5, 1.5} {
		_, err := NewZipfian(10, theta, NewRand(1, 0))
		require.Error(t, err, "theta %v", theta)
	}
}

// TestZipfianMatchesTheory compares sampled rank frequencies with the
// Zipfian law P(k) = 1/((k+1)^θ · ζ(n, θ)). Gray's algorithm is exact for
// ranks 0 and 1 and a close approximation beyond, so the tolerance widens
// with rank.
func TestZipfianMatchesTheory(t *testing.T) {
	const n, samples = 1000, 400000
	z, err := NewZipfian(n, YCSBTheta, NewRand(42, 0))
	require.NoError(t, err)
	counts := make([]int, n)
	for range samples {
		r := z.Next()
		if r >= n {
			t.Fatalf("rank %d out of [0, %d)", r, n)
		}
		counts[r]++
	}
	zeta := zetaRange(0, n, YCSBTheta)
	for _, tc := range []struct {
		rank int
		tol  float64 // relative
	}{{0, 0.03}, {1, 0.05}, {2, 0.25}, {9, 0.25}, {99, 0.35}} {
		want := 1 / (math.Pow(float64(tc.rank+1), YCSBTheta) * zeta)
		got := float64(counts[tc.rank]) / samples
		require.InEpsilon(t, want, got, tc.tol, "rank %d", tc.rank)
	}
	// The head is heavy: with θ=0.99 over 1000 items, the top 10% of ranks
	// draw about two thirds of the samples.
	top := 0
	for _, c := range counts[:n/10] {
		top += c
	}
	require.InDelta(t, 0.68, float64(top)/samples, 0.05)
	// And the tail is reached.
	require.Positive(t, counts[n-1]+counts[n-2]+counts[n-3])
}

func TestZipfianDeterministic(t *testing.T) {
	a, err := NewZipfian(5000, YCSBTheta, NewRand(3, 1))
	require.NoError(t, err)
	b, err := NewZipfian(5000, YCSBTheta, NewRand(3, 1))
	require.NoError(t, err)
	for range 1000 {
		require.Equal(t, a.Next(), b.Next())
	}
}

func TestZipfianGrowsIncrementally(t *testing.T) {
	// Growing one item at a time must reach the same zeta as computing it
	// at the final size: YCSB D/E rely on it.
	g, err := NewZipfian(100, YCSBTheta, NewRand(1, 0))
	require.NoError(t, err)
	for n := uint64(101); n <= 2000; n++ {
		r := g.NextN(n)
		require.Less(t, r, n)
	}
	fresh, err := NewZipfian(2000, YCSBTheta, NewRand(1, 0))
	require.NoError(t, err)
	require.Equal(t, uint64(2000), g.N())
	require.InEpsilon(t, fresh.zetan, g.zetan, 1e-9)
	require.InEpsilon(t, fresh.eta, g.eta, 1e-9)
	// Shrinking is ignored.
	g.NextN(10)
	require.Equal(t, uint64(2000), g.N())
}

func TestScrambledZipfianSpreadsHotKeys(t *testing.T) {
	const n, samples = 100000, 200000
	s, err := NewScrambledZipfian(n, YCSBTheta, NewRand(9, 0))
	require.NoError(t, err)
	counts := map[uint64]int{}
	var low int
	for range samples {
		v := s.Next()
		if v >= n {
			t.Fatalf("item %d out of [0, %d)", v, n)
		}
		counts[v]++
		if v < n/10 {
			low++
		}
	}
	// Skewed: the hottest key takes about 1/ζ(n) of the draws...
	hottest := 0
	for _, c := range counts {
		hottest = max(hottest, c)
	}
	want := 1 / zetaRange(0, n, YCSBTheta)
	require.InEpsilon(t, want, float64(hottest)/samples, 0.1)
	// ...but the hot keys are spread out: the first tenth of the key space
	// gets about a tenth of the draws, unlike an unscrambled Zipfian.
	require.InDelta(t, 0.1, float64(low)/samples, 0.05)
}

func TestLatestFavoursNewest(t *testing.T) {
	l, err := NewLatest(1000, YCSBTheta, NewRand(5, 0))
	require.NoError(t, err)
	const samples = 100000
	newest := 0
	for range samples {
		v := l.Next(1000)
		if v >= 1000 {
			t.Fatalf("item %d out of [0, 1000)", v)
		}
		if v == 999 {
			newest++
		}
	}
	require.InEpsilon(t, 1/zetaRange(0, 1000, YCSBTheta), float64(newest)/samples, 0.05)
	// The count grows as inserts land; the newest item follows it.
	hits := 0
	for range 1000 {
		if l.Next(1500) == 1499 {
			hits++
		}
	}
	require.Positive(t, hits)
	require.Equal(t, uint64(0), l.Next(0))
}

func TestFNV64MatchesYCSB(t *testing.T) {
	// YCSB hashes the eight little-endian bytes of the rank with FNV-1a and
	// takes Java's Math.abs; check against the standard library's FNV-1a.
	for _, v := range []uint64{0, 1, 2, 255, 256, 1 << 40, math.MaxUint64} {
		h := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
		want := h.Sum64()
		if int64(want) < 0 {
			want = uint64(-int64(want))
		}
		require.Equal(t, want, fnv64(v), "v=%d", v)
		require.LessOrEqual(t, fnv64(v), uint64(math.MaxInt64)+1)
	}
}
