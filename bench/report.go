package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// FormatRate renders an ops/s figure with three significant digits and a
// k/M suffix: 987, 12.3k, 1.23M.
func FormatRate(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case v >= 1e6:
		return sig3(v/1e6) + "M"
	case v >= 1e3:
		return sig3(v/1e3) + "k"
	default:
		return sig3(v)
	}
}

// sig3 prints v (0 < v < 1000) with three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// FormatLatency renders nanoseconds with three significant digits in the
// largest unit below the value: 850ns, 12.3µs, 4.56ms, 1.20s.
func FormatLatency(ns float64) string {
	switch {
	case ns <= 0 || math.IsNaN(ns):
		return "—"
	case ns >= 1e9:
		return sig3(ns/1e9) + "s"
	case ns >= 1e6:
		return sig3(ns/1e6) + "ms"
	case ns >= 1e3:
		return sig3(ns/1e3) + "µs"
	default:
		return sig3(ns) + "ns"
	}
}

// ConfigLine is the one-line summary of a Config printed under a table.
func (c Config) String() string {
	return fmt.Sprintf("%d records, %d-B keys, %d-B values (%.0f%% compressible), cache %s, "+
		"batches of %d, %v per timed workload after a %v warm-up, YCSB θ=%.2f with %d client(s), seed %d",
		c.N, c.KeySize, c.ValueSize, (1-c.CompressRatio)*100, FormatBytes(c.CacheBytes),
		c.BatchSize, c.Duration, c.Warmup, c.Theta, c.YCSBThreads, c.Seed)
}

// ranEngines returns the engines with measurements, in report order.
func (r *Report) ranEngines() []*EngineResult {
	var out []*EngineResult
	for i := range r.Engines {
		if r.Engines[i].Ran() {
			out = append(out, &r.Engines[i])
		}
	}
	return out
}

// workloadsRun returns the workloads at least one engine measured, in
// canonical order.
func (r *Report) workloadsRun() []WorkloadInfo {
	var out []WorkloadInfo
	for _, w := range workloads {
		for i := range r.Engines {
			if _, ok := r.Engines[i].Workload(w.Name); ok {
				out = append(out, w)
				break
			}
		}
	}
	return out
}

// WriteMarkdown renders the report as markdown: the run line, the
// throughput, latency and space tables, the engines' settings, what was not
// available, and the workload legend.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	engines := r.ranEngines()
	wls := r.workloadsRun()

	fmt.Fprintf(&b, "Machine: %s.  \n", r.Machine)
	fmt.Fprintf(&b, "Command: `%s` (started %s).  \n", r.Command, r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Config: %s.\n\n", r.Config)

	if len(engines) > 0 && len(wls) > 0 {
		b.WriteString("#### Throughput (ops/s, higher is better; best in bold)\n\n")
		header(&b, "workload", "unit", engines)
		for _, wl := range wls {
			best, have := math.Inf(-1), 0
			for _, e := range engines {
				if res, ok := e.Workload(wl.Name); ok {
					best = math.Max(best, res.OpsPerSec)
					have++
				}
			}
			fmt.Fprintf(&b, "| %s | %s |", wl.Name, wl.Unit)
			for _, e := range engines {
				res, ok := e.Workload(wl.Name)
				switch {
				case !ok:
					b.WriteString(" — |")
				case res.OpsPerSec == best && have > 1:
					fmt.Fprintf(&b, " **%s** |", FormatRate(res.OpsPerSec))
				default:
					fmt.Fprintf(&b, " %s |", FormatRate(res.OpsPerSec))
				}
			}
			b.WriteString("\n")
		}

		b.WriteString("\n#### Latency per call, p50 / p99 (lower is better)\n\n")
		header(&b, "workload", "threads", engines)
		for _, wl := range wls {
			if wl.Name == WScanFull {
				continue // one call: no distribution to show
			}
			threads := 0
			for _, e := range engines {
				if res, ok := e.Workload(wl.Name); ok {
					threads = res.Threads
				}
			}
			fmt.Fprintf(&b, "| %s | %d |", wl.Name, threads)
			for _, e := range engines {
				res, ok := e.Workload(wl.Name)
				if !ok || !res.HasLatency() {
					b.WriteString(" — |")
					continue
				}
				fmt.Fprintf(&b, " %s / %s |", FormatLatency(res.P50Ns), FormatLatency(res.P99Ns))
			}
			b.WriteString("\n")
		}

		b.WriteString("\n#### CPU time per op, user+system of the whole process (lower is better; best in bold)\n\n")
		header(&b, "workload", "unit", engines)
		for _, wl := range wls {
			best, have := math.Inf(1), 0
			for _, e := range engines {
				if res, ok := e.Workload(wl.Name); ok && res.CPUPerOpNs() > 0 {
					best = math.Min(best, res.CPUPerOpNs())
					have++
				}
			}
			fmt.Fprintf(&b, "| %s | %s |", wl.Name, wl.Unit)
			for _, e := range engines {
				res, ok := e.Workload(wl.Name)
				switch {
				case !ok || res.CPUPerOpNs() == 0:
					b.WriteString(" — |")
				case res.CPUPerOpNs() == best && have > 1:
					fmt.Fprintf(&b, " **%s** |", FormatLatency(res.CPUPerOpNs()))
				default:
					fmt.Fprintf(&b, " %s |", FormatLatency(res.CPUPerOpNs()))
				}
			}
			b.WriteString("\n")
		}

		b.WriteString("\n#### Space, memory and time (lower is better; best in bold)\n\n")
		header(&b, "measure", "", engines)
		type row struct {
			name string
			val  func(*EngineResult) float64
			fmt  func(float64) string
		}
		bytesFmt := func(v float64) string { return FormatBytes(int64(v)) }
		secFmt := func(v float64) string {
			if v < 10 {
				return fmt.Sprintf("%.2f s", v)
			}
			return fmt.Sprintf("%.0f s", v)
		}
		for _, rw := range []row{
			{"on disk after load", func(e *EngineResult) float64 { return float64(e.SizeAfterLoad) }, bytesFmt},
			{"on disk after compaction", func(e *EngineResult) float64 { return float64(e.SizeAfterCompact) }, bytesFmt},
			{"full compaction time", func(e *EngineResult) float64 {
				if e.SizeAfterCompact < 0 {
					return -1
				}
				return e.CompactSeconds
			}, secFmt},
			{"peak RSS", func(e *EngineResult) float64 { return float64(e.PeakRSS) }, bytesFmt},
			{"wall time of the run", func(e *EngineResult) float64 { return e.WallSeconds }, secFmt},
		} {
			best, have := math.Inf(1), 0
			for _, e := range engines {
				if v := rw.val(e); v > 0 {
					best = math.Min(best, v)
					have++
				}
			}
			fmt.Fprintf(&b, "| %s | |", rw.name)
			for _, e := range engines {
				v := rw.val(e)
				switch {
				case v < 0:
					b.WriteString(" n/a |")
				case v == 0:
					b.WriteString(" — |")
				case v == best && have > 1:
					fmt.Fprintf(&b, " **%s** |", rw.fmt(v))
				default:
					fmt.Fprintf(&b, " %s |", rw.fmt(v))
				}
			}
			b.WriteString("\n")
		}
		// The load average says how much else ran on the machine when each
		// engine started: on a shared box, the noise indicator.
		fmt.Fprintf(&b, "| load average at start | |")
		for _, e := range engines {
			la := e.LoadAvg
			if la == "" {
				la = "—"
			}
			fmt.Fprintf(&b, " %s |", la)
		}
		b.WriteString("\n")
	}

	b.WriteString("\n#### Engines and settings\n\n")
	for _, e := range r.Engines {
		switch {
		case e.Unavailable != "":
			continue
		case e.Error != "":
			fmt.Fprintf(&b, "- **%s** (FAILED: %s): %s\n", e.Engine, e.Error, e.Settings)
		default:
			fmt.Fprintf(&b, "- **%s**: %s\n", e.Engine, e.Settings)
		}
	}
	var missing []string
	for _, e := range r.Engines {
		if e.Unavailable != "" {
			missing = append(missing, fmt.Sprintf("- %s: %s", e.Engine, e.Unavailable))
		}
	}
	if len(missing) > 0 {
		b.WriteString("\nNot measured, because this build does not offer them:\n\n")
		b.WriteString(strings.Join(missing, "\n"))
		b.WriteString("\n")
	}

	if len(wls) > 0 {
		b.WriteString("\n#### Workloads\n\n")
		for _, wl := range wls {
			fmt.Fprintf(&b, "- `%s`: %s.\n", wl.Name, wl.Description)
		}
		b.WriteString("\nN, B and every duration are in the Config line above. Latency is per call: " +
			"a batched fill's call is one batch, a scan-100 call is one whole scan.\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("bench: write markdown: %w", err)
	}
	return nil
}

func header(b *strings.Builder, first, second string, engines []*EngineResult) {
	fmt.Fprintf(b, "| %s | %s |", first, second)
	for _, e := range engines {
		fmt.Fprintf(b, " %s |", e.Engine)
	}
	b.WriteString("\n|---|---|")
	for range engines {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
}
