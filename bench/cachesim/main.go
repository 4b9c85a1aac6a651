// Command cachesim compares the hit ratio of Lightning's ARC cache
// (plugins/arc) with a plain LRU of the same byte capacity, and with
// hashicorp/golang-lru/v2's LRU and 2Q and golang-lru/arc/v2's ARC, on
// synthetic block-read traces:
// Zipf (s = 0.9 and 1.1), a loop 10% larger than the cache, Zipf traffic
// polluted by one-time scans, and a working set that moves every 10, 5 or
// 40 cache sizes of reads (shifting, shifting-fast, shifting-slow).
//
// Each trace runs twice: with block-sized charges (4 to 64 KiB per key,
// the way engines charge blocks), against an LRU bounded in bytes; and
// with every charge 1, against caches that count entries. A read that
// misses stores the block, as an engine does after reading it from disk.
//
//	go run ./cachesim -entries 2000 -reads 1000000
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.entries, "entries", 2000, "cache capacity, in average-sized entries")
	flag.IntVar(&cfg.reads, "reads", 1_000_000, "requests per trace")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the traces' random draws")
	flag.IntVar(&cfg.shards, "shards", 8, "shards of the sharded ARC column")
	only := flag.String("trace", "", "run only the traces whose name contains this")
	flag.Parse()
	if cfg.entries < 10 || cfg.reads < 1 || cfg.shards < 1 {
		fmt.Fprintln(os.Stderr, "cachesim: -entries must be at least 10, -reads and -shards at least 1")
		os.Exit(2)
	}
	printTable(os.Stdout, cfg, simulate(cfg, *only))
}
