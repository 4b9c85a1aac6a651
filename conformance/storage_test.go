package conformance_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

func openMemoryEngine(fs vfs.FS, dir string) (interfaces.Storage, error) {
	return memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
}

// TestStorageMemory runs the suite against the reference engine, which must
// pass it.
func TestStorageMemory(t *testing.T) {
	conformance.TestStorage(t, conformance.MemHarness(openMemoryEngine))
}

// TestStorageCatchesBrokenEngines proves the suite can fail: each variant
// is the memory engine with one bug, and the suite must fail on it — in
// the subtest named for the bug and, where marked, in the randomised test
// on its own.
func TestStorageCatchesBrokenEngines(t *testing.T) {
	// Fixed seeds keep the randomised parts deterministic.
	t.Setenv("LIGHTNING_CONFORMANCE_SEED", "20240611")
	cases := []struct {
		name    string
		harness conformance.StorageHarness
		// want lists subtests of which at least one must fail.
		want []string
		// random says the randomised test alone catches the bug too.
		random bool
		// skip lists subtests not to run: ones where the bug is a data
		// race the race detector would report as a failure of this test.
		skip []string
	}{
		{"Get ignores the read ts", brokenStorageHarness(func(w *brokenStorage) { w.getIgnoresReadTs = true }), []string{"Visibility"}, true, nil},
		{"Apply drops tombstones", brokenStorageHarness(func(w *brokenStorage) { w.dropTombstones = true }), []string{"Tombstones"}, true, nil},
		{"reverse iteration skips the first key", brokenStorageHarness(func(w *brokenStorage) { w.reverseSkipsFirst = true }), []string{"ReverseIteration"}, true, nil},
		{"data unflushed before a crash survives it", storageKeepOnCrash{conformance.MemHarness(openMemoryEngine)}, []string{"Crash"}, true, nil},
		{"GC drops the newest version <= discard ts", brokenStorageHarness(func(w *brokenStorage) { w.gcTooEager = true }), []string{"Discard"}, true, nil},
		{"iterator ignores the upper bound", brokenStorageHarness(func(w *brokenStorage) { w.ignoreUpperBound = true }), []string{"IteratorBounds"}, true, nil},
		{"iterator ignores the prefix", brokenStorageHarness(func(w *brokenStorage) { w.ignorePrefix = true }), []string{"IteratorBounds"}, true, nil},
		{"reverse Seek lands on the first key >= target", brokenStorageHarness(func(w *brokenStorage) { w.reverseSeekGE = true }), []string{"Seek"}, true, nil},
		{"Get returns a buffer it later reuses", brokenStorageHarness(func(w *brokenStorage) { w.sharedGetBuffer = true }), []string{"ValueOwnership"}, true, []string{"Concurrency"}},
		{"nil instead of ErrClosed after Close", brokenStorageHarness(func(w *brokenStorage) { w.nilAfterClose = true }), []string{"UseAfterClose"}, false, nil},
		{"iterator is not a snapshot", brokenStorageHarness(func(w *brokenStorage) { w.lazyIterator = true }), []string{"IteratorSnapshot"}, true, nil},
		{"Flush does nothing", brokenStorageHarness(func(w *brokenStorage) { w.flushNoop = true }), []string{"FlushNothing", "Crash"}, true, nil},
		{"Compact drops nothing", brokenStorageHarness(func(w *brokenStorage) { w.compactNoop = true }), []string{"Discard"}, false, nil},
		{"Apply accepts invalid entries", brokenStorageHarness(func(w *brokenStorage) { w.acceptInvalid = true }), []string{"InvalidArguments"}, false, nil},
		{"Check works without the claim", brokenStorageHarness(func(w *brokenStorage) { w.hideCheckClaim = true }), []string{"Check"}, true, nil},
		{"Get panics", brokenStorageHarness(func(w *brokenStorage) { w.panicOnGet = true }), []string{"Visibility"}, true, nil},
	}
	for _, c := range cases {
		// Limits moves 16 MiB values around, a second per run under the
		// race detector, and none of these bugs is about limits.
		c.skip = append(c.skip, "Limits")
		t.Run(c.name, func(t *testing.T) {
			r := runStorageSuite(c.harness, c.skip, nil)
			require.True(t, r.Failed(), "the suite passed a brokenStorage engine")
			require.Empty(t, r.escaped(), "a panic escaped the suite")
			require.True(t, r.anyFailed(c.want), "none of %v failed; failures:\n%s", c.want, r.report())
			t.Logf("caught by: %s", r.failedTests())
			if c.random {
				r := runStorageSuite(c.harness, c.skip, []string{"Random"})
				require.True(t, r.anyFailed([]string{"Random"}), "the randomised test alone passed the brokenStorage engine")
			}
		})
	}
}

// TestStorageRecorderSeesPasses checks the recording T itself: the suite
// passes the memory engine under it, every subtest runs, and a skip list
// is honoured.
func TestStorageRecorderSeesPasses(t *testing.T) {
	t.Setenv("LIGHTNING_CONFORMANCE_SEED", "7")
	r := runStorageSuite(conformance.MemHarness(openMemoryEngine), []string{"Concurrency"}, nil)
	require.False(t, r.Failed(), "failures:\n%s", r.report())
	require.Contains(t, r.ran(), "TestStorage/Random/run0")
	require.Contains(t, r.ran(), "TestStorage/Crash/keepUnsynced=0.5")
	require.NotContains(t, r.ran(), "TestStorage/Concurrency")
}

// runStorageSuite runs the suite under a recording T, in short mode,
// skipping the subtests in skip and, when only is set, running only the
// top-level subtests it names.
func runStorageSuite(h conformance.StorageHarness, skip, only []string) *storageRecorder {
	root := &storageRecorder{name: "TestStorage", shared: &recorderShared{skip: skip, only: only}}
	root.runBody(func(t conformance.T) { conformance.TestStorage(t, h) })
	return root
}

// storageRecorder is a conformance.Runner that records failures instead of
// reporting them, so a test can require that the suite fails. FailNow and
// SkipNow end the calling goroutine with runtime.Goexit, as testing.T does;
// Run runs each subtest in its own goroutine.
type storageRecorder struct {
	name   string
	parent *storageRecorder
	shared *recorderShared

	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

// recorderShared is what a recorder shares with its subtests.
type recorderShared struct {
	skip, only []string
	mu         sync.Mutex
	failures   []string // "test name: message"
	panics     []string
	names      []string // every test and subtest that ran
}

var _ conformance.Runner = (*storageRecorder)(nil)

func (r *storageRecorder) Helper()      {}
func (r *storageRecorder) Name() string { return r.name }
func (r *storageRecorder) Short() bool  { return true }

func (r *storageRecorder) Logf(string, ...any) {}

func (r *storageRecorder) Errorf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
	r.Fail()
}

func (r *storageRecorder) Fatalf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
	r.FailNow()
}

func (r *storageRecorder) record(msg string) {
	r.shared.mu.Lock()
	r.shared.failures = append(r.shared.failures, r.name+": "+msg)
	r.shared.mu.Unlock()
}

// Fail marks the test and its parents failed, as a failed subtest fails
// its parent in package testing.
func (r *storageRecorder) Fail() {
	for t := r; t != nil; t = t.parent {
		t.mu.Lock()
		t.failed = true
		t.mu.Unlock()
	}
}

func (r *storageRecorder) FailNow() {
	r.Fail()
	runtime.Goexit()
}

func (r *storageRecorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *storageRecorder) Skipf(string, ...any) { runtime.Goexit() }

func (r *storageRecorder) Cleanup(fn func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, fn)
	r.mu.Unlock()
}

func (r *storageRecorder) Run(name string, fn func(conformance.T)) bool {
	full := r.name + "/" + name
	top := r.parent == nil
	if slices.Contains(r.shared.skip, name) || (top && r.shared.only != nil && !slices.Contains(r.shared.only, name)) {
		return true
	}
	child := &storageRecorder{name: full, parent: r, shared: r.shared}
	child.runBody(fn)
	return !child.Failed()
}

// runBody runs fn on r in a goroutine of its own and waits for it, then
// runs r's cleanups, last added first.
func (r *storageRecorder) runBody(fn func(conformance.T)) {
	r.shared.mu.Lock()
	r.shared.names = append(r.shared.names, r.name)
	r.shared.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// The suite recovers panics itself; one that gets here
			// escaped it.
			if p := recover(); p != nil {
				r.shared.mu.Lock()
				r.shared.panics = append(r.shared.panics, fmt.Sprintf("%s: %v", r.name, p))
				r.shared.mu.Unlock()
				r.Fail()
			}
		}()
		defer r.runCleanups()
		fn(r)
	}()
	<-done
}

func (r *storageRecorder) runCleanups() {
	r.mu.Lock()
	fns := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// anyFailed reports whether a failure was recorded in one of the top-level
// subtests named, or below it.
func (r *storageRecorder) anyFailed(subtests []string) bool {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	for _, f := range r.shared.failures {
		for _, s := range subtests {
			if strings.HasPrefix(f, r.name+"/"+s+":") || strings.HasPrefix(f, r.name+"/"+s+"/") {
				return true
			}
		}
	}
	return false
}

func (r *storageRecorder) report() string {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	var b strings.Builder
	for _, f := range r.shared.failures {
		if len(f) > 600 {
			f = f[:600] + "..."
		}
		b.WriteString(f + "\n")
	}
	return b.String()
}

// failedTests lists the tests with a recorded failure, once each.
func (r *storageRecorder) failedTests() []string {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	var out []string
	for _, f := range r.shared.failures {
		name, _, _ := strings.Cut(f, ": ")
		name = strings.TrimPrefix(name, r.name+"/")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func (r *storageRecorder) escaped() []string {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	return slices.Clone(r.shared.panics)
}

func (r *storageRecorder) ran() []string {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	return slices.Clone(r.shared.names)
}

// The brokenStorage engines.

// brokenStorage wraps the memory engine with the bugs its flags switch on.
type brokenStorage struct {
	interfaces.Storage
	getIgnoresReadTs  bool
	dropTombstones    bool
	reverseSkipsFirst bool
	gcTooEager        bool
	ignoreUpperBound  bool
	ignorePrefix      bool
	reverseSeekGE     bool
	sharedGetBuffer   bool
	nilAfterClose     bool
	lazyIterator      bool
	flushNoop         bool
	compactNoop       bool
	acceptInvalid     bool
	hideCheckClaim    bool
	panicOnGet        bool

	closed    atomic.Bool
	discardTs atomic.Uint64 // what SetDiscardTs was asked for, for Stats
	applied   atomic.Uint64
	mu        sync.Mutex
	buf       []byte
}

// brokenStorageHarness returns a MemHarness whose instances are the memory engine
// wrapped with the bugs set.
func brokenStorageHarness(bugs func(*brokenStorage)) conformance.StorageHarness {
	return conformance.MemHarness(func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		s, err := openMemoryEngine(fs, dir)
		if err != nil {
			return nil, err
		}
		w := &brokenStorage{Storage: s}
		bugs(w)
		return w, nil
	})
}

func (w *brokenStorage) Describe() interfaces.Descriptor {
	d := w.Storage.Describe()
	if w.hideCheckClaim {
		d.Capabilities = slices.DeleteFunc(slices.Clone(d.Capabilities), func(c interfaces.Capability) bool {
			return c == interfaces.CapCheck
		})
	}
	return d
}

func (w *brokenStorage) Apply(entries []interfaces.Entry) error {
	if w.nilAfterClose && w.closed.Load() {
		return nil
	}
	if w.dropTombstones || w.acceptInvalid {
		entries = slices.DeleteFunc(slices.Clone(entries), func(e interfaces.Entry) bool {
			bad := e.Ts == 0 || (e.Kind != interfaces.KindSet && e.Kind != interfaces.KindDelete)
			return (w.dropTombstones && e.Kind == interfaces.KindDelete) || (w.acceptInvalid && bad)
		})
		if len(entries) == 0 {
			return nil
		}
	}
	err := w.Storage.Apply(entries)
	if err == nil {
		w.applied.Store(entries[len(entries)-1].Ts)
	}
	return err
}

func (w *brokenStorage) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if w.nilAfterClose && w.closed.Load() {
		return nil, 0, nil
	}
	if w.panicOnGet && string(key) == "k" {
		panic("brokenStorage engine: Get")
	}
	if w.getIgnoresReadTs {
		readTs = interfaces.MaxTs
	}
	v, ts, err := w.Storage.Get(key, readTs)
	if w.sharedGetBuffer && err == nil {
		w.mu.Lock()
		w.buf = append(w.buf[:0], v...)
		v = w.buf
		w.mu.Unlock()
	}
	return v, ts, err
}

func (w *brokenStorage) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if w.nilAfterClose && w.closed.Load() {
		return nil, nil
	}
	inner := opts
	if w.ignoreUpperBound {
		inner.UpperBound = nil
	}
	if w.ignorePrefix {
		inner.Prefix = nil
	}
	if w.lazyIterator {
		return &lazyStorageIter{s: w.Storage, opts: cloneStorageOpts(inner)}, nil
	}
	it, err := w.Storage.NewIterator(inner)
	if err != nil {
		return nil, err
	}
	if (w.reverseSkipsFirst || w.reverseSeekGE) && opts.Reverse {
		return &brokenStorageIter{Iterator: it, w: w, opts: cloneStorageOpts(inner)}, nil
	}
	return it, nil
}

func (w *brokenStorage) Flush() (uint64, error) {
	if w.nilAfterClose && w.closed.Load() {
		return 0, nil
	}
	if w.flushNoop {
		return w.applied.Load(), nil
	}
	return w.Storage.Flush()
}

func (w *brokenStorage) DurableTs() (uint64, error) {
	if w.nilAfterClose && w.closed.Load() {
		return 0, nil
	}
	return w.Storage.DurableTs()
}

func (w *brokenStorage) SetDiscardTs(ts uint64) error {
	if w.nilAfterClose && w.closed.Load() {
		return nil
	}
	if w.gcTooEager {
		for {
			cur := w.discardTs.Load()
			if ts <= cur || w.discardTs.CompareAndSwap(cur, ts) {
				break
			}
		}
		// Collect as if everything applied were below the discard ts.
		return w.Storage.SetDiscardTs(interfaces.MaxTs)
	}
	return w.Storage.SetDiscardTs(ts)
}

func (w *brokenStorage) Compact(r interfaces.KeyRange) error {
	if w.nilAfterClose && w.closed.Load() {
		return nil
	}
	if w.compactNoop {
		return nil
	}
	return w.Storage.Compact(r)
}

func (w *brokenStorage) Check() error {
	if w.nilAfterClose && w.closed.Load() {
		return nil
	}
	return w.Storage.Check()
}

func (w *brokenStorage) Stats() (interfaces.StorageStats, error) {
	if w.nilAfterClose && w.closed.Load() {
		return interfaces.StorageStats{}, nil
	}
	st, err := w.Storage.Stats()
	if w.gcTooEager {
		// Hide the bug from Stats: only reads may give it away.
		st.DiscardTs = w.discardTs.Load()
	}
	return st, err
}

func (w *brokenStorage) Close() error {
	if w.nilAfterClose && w.closed.Swap(true) {
		return nil
	}
	return w.Storage.Close()
}

func cloneStorageOpts(o interfaces.IterOptions) interfaces.IterOptions {
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}
	o.LowerBound, o.UpperBound, o.Prefix = clone(o.LowerBound), clone(o.UpperBound), clone(o.Prefix)
	return o
}

// brokenStorageIter is a reverse iterator with the iterator bugs of w.
type brokenStorageIter struct {
	interfaces.Iterator
	w    *brokenStorage
	opts interfaces.IterOptions
}

func (it *brokenStorageIter) First() bool {
	ok := it.Iterator.First()
	if ok && it.w.reverseSkipsFirst {
		return it.Iterator.Next()
	}
	return ok
}

// Seek lands on the first key >= key, found with a forward iterator,
// instead of the last key <= key.
func (it *brokenStorageIter) Seek(key []byte) bool {
	if !it.w.reverseSeekGE {
		return it.Iterator.Seek(key)
	}
	fwdOpts := it.opts
	fwdOpts.Reverse = false
	fwd, err := it.w.Storage.NewIterator(fwdOpts)
	if err != nil {
		return it.Iterator.Seek(key)
	}
	defer fwd.Close()
	if fwd.Seek(key) {
		return it.Iterator.Seek(append([]byte{}, fwd.Key()...))
	}
	return it.Iterator.Seek(key)
}

// lazyStorageIter opens its iterator at the first First or Seek, so it sees
// whatever was applied after NewIterator.
type lazyStorageIter struct {
	s    interfaces.Storage
	opts interfaces.IterOptions
	it   interfaces.Iterator
	err  error
}

func (l *lazyStorageIter) open() bool {
	if l.it == nil && l.err == nil {
		l.it, l.err = l.s.NewIterator(l.opts)
	}
	return l.it != nil
}

func (l *lazyStorageIter) First() bool        { return l.open() && l.it.First() }
func (l *lazyStorageIter) Seek(k []byte) bool { return l.open() && l.it.Seek(k) }
func (l *lazyStorageIter) Next() bool         { return l.it != nil && l.it.Next() }
func (l *lazyStorageIter) Valid() bool        { return l.it != nil && l.it.Valid() }

func (l *lazyStorageIter) Key() []byte {
	if l.it == nil {
		return nil
	}
	return l.it.Key()
}

func (l *lazyStorageIter) Ts() uint64 {
	if l.it == nil {
		return 0
	}
	return l.it.Ts()
}

func (l *lazyStorageIter) Kind() interfaces.EntryKind {
	if l.it == nil {
		return 0
	}
	return l.it.Kind()
}

func (l *lazyStorageIter) Value() []byte {
	if l.it == nil {
		return nil
	}
	return l.it.Value()
}

func (l *lazyStorageIter) Err() error {
	if l.it == nil {
		return l.err
	}
	return l.it.Err()
}

func (l *lazyStorageIter) Close() error {
	if l.it == nil {
		return l.err
	}
	return l.it.Close()
}

// storageKeepOnCrash is a harness whose Crash does not crash: the instance keeps
// everything, flushed or not.
type storageKeepOnCrash struct {
	conformance.StorageHarness
}

func (k storageKeepOnCrash) Crash(t conformance.T, s interfaces.Storage, keepUnsynced float64, seed uint64) (interfaces.Storage, error) {
	return s, nil
}
