// Package bench compares Lightning with Pebble, Badger, bbolt and goleveldb.
//
// It is its own module, so that no peer ever becomes a dependency of
// Lightning itself. The package holds the harness: deterministic key and
// value generators, the YCSB Zipfian generators, a latency histogram, the
// workloads (LevelDB db_bench and YCSB A–F), the result types, and the
// renderers (markdown, JSON, charts). The engine adapters live in
// bench/engines, the driver that runs each engine in its own child process
// in bench/cmd/compare.
//
// # Fairness rules the harness enforces
//
//   - Every engine sees the same keys, in the same seeded order, with the same
//     values: everything is derived from Config.Seed.
//   - Each engine runs in a fresh directory and, when driven by cmd/compare,
//     in its own process, one engine after another, so engines never share a
//     heap, a page cache warm-up from a previous engine's run is irrelevant
//     (each reads only its own files), and peak RSS is the engine's own.
//   - Every workload is timed the same way: throughput is operations divided
//     by wall time; latency is recorded per call into a log-linear histogram
//     (about 1% precision) from which p50 and p99 are read.
//
// # Concurrency
//
// Generators and histograms are not safe for concurrent use; each worker
// goroutine owns its own and the runner merges histograms afterwards. A Store
// must be safe for concurrent use by the worker goroutines of one workload.
package bench
