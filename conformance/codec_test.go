package conformance_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lz4"
	"github.com/lightningdb/lightning/plugins/none"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/plugins/zstd"
)

// ---------------------------------------------------------------------
// suiteRecorder: a conformance.T that records instead of failing, so a
// test can require that a suite fails. The cipher and cache suite tests
// use it too.

// suiteRecorder implements conformance.Runner. Each test body (the suite
// itself, and every subtest) runs in a goroutine of its own, so FailNow
// and Skipf end it with runtime.Goexit as testing.T does; Run waits for
// the subtest, runs its cleanups and returns whether it passed.
type suiteRecorder struct {
	root   *suiteRecorder
	parent *suiteRecorder
	name   string
	short  bool // what Short reports: suites scale down

	mu       sync.Mutex
	failed   bool
	cleanups []func()

	// Kept on the root only.
	logMu     sync.Mutex
	failures  []string        // "subtest: message"
	failedIn  map[string]bool // names of subtests that failed
	panicked  []string        // panics that escaped the suite
	maxFailed int
}

// runRecorded runs suite against a fresh recorder and returns it.
func runRecorded(short bool, suite func(conformance.T)) *suiteRecorder {
	root := &suiteRecorder{short: short, failedIn: map[string]bool{}}
	root.root = root
	root.runBody(suite)
	return root
}

func (r *suiteRecorder) runBody(fn func(conformance.T)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// A panic here escaped the suite's own guards: either the
			// suite has a bug or the part panicked outside a guarded call.
			if p := recover(); p != nil {
				r.root.logMu.Lock()
				r.root.panicked = append(r.root.panicked, fmt.Sprintf("%s: %v\n%s", r.name, p, debug.Stack()))
				r.root.logMu.Unlock()
				r.Fail()
			}
		}()
		fn(r)
	}()
	<-done
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		c := cleanups[i]
		r.runBodyPlain(c)
	}
}

// runBodyPlain runs a cleanup in its own goroutine, like a test body.
func (r *suiteRecorder) runBodyPlain(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func (r *suiteRecorder) Run(name string, fn func(conformance.T)) bool {
	full := name
	if r.name != "" {
		full = r.name + "/" + name
	}
	child := &suiteRecorder{root: r.root, parent: r, name: full, short: r.short}
	child.runBody(fn)
	if child.Failed() {
		r.Fail()
		return false
	}
	return true
}

func (r *suiteRecorder) Helper()      {}
func (r *suiteRecorder) Name() string { return r.name }
func (r *suiteRecorder) Short() bool  { return r.short }

func (r *suiteRecorder) Logf(format string, args ...any) {}

func (r *suiteRecorder) Errorf(format string, args ...any) {
	r.root.logMu.Lock()
	r.root.failures = append(r.root.failures, r.name+": "+fmt.Sprintf(format, args...))
	r.root.failedIn[r.name] = true
	r.root.logMu.Unlock()
	r.Fail()
}

func (r *suiteRecorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

func (r *suiteRecorder) Fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.root.logMu.Lock()
	r.root.failedIn[r.name] = true
	r.root.logMu.Unlock()
}

func (r *suiteRecorder) FailNow() {
	r.Fail()
	runtime.Goexit()
}

func (r *suiteRecorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *suiteRecorder) Skipf(format string, args ...any) { runtime.Goexit() }

func (r *suiteRecorder) Cleanup(fn func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, fn)
	r.mu.Unlock()
}

var _ conformance.Runner = (*suiteRecorder)(nil)

// failedSubtests lists the subtests that failed, sorted.
func (r *suiteRecorder) failedSubtests() []string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	var names []string
	for n := range r.failedIn {
		if n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// summary renders the first failures for a test message.
func (r *suiteRecorder) summary() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	msgs := r.failures
	if len(msgs) > 8 {
		msgs = msgs[:8]
	}
	var b strings.Builder
	for _, m := range msgs {
		if len(m) > 300 {
			m = m[:300] + "..."
		}
		b.WriteString("\n\t" + m)
	}
	return b.String()
}

// requireCaught checks that a recorded suite run failed in the subtest
// want (a top-level subtest name), and did not let a panic escape.
func requireCaught(t *testing.T, rec *suiteRecorder, want string) {
	t.Helper()
	require.Empty(t, rec.panicked, "a panic escaped the suite")
	require.True(t, rec.Failed(), "the suite passed a broken part")
	require.Contains(t, rec.failedSubtests(), want,
		"the suite failed, but not in %s; failed: %v%s", want, rec.failedSubtests(), rec.summary())
	t.Logf("caught in %v", rec.failedSubtests())
}

// requirePassed checks that a recorded suite run passed.
func requirePassed(t *testing.T, rec *suiteRecorder) {
	t.Helper()
	require.Empty(t, rec.panicked, "a panic escaped the suite")
	require.False(t, rec.Failed(), "the suite failed a correct part in %v:%s", rec.failedSubtests(), rec.summary())
}

// TestSuiteRecorder checks the recorder itself, since every "the suite
// catches this" test leans on it.
func TestSuiteRecorder(t *testing.T) {
	// The body runs in the recorder's goroutines: it notes what it sees,
	// and the assertions run here afterwards.
	var passes, errs, fatal, reached, cleaned bool
	rec := runRecorded(true, func(rt conformance.T) {
		r := rt.(conformance.Runner)
		passes = r.Run("passes", func(t conformance.T) { t.Logf("fine") })
		errs = r.Run("errors", func(t conformance.T) { t.Errorf("bad %d", 1) })
		fatal = r.Run("fatal", func(t conformance.T) {
			t.Fatalf("stop")
			reached = true
		})
		r.Run("cleanup", func(t conformance.T) { t.Cleanup(func() { cleaned = true }) })
	})
	require.True(t, passes, "a passing subtest reports true")
	require.False(t, errs, "a subtest with Errorf reports false")
	require.False(t, fatal, "a subtest with Fatalf reports false")
	require.False(t, reached, "Fatalf must end the subtest")
	require.True(t, cleaned, "cleanups run when the subtest ends")
	require.True(t, rec.Failed(), "a failed subtest fails its parent")
	require.Equal(t, []string{"errors", "fatal"}, rec.failedSubtests())
	require.Empty(t, rec.panicked)

	rec = runRecorded(true, func(conformance.T) { panic("escaped") })
	require.Len(t, rec.panicked, 1)
	require.True(t, rec.Failed())

	require.False(t, runRecorded(true, func(conformance.T) {}).Failed())
}

// ---------------------------------------------------------------------
// The codec suite against the real codecs.

func codecFactories() map[string]conformance.CodecFactory {
	return map[string]conformance.CodecFactory{
		"none":   func() (interfaces.Codec, error) { return none.New(), nil },
		"snappy": func() (interfaces.Codec, error) { return snappy.New(), nil },
		"lz4":    func() (interfaces.Codec, error) { return lz4.New(), nil },
		"zstd":   func() (interfaces.Codec, error) { return zstd.New(nil) },
	}
}

func TestCodecSuitePassesPlugins(t *testing.T) {
	for name, f := range codecFactories() {
		t.Run(name, func(t *testing.T) {
			// Recorded and in short mode: the plugins' own packages run the
			// full suite under testing.T; here the recorder must agree that
			// correct codecs pass, or the broken-codec tests prove nothing.
			requirePassed(t, runRecorded(true, func(rt conformance.T) { conformance.TestCodec(rt, f) }))
		})
	}
}

func mustZstd() interfaces.Codec {
	c, err := zstd.New(nil)
	if err != nil {
		panic(err)
	}
	return c
}

// ---------------------------------------------------------------------
// Broken codecs: each wraps a correct one and breaks one promise.

type brokenCodec struct {
	inner  interfaces.Codec
	desc   func(interfaces.Descriptor) interfaces.Descriptor
	id     func(interfaces.CodecID) interfaces.CodecID
	encode func(inner interfaces.Codec, dst, src []byte) ([]byte, error)
	decode func(inner interfaces.Codec, dst, src []byte) ([]byte, error)
}

func (b *brokenCodec) Describe() interfaces.Descriptor {
	d := b.inner.Describe()
	if b.desc != nil {
		d = b.desc(d)
	}
	return d
}

func (b *brokenCodec) ID() interfaces.CodecID {
	if b.id != nil {
		return b.id(b.inner.ID())
	}
	return b.inner.ID()
}

func (b *brokenCodec) Encode(dst, src []byte) ([]byte, error) {
	if b.encode != nil {
		return b.encode(b.inner, dst, src)
	}
	return b.inner.Encode(dst, src)
}

func (b *brokenCodec) Decode(dst, src []byte) ([]byte, error) {
	if b.decode != nil {
		return b.decode(b.inner, dst, src)
	}
	return b.inner.Decode(dst, src)
}

func TestCodecSuiteCatchesBrokenCodecs(t *testing.T) {
	tests := []struct {
		name   string
		codec  func() *brokenCodec
		caught string // a subtest that must fail
	}{
		{
			name: "Encode truncates its output",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: snappy.New(), encode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					out, err := in.Encode(dst, src)
					if err == nil && len(out) > len(dst)+1 {
						out = out[:len(out)-1]
					}
					return out, err
				}}
			},
			caught: "RoundTrip",
		},
		{
			name: "Decode panics on bad input",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: lz4.New(), decode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					out, err := in.Decode(dst, src)
					if err != nil {
						panic("broken codec: bad input")
					}
					return out, nil
				}}
			},
			caught: "Truncated",
		},
		{
			name: "Decode overwrites dst instead of appending",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: mustZstd(), decode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					return in.Decode(nil, src)
				}}
			},
			caught: "Append",
		},
		{
			name: "Encode overwrites dst instead of appending",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: snappy.New(), encode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					return in.Encode(dst[:0], src)
				}}
			},
			caught: "Append",
		},
		{
			name: "Encode returns its src (the none codec without a copy)",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: none.New(), encode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					if len(dst) == 0 {
						return src, nil
					}
					return in.Encode(dst, src)
				}}
			},
			caught: "Append",
		},
		{
			name: "Decode errors do not match ErrCorrupt",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: snappy.New(), decode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					out, err := in.Decode(dst, src)
					if err != nil {
						return out, errors.New(err.Error())
					}
					return out, nil
				}}
			},
			caught: "Truncated",
		},
		{
			name: "identity format under a third-party ID accepts truncations",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: none.New(),
					id:   func(interfaces.CodecID) interfaces.CodecID { return 200 },
					desc: func(d interfaces.Descriptor) interfaces.Descriptor { d.Name = "raw200"; return d }}
			},
			caught: "Truncated",
		},
		{
			name: "Decode allocates the claimed length before checking it",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: lz4.New(), decode: func(in interfaces.Codec, dst, src []byte) ([]byte, error) {
					if n, k := binary.Uvarint(src); k > 0 && n > 0 {
						// What a naive decoder does: size the output from
						// the header (capped here to spare the test box).
						dst = append(make([]byte, 0, min(n, 48<<20)+uint64(len(dst))), dst...)
					}
					return in.Decode(dst, src)
				}}
			},
			caught: "OversizeClaims",
		},
		{
			name: "ID does not match the name",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: snappy.New(), id: func(interfaces.CodecID) interfaces.CodecID { return interfaces.CodecLZ4 }}
			},
			caught: "ID",
		},
		{
			name: "third-party codec takes a reserved ID",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: snappy.New(),
					id:   func(interfaces.CodecID) interfaces.CodecID { return 9 },
					desc: func(d interfaces.Descriptor) interfaces.Descriptor { d.Name = "mine"; return d }}
			},
			caught: "ID",
		},
		{
			name: "Describe claims another contract version",
			codec: func() *brokenCodec {
				return &brokenCodec{inner: lz4.New(), desc: func(d interfaces.Descriptor) interfaces.Descriptor {
					d.ContractVersion++
					return d
				}}
			},
			caught: "Describe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := runRecorded(true, func(rt conformance.T) {
				conformance.TestCodec(rt, func() (interfaces.Codec, error) { return tt.codec(), nil })
			})
			requireCaught(t, rec, tt.caught)
		})
	}
}
