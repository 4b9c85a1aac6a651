// Package conformance holds the shared test suites for Lightning's
// contracts: one per contract in package interfaces. A part — ours or a
// third party's — is correct when its suite passes.
//
// The suites run against T, a small subset of testing.TB, so the same suite
// runs under `go test` for an in-process part:
//
//	func TestConformance(t *testing.T) {
//		conformance.TestCodec(t, func() (interfaces.Codec, error) { return mycodec.New(), nil })
//	}
//
// and from `lightning conformance --plugin PATH` against a binary someone
// else built.
//
// A suite tests every capability the part claims in its Descriptor, skips
// (with a message) the tests of capabilities it does not claim, and checks
// that each unclaimed operation returns interfaces.ErrUnsupported.
//
// Randomised tests print their seed and the operations they ran when they
// fail; set LIGHTNING_CONFORMANCE_SEED to replay one.
package conformance

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// T is the part of testing.TB the suites use. *testing.T and *testing.B
// satisfy it; the CLI's runner implements it too.
type T interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fail()
	FailNow()
	Failed() bool
	Skipf(format string, args ...any)
	Cleanup(func())
}

// Runner is a T that can run named subtests, as the CLI's runner does.
type Runner interface {
	T
	Run(name string, fn func(T)) bool
}

// run runs fn as a subtest of t called name: through (*testing.T).Run when
// t is one (so -run selects subtests), through Runner.Run when t implements
// it, and on a goroutine of its own otherwise.
func run(t T, name string, fn func(T)) bool {
	switch tt := t.(type) {
	case *testing.T:
		return tt.Run(name, func(st *testing.T) { fn(st) })
	case Runner:
		return tt.Run(name, fn)
	}
	// A plain T: run fn on its own goroutine, so that a FailNow or Skipf
	// inside it (runtime.Goexit) ends this subtest only, as with
	// (*testing.T).Run.
	t.Logf("=== %s", name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(t)
	}()
	<-done
	return !t.Failed()
}

// seed returns the seed for a randomised test: LIGHTNING_CONFORMANCE_SEED
// when set, the clock otherwise. The caller logs it on failure.
func seed() int64 {
	if s := os.Getenv("LIGHTNING_CONFORMANCE_SEED"); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
	}
	return time.Now().UnixNano()
}

// short reports whether the suite should keep randomised runs small
// (go test -short). Parts that are slow per call, such as plugins across a
// process boundary, pass it through their runner.
func short(t T) bool {
	if s, ok := t.(interface{ Short() bool }); ok {
		return s.Short()
	}
	if _, ok := t.(*testing.T); ok {
		return testing.Short()
	}
	return false
}
