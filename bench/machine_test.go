package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFsTypeOf(t *testing.T) {
	mounts := `/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/vdb /data xfs rw 0 0
/dev/vdc /data/my\040disk btrfs rw 0 0
tmpfs /datax tmpfs rw 0 0
`
	for _, tc := range []struct{ path, want string }{
		{"/home/u", "ext4"},
		{"/tmp/bench", "tmpfs"},
		{"/data", "xfs"},
		{"/data/run-1", "xfs"},
		{"/data/my disk/x", "btrfs"},
		{"/datax/y", "tmpfs"},
		{"/", "ext4"},
	} {
		require.Equal(t, tc.want, fsTypeOf(strings.NewReader(mounts), tc.path), tc.path)
	}
	require.Equal(t, "unknown", fsTypeOf(strings.NewReader(""), "/x"))
	// A later mount over the same point shadows the earlier one.
	require.Equal(t, "overlay", fsTypeOf(strings.NewReader("a / ext4 rw 0 0\nb / overlay rw 0 0\n"), "/x"))
}

func TestProcParsers(t *testing.T) {
	dir := t.TempDir()
	cpu := filepath.Join(dir, "cpuinfo")
	require.NoError(t, os.WriteFile(cpu, []byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test Xeon @ 2.0GHz\n\nprocessor\t: 1\nmodel name\t: Test Xeon @ 2.0GHz\n"), 0o644))
	require.Equal(t, "Test Xeon @ 2.0GHz", cpuModel(cpu))
	require.Equal(t, "unknown", cpuModel(filepath.Join(dir, "missing")))
	mem := filepath.Join(dir, "meminfo")
	require.NoError(t, os.WriteFile(mem, []byte("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), 0o644))
	require.Equal(t, int64(24576000*1024), memTotal(mem))
	require.Equal(t, int64(0), memTotal(filepath.Join(dir, "missing")))
}

func TestDetectMachine(t *testing.T) {
	m := DetectMachine(t.TempDir())
	require.Equal(t, runtime.NumCPU(), m.Cores)
	require.Equal(t, runtime.Version(), m.GoVersion)
	require.NotEmpty(t, m.CPU)
	line := m.String()
	require.Contains(t, line, runtime.Version())
	require.Contains(t, line, "file system")
	if runtime.GOOS == "linux" {
		require.NotEqual(t, "unknown", m.FileSystem)
		require.NotEqual(t, "unknown", m.Kernel)
		require.Positive(t, m.MemoryBytes)
	}
}

func TestDiskUsageAndPeakRSS(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), make([]byte, 10000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "b"), make([]byte, 5000), 0o644))
	n, err := DiskUsage(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(15000))
	require.Less(t, n, int64(15000+1<<20))
	_, err = DiskUsage(filepath.Join(dir, "missing"))
	require.Error(t, err)
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		require.Greater(t, PeakRSS(), int64(1<<20), "a Go test process holds more than 1 MiB")
	}
}

func TestLoadAvg(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "loadavg")
	require.NoError(t, os.WriteFile(p, []byte("4.63 3.45 2.28 3/345 23718\n"), 0o644))
	require.Equal(t, "4.63 3.45 2.28", loadAvg(p))
	require.Equal(t, "unknown", loadAvg(filepath.Join(dir, "missing")))
	require.NoError(t, os.WriteFile(p, []byte("1.0\n"), 0o644))
	require.Equal(t, "unknown", loadAvg(p))
}
