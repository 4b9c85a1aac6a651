package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testConfig is a smaller run than the command's default, for go test.
var testConfig = config{entries: 400, reads: 120_000, seed: 1, shards: 4}

// shiftingGap is how far, in hit ratio, ARC may trail LRU on the traces
// whose working set moves every 10 or 5 cache sizes of reads.
const shiftingGap = 0.0075

// TestHitRatios checks what the ARC cache is for, on every trace and both
// charge modes:
//
//   - it is at least as good as LRU of the same byte capacity, exactly
//     (no tolerance), on the Zipf traces, the loop, the scan-polluted
//     Zipf and the slowly shifting working set;
//   - it is clearly better (5 points or more) where LRU is known to fail:
//     one-time scans mixed into hot traffic, and a loop larger than the
//     cache;
//   - on a working set that moves abruptly every 10 or every 5 cache sizes
//     of reads, it trails LRU by at most shiftingGap (it trails by 0.6 to
//     0.7 and by 0.35 points here). That gap is structural, not noise: the
//     traces are drawn from a fixed seed and the simulation is
//     deterministic, so the bound is a regression guard. See "Known
//     weakness" in plugins/arc's doc.go for why tuning p or its
//     adaptation step does not close it.
//
// It also checks the baseline: the byte LRU with unit charges is exactly
// hashicorp/golang-lru's LRU; and, with unit charges, that ARC is at least
// as good as golang-lru/arc/v2's ARC, to within a tenth of a point (the
// two differ in how they trim their ghost lists, which shows on the loop:
// golang-lru's ARC, like LRU, almost never hits there).
func TestHitRatios(t *testing.T) {
	results := simulate(testConfig, "")
	require.Len(t, results, 2*len(traces))
	for _, r := range results {
		arc, lru := r.ratio("ARC"), r.ratio("LRU")
		t.Logf("%-14s %-14s LRU %6.2f%%  ARC %6.2f%%  %+6.2f", r.trace, r.mode, 100*lru, 100*arc, 100*(arc-lru))
		switch r.trace {
		case "shifting", "shifting-fast":
			require.GreaterOrEqual(t, arc, lru-shiftingGap, "%s, %s", r.trace, r.mode)
		case "scan+zipf", "loop-1.1x":
			require.GreaterOrEqual(t, arc, lru+0.05, "%s, %s: ARC must be clearly better than LRU", r.trace, r.mode)
		default:
			require.GreaterOrEqual(t, arc, lru, "%s, %s", r.trace, r.mode)
		}
		if r.mode == "unit" {
			require.InDelta(t, r.ratio("golang-lru LRU"), lru, 1e-9, "%s: the baseline LRU is not an LRU", r.trace)
			hashi := r.ratio("golang-lru ARC")
			t.Logf("%-14s %-14s golang-lru ARC %6.2f%%  ARC %+6.2f", r.trace, r.mode, 100*hashi, 100*(arc-hashi))
			require.GreaterOrEqual(t, arc, hashi-0.001, "%s: ARC trails golang-lru's ARC", r.trace)
		}
	}
}

func TestTable(t *testing.T) {
	cfg := config{entries: 50, reads: 2000, seed: 3, shards: 2}
	var buf bytes.Buffer
	printTable(&buf, cfg, simulate(cfg, "zipf"))
	out := buf.String()
	for _, want := range []string{"zipf-0.9", "zipf-1.1", "golang-lru 2Q", "golang-lru ARC", "ARC/2 shards", "ARC-LRU"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "loop")
	require.Equal(t, 4, strings.Count(out, "zipf-"), "two traces in two modes")
}

func TestTracesAreDeterministic(t *testing.T) {
	for _, tr := range traces {
		a := tr.gen(rand.New(rand.NewPCG(7, 7)), 100, 5000)
		b := tr.gen(rand.New(rand.NewPCG(7, 7)), 100, 5000)
		require.Equal(t, a, b, tr.name)
		require.Len(t, a, 5000, tr.name)
	}
	for k := range uint64(1000) {
		s := blockSize(k)
		require.True(t, s >= 4<<10 && s <= 64<<10, "size %d", s)
	}
}

// BenchmarkAccess measures one read-through (Get, and Set on a miss) on the
// Zipf 0.9 trace, single goroutine, unit charges, for each cache.
func BenchmarkAccess(b *testing.B) {
	const entries = 2000
	keys := traces[0].gen(rand.New(rand.NewPCG(1, 1)), entries, 1<<16)
	for _, col := range modes(config{shards: 8})[1].columns {
		b.Run(col.name, func(b *testing.B) {
			p := col.make(entries, entries)
			defer p.close()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.access(keys[i&(len(keys)-1)], 1)
			}
		})
	}
}
