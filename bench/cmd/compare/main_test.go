package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightning/bench"
	"github.com/stretchr/testify/require"
)

// TestMain lets this test binary stand in for the compare binary: the parent
// re-executes os.Executable() with -child, which lands here.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString("compare child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "256MiB": 256 << 20, "64M": 64 << 20, "1g": 1 << 30, "8 KB": 8 << 10, "10B": 10,
	} {
		got, err := parseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5G", "12X"} {
		_, err := parseBytes(bad)
		require.Error(t, err, bad)
	}
}

func TestParseFlagsQuickKeepsExplicitFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-quick", "-n", "5000", "-workloads", "ycsb-c,fillseq"}, &stderr)
	require.NoError(t, err)
	q := bench.QuickConfig()
	require.Equal(t, uint64(5000), o.cfg.N, "an explicit flag beats -quick")
	require.Equal(t, q.Duration, o.cfg.Duration)
	require.Equal(t, q.CacheBytes, o.cfg.CacheBytes)
	require.Equal(t, 5*time.Minute, o.timeout)
	require.Equal(t, []string{bench.WFillSeq, bench.WYCSBC}, o.cfg.Workloads)

	o, err = parseFlags(nil, &stderr)
	require.NoError(t, err)
	require.Equal(t, bench.DefaultConfig(), o.cfg)
	require.Equal(t, "default", o.engines)
	require.Equal(t, 60*time.Minute, o.timeout)

	for _, bad := range [][]string{{"-workloads", "nope"}, {"-cache", "x"}, {"extra"}} {
		_, err := parseFlags(bad, &stderr)
		require.Error(t, err, bad)
	}
}

func TestList(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-list"}, &out, &bytes.Buffer{}))
	for _, want := range []string{"* pebble", "* badger", "* bbolt", "* goleveldb", "lightning-", "ycsb-e", "writesync-16"} {
		require.Contains(t, out.String(), want)
	}
}

// TestEndToEnd runs the parent and one child per engine, exactly as make
// bench-compare does, at a tiny size, then re-renders from the JSON.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	out := t.TempDir()
	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-n", "2000", "-duration", "20ms", "-warmup", "5ms", "-batch", "100",
		"-sync-writers", "2", "-cache", "8MiB", "-engines", "bbolt,goleveldb", "-out", out, "-dir", data}
	require.NoError(t, run(args, &stdout, &stderr), stderr.String())

	md := stdout.String()
	require.Contains(t, md, "| workload | unit | bbolt | goleveldb |")
	require.Contains(t, md, "| ycsb-e | ops |")
	require.Contains(t, md, "peak RSS")
	for _, f := range []string{"results.md", "results.json", "relative.png", "throughput.svg", "latency.png"} {
		st, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
	jf, err := os.Open(filepath.Join(out, "results.json"))
	require.NoError(t, err)
	rep, err := bench.ReadReport(jf)
	jf.Close()
	require.NoError(t, err)
	require.Len(t, rep.Engines, 2)
	for _, e := range rep.Engines {
		require.Empty(t, e.Error, e.Engine)
		require.Len(t, e.Workloads, len(bench.WorkloadNames()), e.Engine)
		require.Positive(t, e.PeakRSS, e.Engine)
	}
	require.True(t, strings.HasPrefix(rep.Command, "cd bench && go run ./cmd/compare -n 2000"))
	// The data went under -dir and was cleaned up.
	entries, err := os.ReadDir(data)
	require.NoError(t, err)
	require.Empty(t, entries)

	// Re-render from the JSON alone.
	require.NoError(t, os.Remove(filepath.Join(out, "results.md")))
	stdout.Reset()
	require.NoError(t, run([]string{"-render", filepath.Join(out, "results.json")}, &stdout, &stderr))
	require.Equal(t, md, stdout.String(), "rendering is a pure function of the JSON")
}
