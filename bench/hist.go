package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values below histSub are counted exactly; above, each
// power of two is split into histSub/2 linear sub-buckets, so a bucket's
// width is at most 1/64 of its lower bound (HdrHistogram with two
// significant binary digits of 6 bits).
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // 128
	histHalf    = histSub / 2      // 64
	// 128 exact buckets, then 64 per shift for shifts 1..57 (values < 2^64).
	histBuckets = histSub + (64-histSubBits+1)*histHalf
)

// Histogram records durations (nanoseconds) in log-linear buckets with about
// 1.6% relative precision, in constant memory, at the cost of a few
// instructions per Record. The zero value is ready to use.
//
// A Histogram is not safe for concurrent use: each worker records into its
// own, and Merge combines them.
type Histogram struct {
	counts   [histBuckets]uint64
	total    uint64
	sum      float64
	min, max uint64
}

func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	// shift ≥ 1 so that the mantissa v>>shift lies in [64, 128).
	shift := bits.Len64(v) - histSubBits
	mant := v >> uint(shift)
	return histSub + (shift-1)*histHalf + int(mant-histHalf)
}

// histBounds returns the smallest value in bucket b and the bucket's width.
func histBounds(b int) (lo, width uint64) {
	if b < histSub {
		return uint64(b), 1
	}
	b -= histSub
	shift := uint(b/histHalf) + 1
	mant := uint64(b%histHalf) + histHalf
	return mant << shift, 1 << shift
}

// Record counts one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[histBucket(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Mean returns the mean of the recorded values, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the value at quantile q (0 <= q <= 1): the midpoint of
// the bucket holding the ceil(q*count)-th smallest value, clamped to the
// observed minimum and maximum, which are returned exactly for the first
// and last rank. It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	// The extremes are known exactly; report them rather than a midpoint.
	if rank <= 1 {
		return time.Duration(h.min)
	}
	if rank >= h.total {
		return time.Duration(h.max)
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := histBounds(b)
			v := lo + w/2
			v = min(max(v, h.min), h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
