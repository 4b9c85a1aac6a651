package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// WorkloadResult is one workload's outcome on one engine.
type WorkloadResult struct {
	Name string `json:"name"`
	// Ops is what the throughput counts: keys for fills and full scans,
	// calls for the rest (a scan-100 op is one 100-key scan).
	Ops int64 `json:"ops"`
	// Seconds is the wall time of the timed part.
	Seconds float64 `json:"seconds"`
	// OpsPerSec is Ops / Seconds.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Threads is the number of worker goroutines.
	Threads int `json:"threads"`
	// Latency percentiles per call in nanoseconds (a batched fill's call is a
	// whole batch); absent for workloads made of one long call (scan-full).
	P50Ns  float64 `json:"p50_ns,omitempty"`
	P99Ns  float64 `json:"p99_ns,omitempty"`
	MeanNs float64 `json:"mean_ns,omitempty"`
	MaxNs  float64 `json:"max_ns,omitempty"`
	// CPUSeconds is the process's user+system CPU time during the workload,
	// background goroutines (flushes, compactions) included. CPU per op is
	// steadier than throughput when other work shares the machine.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// NotFound counts reads of absent keys (YCSB D/E may read a key whose
	// insert another worker has not finished; zero elsewhere, or the run
	// fails).
	NotFound int64 `json:"not_found,omitempty"`
}

// CPUPerOpNs returns CPU nanoseconds per op, or 0 when not measured.
func (w WorkloadResult) CPUPerOpNs() float64 {
	if w.Ops == 0 || w.CPUSeconds <= 0 {
		return 0
	}
	return w.CPUSeconds * 1e9 / float64(w.Ops)
}

// HasLatency reports whether latency percentiles were recorded.
func (w WorkloadResult) HasLatency() bool { return w.P50Ns > 0 || w.P99Ns > 0 }

// EngineResult is everything measured on one engine.
type EngineResult struct {
	Engine   string `json:"engine"`
	Family   string `json:"family"`
	Settings string `json:"settings"`
	// Unavailable is set (and nothing else measured) when this build cannot
	// run the engine.
	Unavailable string `json:"unavailable,omitempty"`
	// Error is set when the engine failed mid-run; what finished is kept.
	Error     string           `json:"error,omitempty"`
	Workloads []WorkloadResult `json:"workloads,omitempty"`
	// On-disk bytes (allocated blocks, as du reports) after the random load
	// and a close, and after a full manual compaction; SizeAfterCompact is
	// -1 when the engine has no manual compaction.
	SizeAfterLoad    int64   `json:"size_after_load,omitempty"`
	SizeAfterCompact int64   `json:"size_after_compact,omitempty"`
	CompactSeconds   float64 `json:"compact_seconds,omitempty"`
	// PeakRSS is the child process's maximum resident set size in bytes.
	PeakRSS int64 `json:"peak_rss,omitempty"`
	// WallSeconds is the child process's whole run.
	WallSeconds float64 `json:"wall_seconds,omitempty"`
	// LoadAvg is the machine's load average when the engine's run started.
	LoadAvg string `json:"load_avg,omitempty"`
}

// Workload returns the named workload's result.
func (e *EngineResult) Workload(name string) (WorkloadResult, bool) {
	for _, w := range e.Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return WorkloadResult{}, false
}

// Ran reports whether the engine produced any measurement.
func (e *EngineResult) Ran() bool { return e.Unavailable == "" && len(e.Workloads) > 0 }

// Report is one comparison run: what ran, where, and what came out.
type Report struct {
	// Command is the command line that produced the report.
	Command string         `json:"command"`
	Started time.Time      `json:"started"`
	Machine Machine        `json:"machine"`
	Config  Config         `json:"config"`
	Engines []EngineResult `json:"engines"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	return nil
}

// ReadReport decodes a report written by WriteJSON.
func ReadReport(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("bench: decode report: %w", err)
	}
	return &r, nil
}
