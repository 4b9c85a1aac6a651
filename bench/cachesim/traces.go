package main

import (
	"math"
	"math/rand/v2"
	"sort"
)

// request is one read of a block: its key and its size (the charge).
type request struct {
	key  uint64
	size int64
}

// traceSpec makes a trace. Sizes come from the sizer, so the same key
// always weighs the same.
type traceSpec struct {
	name string
	// gen returns the keys of n requests for a cache holding entries
	// blocks of the average size.
	gen func(r *rand.Rand, entries, n int) []uint64
}

// sizer gives each key its charge.
type sizer func(key uint64) int64

// unitSize charges every entry 1, for comparison with caches that count
// entries.
func unitSize(uint64) int64 { return 1 }

// blockSize charges each key 4 to 64 KiB, fixed per key, mean 34 KiB.
func blockSize(key uint64) int64 {
	h := key*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return (4 + int64(h%61)) << 10
}

// meanBlockSize is the mean of blockSize over keys.
const meanBlockSize = 34 << 10

// zipf draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s, for any
// s > 0 (math/rand's Zipf needs s > 1).
type zipf struct {
	cdf []float64
}

func newZipf(n int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, n)}
	var sum float64
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipf) draw(r *rand.Rand) int {
	u := r.Float64()
	return min(sort.SearchFloat64s(z.cdf, u), len(z.cdf)-1)
}

// scatter maps a rank to a key, so that hot keys are not neighbours.
func scatter(rank int, space uint64) uint64 {
	return space<<40 | uint64(rank)*0x9e3779b1%(1<<40)
}

// The traces. Each is sized from the number of average entries the cache
// holds.
var traces = []traceSpec{
	{
		// Zipf, s = 0.9, over 20 cache sizes of keys: a long tail.
		name: "zipf-0.9",
		gen: func(r *rand.Rand, entries, n int) []uint64 {
			z := newZipf(20*entries, 0.9)
			out := make([]uint64, n)
			for i := range out {
				out[i] = scatter(z.draw(r), 1)
			}
			return out
		},
	},
	{
		// Zipf, s = 1.1: a sharper head.
		name: "zipf-1.1",
		gen: func(r *rand.Rand, entries, n int) []uint64 {
			z := newZipf(20*entries, 1.1)
			out := make([]uint64, n)
			for i := range out {
				out[i] = scatter(z.draw(r), 2)
			}
			return out
		},
	},
	{
		// A loop over 10% more blocks than fit: a table scanned again and
		// again. LRU evicts each block just before it is needed.
		name: "loop-1.1x",
		gen: func(r *rand.Rand, entries, n int) []uint64 {
			loop := entries + entries/10
			out := make([]uint64, n)
			for i := range out {
				out[i] = scatter(i%loop, 3)
			}
			return out
		},
	},
	{
		// Zipf (s = 0.9) traffic over 5 cache sizes of keys, with one-time
		// sequential scans of fresh blocks mixed in: after every 4 cache
		// sizes of hot reads, a scan of 2 cache sizes. A third of the
		// reads are scan reads that never repeat.
		name: "scan+zipf",
		gen: func(r *rand.Rand, entries, n int) []uint64 {
			z := newZipf(5*entries, 0.9)
			out := make([]uint64, 0, n)
			next := 0
			for len(out) < n {
				for i := 0; i < 4*entries && len(out) < n; i++ {
					out = append(out, scatter(z.draw(r), 4))
				}
				for i := 0; i < 2*entries && len(out) < n; i++ {
					out = append(out, scatter(next, 5))
					next++
				}
			}
			return out
		},
	},
	{
		// A working set of 0.75 cache sizes, read with Zipf (s = 0.9),
		// that moves to a new set of keys every 10 cache sizes of reads
		// while a tenth of the reads go uniformly to a large cold set.
		name: "shifting",
		gen:  shifting(10),
	},
	{
		// The same working set, moving twice as often: every 5 cache
		// sizes of reads.
		name: "shifting-fast",
		gen:  shifting(5),
	},
	{
		// The same working set, moving every 40 cache sizes of reads.
		name: "shifting-slow",
		gen:  shifting(40),
	},
}

// shifting returns the generator of a working set that moves every period
// cache sizes of reads.
func shifting(period int) func(r *rand.Rand, entries, n int) []uint64 {
	return func(r *rand.Rand, entries, n int) []uint64 {
		ws := entries * 3 / 4
		z := newZipf(ws, 0.9)
		out := make([]uint64, n)
		for i := range out {
			if r.IntN(10) == 0 {
				out[i] = scatter(r.IntN(50*entries), 6)
				continue
			}
			phase := i / (period * entries)
			out[i] = scatter(phase*ws+z.draw(r), 7)
		}
		return out
	}
}
