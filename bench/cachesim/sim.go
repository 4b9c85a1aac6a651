package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"
)

// config sizes a simulation.
type config struct {
	entries int    // how many average blocks the cache holds
	reads   int    // requests per trace
	seed    uint64 // for the traces' random draws
	shards  int    // shard count of the sharded ARC column
}

// column is one cache in the table.
type column struct {
	name string
	make func(capacity int64, entries int) policy
}

// mode is how entries are charged, and which caches can run it.
type mode struct {
	name    string
	size    sizer
	mean    int64
	columns []column
}

func modes(cfg config) []mode {
	return []mode{
		{
			name: "bytes 4-64KiB", size: blockSize, mean: meanBlockSize,
			columns: []column{
				{"LRU", func(c int64, _ int) policy { return newByteLRU(c) }},
				{"ARC", func(c int64, _ int) policy { return newARC(c, 1) }},
				{fmt.Sprintf("ARC/%d shards", cfg.shards), func(c int64, _ int) policy { return newARC(c, cfg.shards) }},
			},
		},
		{
			name: "unit", size: unitSize, mean: 1,
			columns: []column{
				{"LRU", func(c int64, _ int) policy { return newByteLRU(c) }},
				{"ARC", func(c int64, _ int) policy { return newARC(c, 1) }},
				{"golang-lru LRU", func(_ int64, n int) policy { return newHashiLRU(int64(n)) }},
				{"golang-lru 2Q", func(_ int64, n int) policy { return newHashi2Q(int64(n)) }},
				{"golang-lru ARC", func(_ int64, n int) policy { return newHashiARC(int64(n)) }},
			},
		},
	}
}

// result is the hit ratios of one trace in one mode, by column.
type result struct {
	trace, mode string
	columns     []string
	hitRatio    []float64
}

func (r result) ratio(column string) float64 {
	for i, c := range r.columns {
		if c == column {
			return r.hitRatio[i]
		}
	}
	panic("no column " + column)
}

// simulate runs every trace in every mode.
func simulate(cfg config, only string) []result {
	var out []result
	for _, tr := range traces {
		if only != "" && !strings.Contains(tr.name, only) {
			continue
		}
		keys := tr.gen(rand.New(rand.NewPCG(cfg.seed, uint64(len(tr.name)))), cfg.entries, cfg.reads)
		for _, m := range modes(cfg) {
			res := result{trace: tr.name, mode: m.name}
			capacity := int64(cfg.entries) * m.mean
			for _, col := range m.columns {
				p := col.make(capacity, cfg.entries)
				hits := 0
				for _, k := range keys {
					if p.access(k, m.size(k)) {
						hits++
					}
				}
				p.close()
				res.columns = append(res.columns, col.name)
				res.hitRatio = append(res.hitRatio, float64(hits)/float64(len(keys)))
			}
			out = append(out, res)
		}
	}
	return out
}

// printTable writes one table per mode.
func printTable(w io.Writer, cfg config, results []result) {
	for _, m := range modes(cfg) {
		fmt.Fprintf(w, "\nhit ratio, %s charges, cache of %d average entries, %d reads per trace\n", m.name, cfg.entries, cfg.reads)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "trace\t")
		for _, c := range m.columns {
			fmt.Fprintf(tw, "%s\t", c.name)
		}
		fmt.Fprint(tw, "ARC-LRU\t\n")
		for _, r := range results {
			if r.mode != m.name {
				continue
			}
			fmt.Fprintf(tw, "%s\t", r.trace)
			for _, h := range r.hitRatio {
				fmt.Fprintf(tw, "%.2f%%\t", 100*h)
			}
			fmt.Fprintf(tw, "%+.2f\t\n", 100*(r.ratio("ARC")-r.ratio("LRU")))
		}
		tw.Flush()
	}
}
