package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseWorkloads(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"all", WorkloadNames()},
		{"ycsb-c,fillseq", []string{WFillSeq, WYCSBC}},
		{"ycsb", []string{WYCSBA, WYCSBB, WYCSBC, WYCSBF, WYCSBD, WYCSBE}},
		{"read, sync", []string{WReadRandom1, WReadRandom2, WWriteSync}},
		{"fillseq,fillseq", []string{WFillSeq}},
	} {
		got, err := ParseWorkloads(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "nope", "fillseq,nope", ","} {
		_, err := ParseWorkloads(bad)
		require.Error(t, err, bad)
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, func() error { c := DefaultConfig(); return c.Validate() }())
	require.NoError(t, func() error { c := QuickConfig(); return c.Validate() }())
	for name, mut := range map[string]func(*Config){
		"n":        func(c *Config) { c.N = 1 },
		"key":      func(c *Config) { c.KeySize = 8 },
		"value":    func(c *Config) { c.ValueSize = 0 },
		"ratio":    func(c *Config) { c.CompressRatio = 0 },
		"cache":    func(c *Config) { c.CacheBytes = 0 },
		"batch":    func(c *Config) { c.BatchSize = 0 },
		"duration": func(c *Config) { c.Duration = 0 },
		"warmup":   func(c *Config) { c.Warmup = -1 },
		"writers":  func(c *Config) { c.SyncWriters = 0 },
		"theta":    func(c *Config) { c.Theta = 1 },
		"scan":     func(c *Config) { c.ScanLength = 0 },
		"none":     func(c *Config) { c.Workloads = nil },
		"unknown":  func(c *Config) { c.Workloads = []string{"x"} },
	} {
		c := DefaultConfig()
		mut(&c)
		require.Error(t, c.Validate(), name)
	}
}

func TestDefaultsMatchTheIssue(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, uint64(1_000_000), c.N)
	require.Equal(t, 16, c.KeySize)
	require.Equal(t, 100, c.ValueSize)
	require.Equal(t, 0.5, c.CompressRatio)
	require.Equal(t, 1000, c.BatchSize)
	require.Equal(t, 16, c.SyncWriters)
	require.Equal(t, 0.99, c.Theta)
	require.Equal(t, uint64(100_000), QuickConfig().N)
}
