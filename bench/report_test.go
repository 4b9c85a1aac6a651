package bench

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormatRate(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "—"}, {-1, "—"}, {7, "7.00"}, {987, "987"}, {999.4, "999"}, {1000, "1.00k"},
		{12345, "12.3k"}, {123456, "123k"}, {1234567, "1.23M"}, {81823686, "81.8M"},
	} {
		require.Equal(t, tc.want, FormatRate(tc.in), "%v", tc.in)
	}
}

func TestFormatLatency(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "—"}, {850, "850ns"}, {1000, "1.00µs"}, {12345, "12.3µs"}, {4.56e6, "4.56ms"}, {1.2e9, "1.20s"},
	} {
		require.Equal(t, tc.want, FormatLatency(tc.in), "%v", tc.in)
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"}, {256 << 20, "256 MiB"},
		{68 << 20, "68 MiB"}, {1059061760, "1010 MiB"}, {71408435, "68.1 MiB"}, {3 << 40, "3 TiB"}} {
		require.Equal(t, tc.want, FormatBytes(tc.in))
	}
}

func TestTrimZeros(t *testing.T) {
	for in, want := range map[string]string{
		"1.00µs": "1µs", "2.50M": "2.5M", "100": "100", "10.0ms": "10ms", "1.05k": "1.05k", "—": "—",
	} {
		require.Equal(t, want, trimZeros(in))
	}
}

// sampleReport is a small report with two engines that ran, one that
// failed part-way, and one unavailable.
func sampleReport() *Report {
	return &Report{
		Command: "cd bench && go run ./cmd/compare -quick",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine: Machine{CPU: "Test CPU", Cores: 2, MemoryBytes: 8 << 30, Kernel: "6.1", OS: "linux/amd64",
			GoVersion: "go1.26", FileSystem: "ext4", LoadAvg: "0.5 0.4 0.3"},
		Config: QuickConfig(),
		Engines: []EngineResult{
			{Engine: "lightning-memory", Family: "lightning", Settings: "memory engine",
				Workloads: []WorkloadResult{
					{Name: WFillSeq, Ops: 1000, Seconds: 0.01, OpsPerSec: 100000, Threads: 1, P50Ns: 1500, P99Ns: 9000, CPUSeconds: 0.004},
					{Name: WScanFull, Ops: 1000, Seconds: 0.001, OpsPerSec: 1e6, Threads: 1},
					{Name: WReadRandom1, Ops: 5000, Seconds: 1, OpsPerSec: 5000, Threads: 1, P50Ns: 800, P99Ns: 2000},
				},
				SizeAfterLoad: 2 << 20, SizeAfterCompact: 1 << 20, CompactSeconds: 0.5, PeakRSS: 50 << 20, WallSeconds: 3, LoadAvg: "1.00 0.50 0.20"},
			{Engine: "bbolt", Family: "bbolt", Settings: "bbolt defaults",
				Workloads: []WorkloadResult{
					{Name: WFillSeq, Ops: 1000, Seconds: 0.02, OpsPerSec: 50000, Threads: 1, P50Ns: 3000, P99Ns: 12000, CPUSeconds: 0.002},
					{Name: WScanFull, Ops: 1000, Seconds: 0.0005, OpsPerSec: 2e6, Threads: 1},
				},
				SizeAfterLoad: 4 << 20, SizeAfterCompact: -1, PeakRSS: 40 << 20, WallSeconds: 2,
				Error: "bench: bbolt: readrandom-1: boom"},
			{Engine: "lightning-lsm", Family: "lightning", Unavailable: "not available in this build: no lsm"},
		},
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteMarkdown(&b))
	md := b.String()
	for _, want := range []string{
		"Machine: Test CPU, 2 cores, 8 GiB RAM, linux/amd64 kernel 6.1, go1.26, ext4 file system, load average 0.5 0.4 0.3 at start.",
		"| load average at start | | 1.00 0.50 0.20 | — |",
		"Command: `cd bench && go run ./cmd/compare -quick` (started 2026-01-02T03:04:05Z).",
		"Config: 100000 records, 16-B keys, 100-B values (50% compressible), cache 64 MiB",
		"| workload | unit | lightning-memory | bbolt |",
		"| fillseq | keys | **100k** | 50.0k |",
		"| scan-full | keys | 1.00M | **2.00M** |",
		"| readrandom-1 | reads | 5.00k | — |",
		"| fillseq | 1 | 1.50µs / 9.00µs | 3.00µs / 12.0µs |",
		"| on disk after load | | **2 MiB** | 4 MiB |",
		"| fillseq | keys | 4.00µs | **2.00µs** |",
		"| full compaction time | | 0.50 s | n/a |",
		"| on disk after compaction | | 1 MiB | n/a |",
		"| full compaction time | | 0.50 s | n/a |",
		"| peak RSS | | 50 MiB | **40 MiB** |",
		"- **bbolt** (FAILED: bench: bbolt: readrandom-1: boom): bbolt defaults",
		"- lightning-lsm: not available in this build: no lsm",
		"- `fillseq`: N keys in ascending order",
	} {
		require.Contains(t, md, want)
	}
	// The unavailable engine gets no column, and scan-full no latency row.
	require.NotContains(t, md, "| lightning-lsm |")
	require.NotContains(t, md, "| scan-full | 1 |")
	// Every table row has as many cells as its header.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") {
			require.Equal(t, 5, strings.Count(line, "|"), line)
		}
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	require.NoError(t, r.WriteJSON(&b))
	require.Contains(t, b.String(), `"ops_per_sec": 100000`)
	require.Contains(t, b.String(), `"unavailable": "not available in this build: no lsm"`)
	got, err := ReadReport(&b)
	require.NoError(t, err)
	require.Equal(t, r.Engines, got.Engines)
	require.Equal(t, r.Config, got.Config)
	require.Equal(t, r.Machine, got.Machine)
	require.True(t, r.Started.Equal(got.Started))
	_, err = ReadReport(strings.NewReader("{"))
	require.Error(t, err)
}

func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	paths, err := sampleReport().WriteCharts(dir)
	require.NoError(t, err)
	require.Len(t, paths, 6)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		switch filepath.Ext(p) {
		case ".png":
			img, err := png.Decode(bytes.NewReader(b))
			require.NoError(t, err, p)
			require.Greater(t, img.Bounds().Dx(), 1000, p)
		case ".svg":
			require.Contains(t, string(b), "<svg", p)
			require.Contains(t, string(b), "lightning-memory", p)
		}
	}
	_, err = (&Report{}).WriteCharts(dir)
	require.Error(t, err, "nothing to chart")
}
