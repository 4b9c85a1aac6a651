package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistBucketBounds(t *testing.T) {
	// Every value falls inside its bucket, buckets are ordered, and a
	// bucket is at most 1/64 of its lower bound wide.
	f := func(v uint64) bool {
		v >>= uint(v % 64) // spread over every magnitude
		b := histBucket(v)
		lo, w := histBounds(b)
		okWidth := lo < histSub || float64(w)/float64(lo) <= 1.0/64
		return b >= 0 && b < histBuckets && lo <= v && v-lo < w && okWidth
	}
	require.NoError(t, quick.Check(f, &quick.Config{MaxCount: 20000}))
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		b := histBucket(v)
		require.GreaterOrEqual(t, b, prev, "v=%d", v)
		prev = b
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	require.Equal(t, time.Duration(0), h.Quantile(0.5), "empty")
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, 100000)
	for i := range vals {
		// Log-uniform over 100ns..10ms, the span latencies cover.
		vals[i] = 100 * float64(uint64(1)<<uint(r.IntN(17))) * (1 + r.Float64())
		h.Record(time.Duration(vals[i]))
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		require.InEpsilon(t, want, float64(h.Quantile(q)), 0.02, "q=%v", q)
	}
	require.Equal(t, uint64(len(vals)), h.Count())
	require.Equal(t, time.Duration(vals[len(vals)-1]), h.Max())
	require.Equal(t, time.Duration(vals[0]), h.Quantile(0), "clamped to the minimum")
	require.Equal(t, time.Duration(vals[len(vals)-1]), h.Quantile(1), "clamped to the maximum")
}

func TestHistogramSmallExact(t *testing.T) {
	var h Histogram
	for _, v := range []time.Duration{5, 1, 3, 2, 4} {
		h.Record(v)
	}
	h.Record(-7) // counts as zero
	require.Equal(t, time.Duration(2), h.Quantile(0.5))
	require.Equal(t, time.Duration(0), h.Quantile(0))
	require.Equal(t, time.Duration(5), h.Quantile(1))
	require.Equal(t, time.Duration(15/6), h.Mean())
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&Histogram{}) // merging an empty one changes nothing
	m.Merge(&a)
	m.Merge(&b)
	require.Equal(t, all.Count(), m.Count())
	require.Equal(t, all.Max(), m.Max())
	require.Equal(t, all.Mean(), m.Mean())
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		require.Equal(t, all.Quantile(q), m.Quantile(q))
	}
}
