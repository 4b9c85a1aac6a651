package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
)

var (
	buildOnce sync.Map // dir -> *buildResult
	binRoot   = func() string {
		d, err := os.MkdirTemp("", "lightning-cli-test-")
		if err != nil {
			panic(err)
		}
		return d
	}()
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// build compiles the main package in dir (relative to this package) once
// per test binary.
func build(t *testing.T, dir string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(dir, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		r.path = filepath.Join(binRoot, strings.NewReplacer("/", "_", ".", "_").Replace(dir))
		abs, err := filepath.Abs(r.path)
		if err != nil {
			r.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", abs, ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = &buildError{dir: dir, out: string(out), err: err}
		}
	})
	require.NoError(t, r.err)
	return r.path
}

type buildError struct {
	dir, out string
	err      error
}

func (e *buildError) Error() string {
	return "go build in " + e.dir + ": " + e.err.Error() + "\n" + e.out
}

func TestMain(m *testing.M) {
	code := m.Run()
	_ = os.RemoveAll(binRoot)
	os.Exit(code)
}

// cli runs the command line and returns its exit status and output.
func cli(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

var summary = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

func TestConformancePasses(t *testing.T) {
	bin := build(t, "../../host/internal/testplugin")
	code, out, _ := cli("conformance", "--plugin", bin, "--short", "--kind", "cache,cipher,codec")
	require.Equal(t, 0, code, out)
	m := summary.FindStringSubmatch(lastLine(out))
	require.NotNil(t, m, "last line %q", lastLine(out))
	require.NotEqual(t, "0", m[1])
	require.Equal(t, "0", m[2])
	require.NotContains(t, out, "--- FAIL")
}

func TestConformanceReportsFailures(t *testing.T) {
	bin := build(t, "../../host/internal/testplugin")
	t.Setenv("LIGHTNING_TESTPLUGIN_DROP_DELETES", "1")
	code, out, _ := cli("conformance", "--plugin", bin, "--run", "Storage/Tombstones|Visibility", "-v")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "=== RUN   Storage/Tombstones")
	require.Contains(t, out, "--- FAIL: Storage (")
	require.Contains(t, out, "    --- FAIL: Storage/Tombstones (")
	require.Contains(t, out, "    --- PASS: Storage/Visibility (")
	require.Contains(t, out, "want ErrNotFound")
	require.Equal(t, "1 passed, 1 failed", lastLine(out))
	// The parent's line comes before its subtests', as go test prints it.
	require.Less(t, strings.Index(out, "--- FAIL: Storage ("), strings.Index(out, "--- FAIL: Storage/Tombstones"))
}

func TestConformanceRefusesTamperedBinary(t *testing.T) {
	bin := build(t, "../../host/internal/testplugin")
	code, out, _ := cli("conformance", "--plugin", bin, "--sha256", strings.Repeat("ab", 32))
	require.Equal(t, 1, code)
	require.Contains(t, out, "--- FAIL: conformance")
	require.Contains(t, out, "checksum mismatch")
	require.Equal(t, "0 passed, 1 failed", lastLine(out))
}

func TestUsageErrors(t *testing.T) {
	code, _, errOut := cli("conformance")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `"plugin" not set`)
	code, _, errOut = cli("conformance", "--plugin", "x", "--run", "(")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--run")
	code, _, _ = cli("nosuch")
	require.Equal(t, 2, code)
}

func TestDescribe(t *testing.T) {
	bin := build(t, "../../host/internal/testplugin")
	code, out, errOut := cli("describe", "--plugin", bin)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "storage\tmemory\t1.0.0\tcontract v1\tstorage.durable,")
	require.Contains(t, out, "cipher\ttestplugin-gcm\t1.0.0\tcontract v1\t")
}

// TestThirdPartyExample builds examples/thirdparty-storage, a plugin in a
// module of its own, and runs `lightning conformance` against it.
func TestThirdPartyExample(t *testing.T) {
	bin := build(t, "../../examples/thirdparty-storage")
	code, out, _ := cli("conformance", "--plugin", bin, "--short")
	require.Equal(t, 0, code, out)
	m := summary.FindStringSubmatch(lastLine(out))
	require.NotNil(t, m, lastLine(out))
	require.Equal(t, "0", m[2])
}

func TestCompileRun(t *testing.T) {
	cases := []struct {
		pattern string
		levels  []string
	}{
		{"Storage", []string{"Storage"}},
		{"Storage/Crash", []string{"Storage", "Crash"}},
		{"Storage|Codec/RoundTrip", []string{"Storage|Codec", "RoundTrip"}},
		{"Codec/(Round/Trip)", []string{"Codec", "(Round/Trip)"}},
		{"a[/]b/c", []string{"a[/]b", "c"}},
		{`a\/b/c`, []string{`a\/b`, "c"}},
	}
	for _, c := range cases {
		res, err := compileRun(c.pattern)
		require.NoError(t, err, c.pattern)
		got := make([]string, len(res))
		for i, r := range res {
			got[i] = r.String()
		}
		require.Equal(t, c.levels, got, c.pattern)
	}
	_, err := compileRun("a/(")
	require.Error(t, err)
}

// TestRunner drives the runner with synthetic tests: pass, fail, skip,
// FailNow, panic, cleanups, nesting, and the --run filter.
func TestRunner(t *testing.T) {
	var out bytes.Buffer
	filter, err := compileRun("Suite/^[^x]")
	require.NoError(t, err)
	root := newRoot(&out, filter, false, true)
	var order []string
	root.run(func(rt *T) {
		rt.Run("Suite", func(st conformance.T) {
			st.Cleanup(func() { order = append(order, "suite cleanup") })
			r := st.(conformance.Runner)
			r.Run("pass", func(t conformance.T) {
				t.Cleanup(func() { order = append(order, "pass cleanup 1") })
				t.Cleanup(func() { order = append(order, "pass cleanup 2") })
				t.Logf("quiet")
			})
			r.Run("fail", func(t conformance.T) { t.Errorf("broken %d", 1); t.Logf("after") })
			r.Run("fatal", func(t conformance.T) { t.Fatalf("stop"); order = append(order, "unreachable") })
			r.Run("skip", func(t conformance.T) { t.Skipf("not claimed") })
			r.Run("panic", func(t conformance.T) { panic("boom") })
			r.Run("nested", func(t conformance.T) {
				t.(conformance.Runner).Run("deep", func(t conformance.T) {
					if !t.(interface{ Short() bool }).Short() {
						t.Errorf("Short() is false")
					}
				})
			})
			r.Run("xfiltered", func(t conformance.T) { t.Errorf("filtered out, never runs") })
		})
		rt.Run("Other", func(conformance.T) { order = append(order, "filtered out") })
	})
	passed, failed := root.counts()
	require.Equal(t, 2, passed)               // pass, nested/deep
	require.Equal(t, 3, failed, out.String()) // fail, fatal, panic
	require.Equal(t, 1, root.skipped())
	require.Equal(t, []string{"pass cleanup 2", "pass cleanup 1", "suite cleanup"}, order)
	s := out.String()
	require.Contains(t, s, "--- FAIL: Suite (")
	require.Contains(t, s, "    --- FAIL: Suite/fail (")
	require.Contains(t, s, "        broken 1\n        after\n")
	require.Contains(t, s, "        stop\n")
	require.Contains(t, s, "panic: boom")
	require.NotContains(t, s, "quiet")
	require.NotContains(t, s, "Suite/pass")
	require.NotContains(t, s, "xfiltered")
}
