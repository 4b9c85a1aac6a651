package bench

import (
	"bytes"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/require"
)

func TestKeyGen(t *testing.T) {
	_, err := NewKeyGen(MinKeySize - 1)
	require.Error(t, err)

	for _, tc := range []struct {
		size int
		i    uint64
		want string
	}{
		{16, 0, "0000000000000000"},
		{16, 1, "0000000000000001"},
		{16, 1234567, "0000000001234567"},
		{20, 42, "00000000000000000042"},
	} {
		g, err := NewKeyGen(tc.size)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(g.Key(tc.i)))
		require.Equal(t, "x"+tc.want, string(g.AppendKey([]byte("x"), tc.i)), "AppendKey appends")
	}
}

func TestKeyGenOrderFollowsIndex(t *testing.T) {
	g, err := NewKeyGen(16)
	require.NoError(t, err)
	// fillseq and YCSB inserts rely on index order being key order.
	f := func(a, b uint32) bool {
		ka, kb := g.Key(uint64(a)), g.Key(uint64(b))
		return bytes.Compare(ka, kb) == cmpUint(uint64(a), uint64(b)) && len(ka) == 16
	}
	require.NoError(t, quick.Check(f, nil))
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPermutationIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 64, 1000, 4097, 65536} {
		p := NewPermutation(n, 7)
		require.Equal(t, n, p.Len())
		seen := make([]bool, n)
		for i := uint64(0); i < n; i++ {
			v := p.At(i)
			if v >= n || seen[v] {
				t.Fatalf("n=%d i=%d: %d out of range or produced twice", n, i, v)
			}
			seen[v] = true
		}
	}
}

func TestPermutationDeterministicAndSeeded(t *testing.T) {
	const n = 10000
	a, b, c := NewPermutation(n, 1), NewPermutation(n, 1), NewPermutation(n, 2)
	same, fixed := 0, 0
	for i := uint64(0); i < n; i++ {
		if a.At(i) != b.At(i) {
			t.Fatalf("same seed, different order at %d", i)
		}
		if a.At(i) == c.At(i) {
			same++
		}
		if a.At(i) == i {
			fixed++
		}
	}
	// A random permutation agrees with another, or fixes a point, about
	// once on average; a handful allows for chance.
	require.Less(t, same, 10, "different seeds must give different orders")
	require.Less(t, fixed, 10, "the order must actually be shuffled")
}

func TestPermutationLooksRandom(t *testing.T) {
	// The random fills must not be nearly sorted: count ascents, which a
	// random order has about half the time.
	const n = 100000
	p := NewPermutation(n, 1)
	ascents := 0
	for i := uint64(1); i < n; i++ {
		if p.At(i) > p.At(i-1) {
			ascents++
		}
	}
	require.InDelta(t, 0.5, float64(ascents)/n, 0.01)
}

func TestNewRandDeterministic(t *testing.T) {
	a, b, c := NewRand(1, 5), NewRand(1, 5), NewRand(1, 6)
	differs := false
	for range 100 {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		require.Equal(t, x, y)
		differs = differs || x != z
	}
	require.True(t, differs, "streams must differ")
}
