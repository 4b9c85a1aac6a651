package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lightningdb/lightning/conformance"
)

// T is the CLI's conformance.Runner: it runs tests and subtests on
// goroutines of their own, so that FailNow and Skipf (runtime.Goexit) end
// only their test, and prints results as go test does.
type T struct {
	name   string // full name, levels joined by '/'; "" for the root
	depth  int    // 0 for the root
	out    *output
	parent *T

	mu       sync.Mutex
	failed   bool // this test or a subtest failed
	self     bool // this test failed on its own (not through a subtest)
	skip     bool
	finished bool
	subs     int // subtests run
	logs     []string
	cleanups []func()
	// children is the report text of finished subtests, printed after this
	// test's own line, as go test nests them.
	children strings.Builder
}

var _ conformance.Runner = (*T)(nil)

// output is what every test of one run shares.
type output struct {
	mu      sync.Mutex
	w       io.Writer
	filter  []*regexp.Regexp
	verbose bool
	short   bool

	passed, failed, skipped int // leaf tests, and tests that failed on their own
}

func newRoot(w io.Writer, filter []*regexp.Regexp, verbose, short bool) *T {
	return &T{out: &output{w: w, filter: filter, verbose: verbose, short: short}}
}

// run runs fn as the root test: it is not printed, but a failure of its
// own (a plugin that does not start) counts as one failed test.
func (t *T) run(fn func(*T)) {
	t.exec(fn)
	t.mu.Lock()
	self, logs := t.self, t.logs
	t.mu.Unlock()
	if self {
		t.out.mu.Lock()
		t.out.failed++
		fmt.Fprintln(t.out.w, "--- FAIL: conformance")
		for _, l := range logs {
			fmt.Fprint(t.out.w, indent(l, 1))
		}
		t.out.mu.Unlock()
	}
}

func (t *T) counts() (passed, failed int) {
	t.out.mu.Lock()
	defer t.out.mu.Unlock()
	return t.out.passed, t.out.failed
}

func (t *T) skipped() int {
	t.out.mu.Lock()
	defer t.out.mu.Unlock()
	return t.out.skipped
}

// exec runs fn on a goroutine of its own, then the cleanups, and waits.
// A panic fails the test rather than the whole run.
func (t *T) exec(fn func(*T)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.runCleanups()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		fn(t)
	}()
	<-done
}

func (t *T) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.finished = true
			t.mu.Unlock()
			return
		}
		fn := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("panic in cleanup: %v", r)
				}
			}()
			fn()
		}()
	}
}

// Run runs fn as the subtest name, unless the --run filter excludes it,
// and reports whether it passed (or was not run).
func (t *T) Run(name string, fn func(conformance.T)) bool {
	name = strings.ReplaceAll(name, " ", "_")
	full := name
	if t.name != "" {
		full = t.name + "/" + name
	}
	if f := t.out.filter; t.depth < len(f) && !f[t.depth].MatchString(name) {
		return true
	}
	sub := &T{name: full, depth: t.depth + 1, out: t.out, parent: t}
	t.mu.Lock()
	t.subs++
	t.mu.Unlock()
	if t.out.verbose {
		t.out.printf("=== RUN   %s\n", full)
	}
	start := time.Now()
	sub.exec(func(st *T) { fn(st) })
	sub.report(time.Since(start))
	if sub.Failed() {
		t.mu.Lock()
		t.failed = true
		t.mu.Unlock()
	}
	return !sub.Failed()
}

// report counts the test and writes its result line, its log and its
// subtests' reports into its parent's report (printed when the top-level
// test ends).
func (t *T) report(d time.Duration) {
	t.mu.Lock()
	failed, self, skip, subs, logs := t.failed, t.self, t.skip, t.subs, t.logs
	children := t.children.String()
	t.mu.Unlock()
	o := t.out
	o.mu.Lock()
	switch {
	case subs == 0 && failed:
		o.failed++
	case subs == 0 && skip:
		o.skipped++
	case subs == 0:
		o.passed++
	case self:
		o.failed++ // a parent that failed besides its subtests
	}
	o.mu.Unlock()
	status := "PASS"
	switch {
	case failed:
		status = "FAIL"
	case skip:
		status = "SKIP"
	}
	var b strings.Builder
	if o.verbose || status == "FAIL" {
		pad := strings.Repeat("    ", t.depth-1)
		fmt.Fprintf(&b, "%s--- %s: %s (%.2fs)\n", pad, status, t.name, d.Seconds())
		for _, l := range logs {
			b.WriteString(indent(l, t.depth))
		}
	}
	b.WriteString(children)
	if t.parent == nil || t.parent.parent == nil {
		o.printf("%s", b.String())
		return
	}
	t.parent.mu.Lock()
	t.parent.children.WriteString(b.String())
	t.parent.mu.Unlock()
}

func indent(s string, depth int) string {
	pad := strings.Repeat("    ", depth)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return pad + strings.Join(lines, "\n"+pad+"    ") + "\n"
}

func (o *output) printf(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format, args...)
}

// Helper does nothing: log lines carry no file:line.
func (t *T) Helper() {}

// Name returns the test's full name.
func (t *T) Name() string { return t.name }

// Logf records a log line, printed with the test's result (always under
// -v, otherwise when it fails).
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished && t.parent != nil {
		// A log after the test ended belongs to the nearest live test.
		t.parent.Logf(format, args...)
		return
	}
	t.logs = append(t.logs, fmt.Sprintf(format, args...))
}

// Errorf logs and marks the test failed.
func (t *T) Errorf(format string, args ...any) {
	t.Logf(format, args...)
	t.Fail()
}

// Fatalf logs, marks the test failed and ends it.
func (t *T) Fatalf(format string, args ...any) {
	t.Logf(format, args...)
	t.FailNow()
}

// Fail marks the test failed.
func (t *T) Fail() {
	t.mu.Lock()
	t.failed, t.self = true, true
	t.mu.Unlock()
}

// FailNow marks the test failed and ends its goroutine.
func (t *T) FailNow() {
	t.Fail()
	runtime.Goexit()
}

// Failed reports whether the test or a subtest failed.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Skipf logs and ends the test as skipped.
func (t *T) Skipf(format string, args ...any) {
	t.Logf(format, args...)
	t.mu.Lock()
	t.skip = true
	t.mu.Unlock()
	runtime.Goexit()
}

// Cleanup registers fn to run when the test and its subtests end, last
// registered first.
func (t *T) Cleanup(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, fn)
}

// Short reports --short.
func (t *T) Short() bool { return t.out.short }
