package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
)

// binDir holds the plugin binaries the tests build, once per test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lightning-host-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu sync.Mutex
	built   = map[string]error{}
)

// binary builds the main package pkg (relative to the module root) once
// and returns the binary's path.
func binary(tb testing.TB, pkg string) string {
	tb.Helper()
	out := filepath.Join(binDir, filepath.Base(pkg))
	buildMu.Lock()
	defer buildMu.Unlock()
	err, ok := built[pkg]
	if !ok {
		cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
		cmd.Dir = ".."
		if b, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build %s: %v\n%s", pkg, berr, b)
		}
		built[pkg] = err
	}
	require.NoError(tb, err)
	return out
}

// testPlugin is the misbehaving plugin of host/internal/testplugin.
func testPlugin(tb testing.TB) string { return binary(tb, "host/internal/testplugin") }

// shortT runs the conformance suites in their short variants: across a
// process boundary each call costs tens of microseconds, more under the
// race detector.
type shortT struct{ *testing.T }

func (s shortT) Short() bool { return true }

func (s shortT) Run(name string, fn func(conformance.T)) bool {
	return s.T.Run(name, func(t *testing.T) { fn(shortT{t}) })
}

// recorder is a slog.Handler that keeps records for assertions.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrRecorder{r: r, attrs: attrs}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// find returns the first record whose message is msg.
func (r *recorder) find(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Message == msg {
			return rec, true
		}
	}
	return slog.Record{}, false
}

type attrRecorder struct {
	r     *recorder
	attrs []slog.Attr
}

func (a *attrRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (a *attrRecorder) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(a.attrs...)
	return a.r.Handle(ctx, rec)
}

func (a *attrRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrRecorder{r: a.r, attrs: append(append([]slog.Attr(nil), a.attrs...), attrs...)}
}

func (a *attrRecorder) WithGroup(string) slog.Handler { return a }

// attrs returns a record's attributes as strings.
func attrs(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}
