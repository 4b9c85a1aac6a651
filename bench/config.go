package bench

import (
	"fmt"
	"strings"
	"time"
)

// Config is one comparison's parameters. Every engine of a run gets the same
// Config; it is recorded in the report so a run can be repeated exactly.
type Config struct {
	// N is the number of records loaded (db_bench --num).
	N uint64 `json:"n"`
	// KeySize and ValueSize are in bytes.
	KeySize   int `json:"key_size"`
	ValueSize int `json:"value_size"`
	// CompressRatio is the fraction of each value that is random; the rest
	// repeats it (db_bench --compression_ratio).
	CompressRatio float64 `json:"compress_ratio"`
	// Seed derives every key order, value and operation mix.
	Seed uint64 `json:"seed"`
	// CacheBytes is the cache budget given to every engine.
	CacheBytes int64 `json:"cache_bytes"`
	// BatchSize is the number of writes per batch in the batched fills.
	BatchSize int `json:"batch_size"`
	// Duration bounds each timed workload; Warmup is spent reading before the
	// first random-read workload, untimed.
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	// SyncWriters is the number of concurrent synced writers.
	SyncWriters int `json:"sync_writers"`
	// YCSBThreads is the number of YCSB client goroutines.
	YCSBThreads int `json:"ycsb_threads"`
	// Theta is the Zipfian constant for YCSB.
	Theta float64 `json:"theta"`
	// ScanLength is the length of the short scans (scan-100), and the maximum
	// length of YCSB E's scans.
	ScanLength int `json:"scan_length"`
	// Workloads lists the workloads to run, in canonical order.
	Workloads []string `json:"workloads"`
}

// DefaultConfig returns the full comparison's defaults: 1M records of 16-B
// keys and 100-B half-compressible values, a 256-MiB cache, 10-s timed
// workloads.
func DefaultConfig() Config {
	return Config{
		N:             1_000_000,
		KeySize:       16,
		ValueSize:     100,
		CompressRatio: 0.5,
		Seed:          1,
		CacheBytes:    256 << 20,
		BatchSize:     1000,
		Duration:      10 * time.Second,
		Warmup:        2 * time.Second,
		SyncWriters:   16,
		YCSBThreads:   1,
		Theta:         YCSBTheta,
		ScanLength:    100,
		Workloads:     WorkloadNames(),
	}
}

// QuickConfig returns the -quick defaults: 100k records and 1-s workloads,
// so a comparison of every available engine fits in about two minutes on
// two cores.
func QuickConfig() Config {
	c := DefaultConfig()
	c.N = 100_000
	c.CacheBytes = 64 << 20
	c.Duration = time.Second
	c.Warmup = 250 * time.Millisecond
	return c
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.N < 2:
		return fmt.Errorf("bench: n %d: need at least 2 records", c.N)
	case c.KeySize < MinKeySize:
		return fmt.Errorf("bench: key size %d below %d", c.KeySize, MinKeySize)
	case c.ValueSize <= 0:
		return fmt.Errorf("bench: value size %d must be positive", c.ValueSize)
	case c.CompressRatio <= 0 || c.CompressRatio > 1:
		return fmt.Errorf("bench: compress ratio %v out of (0, 1]", c.CompressRatio)
	case c.CacheBytes <= 0:
		return fmt.Errorf("bench: cache %d must be positive", c.CacheBytes)
	case c.BatchSize <= 0:
		return fmt.Errorf("bench: batch size %d must be positive", c.BatchSize)
	case c.Duration <= 0:
		return fmt.Errorf("bench: duration %v must be positive", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("bench: warmup %v must not be negative", c.Warmup)
	case c.SyncWriters <= 0 || c.YCSBThreads <= 0:
		return fmt.Errorf("bench: thread counts must be positive")
	case c.Theta <= 0 || c.Theta >= 1:
		return fmt.Errorf("bench: theta %v out of (0, 1)", c.Theta)
	case c.ScanLength <= 0:
		return fmt.Errorf("bench: scan length %d must be positive", c.ScanLength)
	case len(c.Workloads) == 0:
		return fmt.Errorf("bench: no workload selected")
	}
	for _, w := range c.Workloads {
		if _, ok := workloadByName(w); !ok {
			return fmt.Errorf("bench: unknown workload %q", w)
		}
	}
	return nil
}

// ParseWorkloads resolves a comma-separated list ("all" for every workload;
// "ycsb" for A–F; "fill", "read", "scan" for those groups) into canonical
// order.
func ParseWorkloads(list string) ([]string, error) {
	want := map[string]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		matched := false
		for _, w := range workloads {
			if item == "all" || item == w.Name || item == w.Group {
				want[w.Name] = true
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("bench: unknown workload %q (have %s)", item, strings.Join(WorkloadNames(), ", "))
		}
	}
	var out []string
	for _, w := range workloads {
		if want[w.Name] {
			out = append(out, w.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no workload selected by %q", list)
	}
	return out, nil
}
