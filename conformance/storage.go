package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/lightningdb/lightning/interfaces"
)

// TestStorage runs the Storage suite against the instances h makes: a
// model-based randomised test and targeted cases, each a subtest. Every
// sentence of the interfaces.Storage contract is checked by at least one
// of them; the tests of a capability the part does not claim are skipped,
// after checking that its operation returns interfaces.ErrUnsupported.
//
// A panic inside the part is reported as a failure of the subtest it
// happened in. The randomised test prints its seed and operation log when
// it fails; LIGHTNING_CONFORMANCE_SEED replays it.
func TestStorage(t T, h StorageHarness) {
	t.Helper()
	sc := &storageSuite{h: h}
	if !guarded(t, func() { sc.describe(t) }) {
		return
	}
	for _, c := range storageCases {
		storageRun(t, c.name, func(t T) { c.fn(sc, t) })
	}
}

// storageCase is one subtest of the suite.
type storageCase struct {
	name string
	fn   func(sc *storageSuite, t T)
}

// storageCases lists the subtests in the order they run.
var storageCases = []storageCase{
	{"Describe", (*storageSuite).testDescribe},
	{"Empty", (*storageSuite).testEmpty},
	{"Visibility", (*storageSuite).testVisibility},
	{"Tombstones", (*storageSuite).testTombstones},
	{"ValueOwnership", (*storageSuite).testValueOwnership},
	{"EmptyKeyAndValue", (*storageSuite).testEmptyKeyAndValue},
	{"Limits", (*storageSuite).testLimits},
	{"ManyVersions", (*storageSuite).testManyVersions},
	{"IteratorBounds", (*storageSuite).testIteratorBounds},
	{"ReverseIteration", (*storageSuite).testReverseIteration},
	{"Seek", (*storageSuite).testSeek},
	{"AllVersions", (*storageSuite).testAllVersions},
	{"IteratorSnapshot", (*storageSuite).testIteratorSnapshot},
	{"FlushNothing", (*storageSuite).testFlushNothing},
	{"Crash", (*storageSuite).testCrash},
	{"DurableTsMonotonic", (*storageSuite).testDurableTsMonotonic},
	{"CloseWithoutFlush", (*storageSuite).testCloseWithoutFlush},
	{"Discard", (*storageSuite).testDiscard},
	{"Compact", (*storageSuite).testCompact},
	{"Concurrency", (*storageSuite).testConcurrency},
	{"UseAfterClose", (*storageSuite).testUseAfterClose},
	{"InvalidArguments", (*storageSuite).testInvalidArguments},
	{"Check", (*storageSuite).testCheck},
	{"Stats", (*storageSuite).testStats},
	{"Random", (*storageSuite).testRandom},
}

// storageSuite is what the subtests share: the harness and the claims of
// the part.
type storageSuite struct {
	h    StorageHarness
	desc interfaces.Descriptor
}

func (sc *storageSuite) has(c interfaces.Capability) bool { return sc.desc.Has(c) }

// describe opens a probe instance to learn what the part claims.
func (sc *storageSuite) describe(t T) {
	t.Helper()
	s, err := sc.h.New(t)
	if err != nil {
		t.Fatalf("conformance: harness New: %v", err)
	}
	sc.desc = s.Describe()
	if err := s.Close(); err != nil {
		t.Fatalf("conformance: Close of a fresh instance: %v", err)
	}
}

// storageRun runs fn as a subtest, turning a panic into a failure.
func storageRun(t T, name string, fn func(t T)) bool {
	return run(t, name, func(t T) {
		defer recoverPanic(t)
		fn(t)
	})
}

// recoverPanic reports a panic as a failure of t. It must be deferred
// directly.
func recoverPanic(t T) {
	if r := recover(); r != nil {
		t.Errorf("conformance: panic: %v\n%s", r, debug.Stack())
	}
}

// guarded runs fn, turning a panic into a failure, and reports whether fn
// returned normally without failing t.
func guarded(t T, fn func()) (ok bool) {
	defer recoverPanic(t)
	fn()
	return !t.Failed()
}

// instance is the Storage a subtest works on, across crashes and reopens.
// Its helpers fail the test (through failf) on any unexpected error.
type instance struct {
	t     T
	sc    *storageSuite
	s     interfaces.Storage
	open  bool
	failf func(format string, args ...any)
}

// open returns a fresh instance that is closed when the test ends.
func (sc *storageSuite) open(t T) *instance {
	t.Helper()
	in := &instance{t: t, sc: sc, failf: t.Fatalf}
	s, err := sc.h.New(t)
	if err != nil {
		t.Fatalf("conformance: harness New: %v", err)
	}
	in.s, in.open = s, true
	t.Cleanup(func() {
		defer recoverPanic(t)
		if in.open {
			in.open = false
			if err := in.s.Close(); err != nil {
				t.Errorf("conformance: Close at the end of the test: %v", err)
			}
		}
	})
	return in
}

func (in *instance) has(c interfaces.Capability) bool { return in.sc.has(c) }

// crash simulates a crash and continues on the instance that survived it.
func (in *instance) crash(keepUnsynced float64, seed uint64) {
	in.t.Helper()
	in.open = false
	s, err := in.sc.h.Crash(in.t, in.s, keepUnsynced, seed)
	if err != nil {
		in.failf("conformance: reopen after a crash (keepUnsynced %.1f): %v", keepUnsynced, err)
		return
	}
	in.s, in.open = s, true
}

// reopen closes the instance and opens it again.
func (in *instance) reopen() {
	in.t.Helper()
	in.open = false
	s, err := in.sc.h.Reopen(in.t, in.s)
	if err != nil {
		in.failf("conformance: Reopen: %v", err)
		return
	}
	in.s, in.open = s, true
}

// close closes the instance, which must succeed.
func (in *instance) close() {
	in.t.Helper()
	in.open = false
	if err := in.s.Close(); err != nil {
		in.failf("conformance: Close: %v", err)
	}
}

func (in *instance) apply(entries ...interfaces.Entry) {
	in.t.Helper()
	if err := in.s.Apply(entries); err != nil {
		in.failf("conformance: Apply(%s): %v", fmtEntries(entries), err)
	}
}

func (in *instance) flush() uint64 {
	in.t.Helper()
	ts, err := in.s.Flush()
	if err != nil {
		in.failf("conformance: Flush: %v", err)
	}
	return ts
}

func (in *instance) durableTs() uint64 {
	in.t.Helper()
	ts, err := in.s.DurableTs()
	if err != nil {
		in.failf("conformance: DurableTs: %v", err)
	}
	return ts
}

func (in *instance) stats() interfaces.StorageStats {
	in.t.Helper()
	st, err := in.s.Stats()
	if err != nil {
		in.failf("conformance: Stats: %v", err)
	}
	return st
}

// wantGet checks that Get(key, readTs) returns value at ts.
func (in *instance) wantGet(key string, readTs uint64, value string, ts uint64) {
	in.t.Helper()
	v, gotTs, err := in.s.Get([]byte(key), readTs)
	switch {
	case err != nil:
		in.failf("conformance: Get(%q, %s): %v; want %q at ts %d", key, fmtTs(readTs), err, value, ts)
	case string(v) != value || gotTs != ts:
		in.failf("conformance: Get(%q, %s) = %q at ts %d; want %q at ts %d", key, fmtTs(readTs), v, gotTs, value, ts)
	}
}

// wantAbsent checks that Get(key, readTs) returns ErrNotFound.
func (in *instance) wantAbsent(key string, readTs uint64) {
	in.t.Helper()
	v, ts, err := in.s.Get([]byte(key), readTs)
	switch {
	case err == nil:
		in.failf("conformance: Get(%q, %s) = %q at ts %d; want ErrNotFound", key, fmtTs(readTs), v, ts)
	case !errors.Is(err, interfaces.ErrNotFound):
		in.failf("conformance: Get(%q, %s): %v; want ErrNotFound", key, fmtTs(readTs), err)
	}
}

// walk reads a whole iterator with First and Next, and checks that it
// closes cleanly.
func (in *instance) walk(opts interfaces.IterOptions) []item {
	in.t.Helper()
	it, err := in.s.NewIterator(opts)
	if err != nil {
		in.failf("conformance: NewIterator(%s): %v", fmtOpts(opts), err)
		return nil
	}
	var got []item
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, in.current(it, opts))
		if len(got) > 1_000_000 {
			in.failf("conformance: iterator %s does not end", fmtOpts(opts))
			break
		}
	}
	in.closeIter(it, opts)
	return got
}

// closeIter checks that an iterator that stopped has no error and closes
// without one.
func (in *instance) closeIter(it interfaces.Iterator, opts interfaces.IterOptions) {
	in.t.Helper()
	if err := it.Err(); err != nil {
		in.failf("conformance: iterator %s: Err: %v", fmtOpts(opts), err)
	}
	if err := it.Close(); err != nil {
		in.failf("conformance: iterator %s: Close: %v", fmtOpts(opts), err)
	}
}

// current reads the version a valid iterator stands on, checking what
// every position must satisfy.
func (in *instance) current(it interfaces.Iterator, opts interfaces.IterOptions) item {
	in.t.Helper()
	if !it.Valid() {
		in.failf("conformance: iterator %s: a move returned true but Valid is false", fmtOpts(opts))
	}
	got := item{key: string(it.Key()), ts: it.Ts(), kind: it.Kind(), value: string(it.Value())}
	switch {
	case !opts.AllVersions && got.kind != interfaces.KindSet:
		in.failf("conformance: iterator %s yields %v: kind must be KindSet without AllVersions", fmtOpts(opts), got)
	case got.kind != interfaces.KindSet && got.kind != interfaces.KindDelete:
		in.failf("conformance: iterator %s yields %v with kind %d", fmtOpts(opts), got, got.kind)
	case got.kind == interfaces.KindDelete && len(it.Value()) != 0:
		in.failf("conformance: iterator %s yields tombstone %v with value %q; want nil", fmtOpts(opts), got, it.Value())
	}
	return got
}

// wantItems checks that got equals want, in order.
func (in *instance) wantItems(what string, got, want []item) {
	in.t.Helper()
	if !slices.Equal(got, want) {
		in.failf("conformance: %s:\n got  %v\n want %v", what, fmtItems(got), fmtItems(want))
	}
}

// item is one version as an iterator shows it. A tombstone has an empty
// value; nil and empty values are the same.
type item struct {
	key   string
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

func (i item) String() string {
	if i.kind == interfaces.KindDelete {
		return fmt.Sprintf("%q@%d:del", abbrev(i.key), i.ts)
	}
	return fmt.Sprintf("%q@%d=%q", abbrev(i.key), i.ts, abbrev(i.value))
}

// setItem and delItem build expected items.
func setItem(key string, ts uint64, value string) item {
	return item{key: key, ts: ts, kind: interfaces.KindSet, value: value}
}

func delItem(key string, ts uint64) item {
	return item{key: key, ts: ts, kind: interfaces.KindDelete}
}

// set and del build entries.
func set(key string, ts uint64, value string) interfaces.Entry {
	return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindSet, Value: []byte(value)}
}

func del(key string, ts uint64) interfaces.Entry {
	return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindDelete}
}

// keysOf returns the keys of items.
func keysOf(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.key
	}
	return out
}

func abbrev(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:24], len(s))
	}
	return s
}

func fmtItems(items []item) string {
	if len(items) == 0 {
		return "[]"
	}
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtEntry(e interfaces.Entry) string {
	k := fmt.Sprintf("%q", abbrev(string(e.Key)))
	switch e.Kind {
	case interfaces.KindSet:
		return fmt.Sprintf("%s@%d=%q", k, e.Ts, abbrev(string(e.Value)))
	case interfaces.KindDelete:
		return fmt.Sprintf("%s@%d:del", k, e.Ts)
	}
	return fmt.Sprintf("%s@%d:kind%d", k, e.Ts, e.Kind)
}

func fmtEntries(es []interfaces.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmtEntry(e)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtTs(ts uint64) string {
	if ts == interfaces.MaxTs {
		return "MaxTs"
	}
	return fmt.Sprint(ts)
}

func fmtKey(k []byte) string {
	if k == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", abbrev(string(k)))
}

func fmtOpts(o interfaces.IterOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{ReadTs:%s", fmtTs(o.ReadTs))
	if o.LowerBound != nil {
		fmt.Fprintf(&b, " Lower:%s", fmtKey(o.LowerBound))
	}
	if o.UpperBound != nil {
		fmt.Fprintf(&b, " Upper:%s", fmtKey(o.UpperBound))
	}
	if o.Prefix != nil {
		fmt.Fprintf(&b, " Prefix:%s", fmtKey(o.Prefix))
	}
	if o.Reverse {
		b.WriteString(" Reverse")
	}
	if o.AllVersions {
		b.WriteString(" AllVersions")
	}
	b.WriteString("}")
	return b.String()
}

// scribble overwrites b, as a caller reusing its buffer would.
func scribble(b []byte) {
	for i := range b {
		b[i] ^= 0xa5
	}
}

// inRange reports whether key is inside the bounds and prefix of opts.
func inRange(key []byte, opts interfaces.IterOptions) bool {
	return (opts.LowerBound == nil || bytes.Compare(key, opts.LowerBound) >= 0) &&
		(opts.UpperBound == nil || bytes.Compare(key, opts.UpperBound) < 0) &&
		(opts.Prefix == nil || bytes.HasPrefix(key, opts.Prefix))
}

// wantUnsupported checks that an operation behind an unclaimed capability
// returned ErrUnsupported.
func wantUnsupported(t T, c interfaces.Capability, op string, err error) {
	t.Helper()
	if !errors.Is(err, interfaces.ErrUnsupported) {
		t.Errorf("conformance: %s without %s returned %v; want ErrUnsupported", op, c, err)
	}
}
