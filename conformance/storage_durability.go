package conformance

import (
	"errors"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// The targeted cases about Flush, crashes, reopening, garbage collection
// and the life cycle.

// wantState checks that the instance holds exactly the versions of m:
// every key of m and probe with Get at MaxTs, and a whole AllVersions walk.
// Versions below discard that it lets go may be missing.
func (in *instance) wantState(what string, m *storageModel, discard uint64, probe ...string) {
	in.t.Helper()
	keys := append(m.sortedKeys(), probe...)
	for _, k := range keys {
		if v, ok := m.visible(k, interfaces.MaxTs); ok {
			in.wantGet(k, interfaces.MaxTs, string(v.value), v.ts)
		} else {
			in.wantAbsent(k, interfaces.MaxTs)
		}
	}
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
	got := in.walk(opts)
	want := m.expect(opts, discard, 0)
	if p := matchItems(got, want, 0, true); p != "" {
		var w []item
		for _, e := range want {
			w = append(w, e.item)
		}
		in.failf("conformance: %s: walk %s: %s\n got  %v\n want %v", what, fmtOpts(opts), p, fmtItems(got), fmtItems(w))
	}
}

// skipWithout skips t when the part does not claim c.
func skipWithout(t T, sc *storageSuite, c interfaces.Capability) {
	t.Helper()
	if !sc.has(c) {
		t.Skipf("conformance: the storage does not claim %s", c)
	}
}

func (sc *storageSuite) testFlushNothing(t T) {
	in := sc.open(t)
	if ts := in.flush(); ts != 0 {
		t.Errorf("conformance: Flush of a fresh instance = %d; want 0", ts)
	}
	if d := in.durableTs(); d != 0 {
		t.Errorf("conformance: DurableTs after flushing nothing = %d; want 0", d)
	}
	in.apply(set("a", 5, "a"))
	for i := range 2 {
		if ts := in.flush(); ts != 5 {
			t.Errorf("conformance: Flush #%d after applying ts 5 = %d; want 5", i+1, ts)
		}
	}
	if !in.has(interfaces.CapDurable) {
		in.reopen()
		if ts := in.flush(); ts != 0 {
			t.Errorf("conformance: Flush right after reopening an instance without %s = %d; want 0", interfaces.CapDurable, ts)
		}
		return
	}
	if d := in.durableTs(); d != 5 {
		t.Errorf("conformance: DurableTs after Flush returned 5 = %d", d)
	}
	in.reopen()
	if ts := in.flush(); ts != 5 {
		t.Errorf("conformance: Flush of nothing right after a reopen = %d; want the durable ts 5", ts)
	}
	if d := in.durableTs(); d != 5 {
		t.Errorf("conformance: DurableTs after reopening = %d; want 5", d)
	}
}

func (sc *storageSuite) testCrash(t T) {
	for _, keep := range []float64{0, 0.5, 1} {
		storageRun(t, fmt.Sprintf("keepUnsynced=%.1f", keep), func(t T) { sc.crashCase(t, keep) })
	}
	storageRun(t, "BeforeAnyFlush", func(t T) {
		in := sc.open(t)
		in.apply(set("a", 1, "a"), set("b", 2, "b"))
		in.crash(0.5, 7)
		if d := in.durableTs(); d != 0 {
			t.Fatalf("conformance: DurableTs after a crash with nothing flushed = %d; want 0", d)
		}
		in.wantState("after a crash with nothing flushed", newStorageModel(), 0, "a", "b")
		in.apply(set("a", 3, "a3"))
		in.wantGet("a", interfaces.MaxTs, "a3", 3)
	})
}

func (sc *storageSuite) crashCase(t T, keep float64) {
	in := sc.open(t)
	m := newStorageModel()
	apply := func(es ...interfaces.Entry) {
		in.apply(es...)
		m.apply(es)
	}
	apply(set("a", 1, "a1"), set("b", 1, "b1"), set("c", 2, "c2"))
	apply(del("a", 3), set("d", 4, "d4"))
	flushed := in.flush()
	if flushed != 4 {
		t.Errorf("conformance: Flush after applying up to ts 4 = %d", flushed)
	}
	if !sc.has(interfaces.CapDurable) {
		in.crash(keep, 1)
		if d := in.durableTs(); d != 0 {
			t.Errorf("conformance: DurableTs after a crash without %s = %d; want 0", interfaces.CapDurable, d)
		}
		in.wantState("after a crash without "+string(interfaces.CapDurable), newStorageModel(), 0, "a", "b", "c", "d")
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapDurable)
	}
	if d := in.durableTs(); d != flushed {
		t.Errorf("conformance: DurableTs = %d right after Flush returned %d", d, flushed)
	}
	// Versions applied after the Flush are not durable.
	apply(set("b", 5, "b5"), set("a", 6, "a6"), set("e", 6, "e6"))
	apply(del("c", 7), del("d", 8), set("d", 9, "d9"))
	before := in.durableTs()
	in.crash(keep, 2)
	after := in.durableTs()
	if after < before || after > m.appliedTs {
		t.Fatalf("conformance: DurableTs after the crash = %d; Flush returned %d and DurableTs was %d before the crash",
			after, flushed, before)
	}
	if after != flushed {
		t.Logf("conformance: DurableTs after the crash is %d, above the %d Flush returned (the part flushed on its own)", after, flushed)
	}
	m.truncate(after)
	in.wantState(fmt.Sprintf("after a crash at durable ts %d", after), m, 0, "e")

	// Life goes on after the crash: new versions above every earlier ts,
	// flushed, crashed again.
	apply(set("a", 10, "a10"), del("b", 11), set("f", 11, "f11"))
	flushed = in.flush()
	if flushed != 11 {
		t.Errorf("conformance: Flush after applying up to ts 11 = %d", flushed)
	}
	apply(set("g", 12, "g12"))
	in.crash(keep, 3)
	after = in.durableTs()
	if after < flushed || after > m.appliedTs {
		t.Fatalf("conformance: DurableTs after the second crash = %d; Flush returned %d", after, flushed)
	}
	m.truncate(after)
	in.wantState(fmt.Sprintf("after a second crash at durable ts %d", after), m, 0, "g")
	if in.has(interfaces.CapCheck) {
		if err := in.s.Check(); err != nil {
			t.Errorf("conformance: Check after crashes: %v", err)
		}
	}
}

func (sc *storageSuite) testDurableTsMonotonic(t T) {
	in := sc.open(t)
	if !sc.has(interfaces.CapDurable) {
		in.apply(set("a", 1, "a"))
		in.flush()
		in.reopen()
		if d := in.durableTs(); d != 0 {
			t.Errorf("conformance: DurableTs after reopening an instance without %s = %d; want 0", interfaces.CapDurable, d)
		}
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapDurable)
	}
	last := uint64(0)
	observe := func(what string) uint64 {
		t.Helper()
		d := in.durableTs()
		if d < last {
			t.Fatalf("conformance: DurableTs went down from %d to %d %s", last, d, what)
		}
		last = d
		return d
	}
	in.apply(set("a", 1, "a1"))
	if f := in.flush(); f != 1 {
		t.Errorf("conformance: Flush = %d; want 1", f)
	}
	observe("after Flush")
	in.reopen()
	if d := observe("across a reopen"); d != 1 {
		t.Errorf("conformance: DurableTs after a reopen = %d; want 1", d)
	}
	in.apply(set("a", 2, "a2"), set("b", 2, "b2"))
	in.reopen()
	observe("across a reopen with unflushed versions")
	in.apply(set("c", 3, "c3"))
	if f := in.flush(); f != 3 {
		t.Errorf("conformance: Flush = %d; want 3", f)
	}
	observe("after a second Flush")
	in.crash(0, 9)
	observe("across a crash")
	in.reopen()
	if d := observe("across a reopen after the crash"); d != 3 {
		t.Errorf("conformance: DurableTs = %d; want 3", d)
	}
	if f := in.flush(); f != 3 {
		t.Errorf("conformance: Flush of nothing = %d; want 3", f)
	}
	observe("after flushing nothing")
}

func (sc *storageSuite) testCloseWithoutFlush(t T) {
	in := sc.open(t)
	m := newStorageModel()
	apply := func(es ...interfaces.Entry) {
		in.apply(es...)
		m.apply(es)
	}
	apply(set("a", 1, "a1"), set("b", 2, "b2"))
	if f := in.flush(); f != 2 {
		t.Errorf("conformance: Flush = %d; want 2", f)
	}
	apply(set("a", 3, "a3"), set("c", 4, "c4"), del("b", 5))
	before := in.durableTs()
	in.reopen()
	if !sc.has(interfaces.CapDurable) {
		in.wantState("after Close and reopen without "+string(interfaces.CapDurable), newStorageModel(), 0, "a", "b", "c")
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapDurable)
	}
	after := in.durableTs()
	if after < before || after > m.appliedTs {
		t.Fatalf("conformance: DurableTs after Close and reopen = %d; it was %d before", after, before)
	}
	m.truncate(after)
	in.wantState(fmt.Sprintf("after Close without Flush (durable ts %d)", after), m, 0, "c")
}

// gcModel builds the hand-made garbage collection case:
//
//	a: 10 set, 20 set, 30 set
//	b: 10 set, 20 del
//	c: 10 set, 25 del, 40 set
//	d: 35 set
//	e: 5 del
//	f: 15 set
func gcBatches() [][]interfaces.Entry {
	return [][]interfaces.Entry{
		{del("e", 5)},
		{set("a", 10, "a10"), set("b", 10, "b10"), set("c", 10, "c10")},
		{set("f", 15, "f15")},
		{set("a", 20, "a20"), del("b", 20)},
		{del("c", 25)},
		{set("a", 30, "a30")},
		{set("d", 35, "d35")},
		{set("c", 40, "c40")},
	}
}

// wantReadsFrom checks Get of every key of m at the read ts from on, and
// walks at those ts, against m.
func (in *instance) wantReadsFrom(what string, m *storageModel, from []uint64) {
	in.t.Helper()
	for _, ts := range from {
		for _, k := range append(m.sortedKeys(), "zz") {
			if v, ok := m.visible(k, ts); ok {
				in.wantGet(k, ts, string(v.value), v.ts)
			} else {
				in.wantAbsent(k, ts)
			}
		}
		for _, rev := range []bool{false, true} {
			opts := interfaces.IterOptions{ReadTs: ts, Reverse: rev}
			var want []item
			for _, e := range m.expect(opts, 0, 0) {
				want = append(want, e.item)
			}
			in.wantItems(what+": walk "+fmtOpts(opts), in.walk(opts), want)
		}
	}
}

func (sc *storageSuite) testDiscard(t T) {
	if !sc.has(interfaces.CapDiscard) {
		in := sc.open(t)
		in.apply(set("a", 1, "a"), set("a", 2, "b"))
		wantUnsupported(t, interfaces.CapDiscard, "SetDiscardTs", in.s.SetDiscardTs(2))
		in.wantGet("a", 1, "a", 1)
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapDiscard)
	}
	compact := sc.has(interfaces.CapCompact)
	in := sc.open(t)
	m := newStorageModel()
	for _, b := range gcBatches() {
		in.apply(b...)
		m.apply(b)
	}
	if err := in.s.SetDiscardTs(22); err != nil {
		t.Fatalf("conformance: SetDiscardTs(22): %v", err)
	}
	m.discardTs = 22
	all := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
	if compact {
		if err := in.s.Compact(interfaces.KeyRange{}); err != nil {
			t.Fatalf("conformance: Compact: %v", err)
		}
		// The newest version <= 22 of a and c survives; a tombstone
		// newest <= 22 (b, e) goes with all it hides; versions above 22
		// all stay.
		in.wantItems("AllVersions walk after SetDiscardTs(22) and Compact(all)", in.walk(all), []item{
			setItem("a", 30, "a30"), setItem("a", 20, "a20"),
			setItem("c", 40, "c40"), delItem("c", 25), setItem("c", 10, "c10"),
			setItem("d", 35, "d35"), setItem("f", 15, "f15"),
		})
	} else {
		in.wantState("after SetDiscardTs(22)", m, 22)
	}
	in.wantReadsFrom("after SetDiscardTs(22)", m, []uint64{22, 24, 25, 29, 30, 35, 39, 40, interfaces.MaxTs})
	if st := in.stats(); st.DiscardTs != 22 {
		t.Errorf("conformance: Stats().DiscardTs = %d after SetDiscardTs(22)", st.DiscardTs)
	}

	// A lower discard ts is ignored.
	if err := in.s.SetDiscardTs(12); err != nil {
		t.Fatalf("conformance: SetDiscardTs(12) after 22: %v", err)
	}
	if st := in.stats(); st.DiscardTs != 22 {
		t.Errorf("conformance: Stats().DiscardTs = %d after SetDiscardTs(12) followed SetDiscardTs(22); want 22", st.DiscardTs)
	}
	in.wantReadsFrom("after the lower SetDiscardTs(12)", m, []uint64{22, 30})

	// Moving on: a's newest version <= 45 is a tombstone, so a goes
	// entirely; c keeps only 40, f only 45.
	next := []interfaces.Entry{del("a", 45), set("f", 45, "f45")}
	in.apply(next...)
	m.apply(next)
	if err := in.s.SetDiscardTs(45); err != nil {
		t.Fatalf("conformance: SetDiscardTs(45): %v", err)
	}
	m.discardTs = 45
	if compact {
		if err := in.s.Compact(interfaces.KeyRange{}); err != nil {
			t.Fatalf("conformance: Compact: %v", err)
		}
		in.wantItems("AllVersions walk after SetDiscardTs(45) and Compact(all)", in.walk(all), []item{
			setItem("c", 40, "c40"), setItem("d", 35, "d35"), setItem("f", 45, "f45"),
		})
	}
	in.wantReadsFrom("after SetDiscardTs(45)", m, []uint64{45, interfaces.MaxTs})
	in.wantState("after SetDiscardTs(45)", m, 45)

	if sc.has(interfaces.CapDurable) {
		in.flush()
		in.reopen()
		in.wantReadsFrom("after SetDiscardTs(45), Flush and Reopen", m, []uint64{45, interfaces.MaxTs})
		in.wantState("after SetDiscardTs(45), Flush and Reopen", m, 45)
		in.crash(0.5, 4)
		in.wantReadsFrom("after SetDiscardTs(45), Flush and a crash", m, []uint64{45, interfaces.MaxTs})
	}
	if compact {
		// Compacting part of the range changes no read at or above the
		// discard ts.
		in2 := sc.open(t)
		m2 := newStorageModel()
		for _, b := range gcBatches() {
			in2.apply(b...)
			m2.apply(b)
		}
		if err := in2.s.SetDiscardTs(30); err != nil {
			t.Fatalf("conformance: SetDiscardTs(30): %v", err)
		}
		m2.discardTs = 30
		for _, r := range []interfaces.KeyRange{
			{Start: []byte("b"), End: []byte("d")},
			{End: []byte("b")},
			{Start: []byte("e")},
			{Start: []byte("c"), End: []byte("c")},
		} {
			if err := in2.s.Compact(r); err != nil {
				t.Fatalf("conformance: Compact([%s, %s)): %v", fmtKey(r.Start), fmtKey(r.End), err)
			}
			in2.wantReadsFrom(fmt.Sprintf("after Compact([%s, %s))", fmtKey(r.Start), fmtKey(r.End)), m2, []uint64{30, 40, interfaces.MaxTs})
			in2.wantState("after a partial Compact", m2, 30)
		}
	}
}

func (sc *storageSuite) testCompact(t T) {
	in := sc.open(t)
	if !sc.has(interfaces.CapCompact) {
		wantUnsupported(t, interfaces.CapCompact, "Compact(all)", in.s.Compact(interfaces.KeyRange{}))
		wantUnsupported(t, interfaces.CapCompact, "Compact([a, b))", in.s.Compact(interfaces.KeyRange{Start: []byte("a"), End: []byte("b")}))
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapCompact)
	}
	if err := in.s.Compact(interfaces.KeyRange{}); err != nil {
		t.Fatalf("conformance: Compact of an empty store: %v", err)
	}
	m := newStorageModel()
	for _, b := range gcBatches() {
		in.apply(b...)
		m.apply(b)
	}
	// No discard ts: nothing may go.
	for _, r := range []interfaces.KeyRange{
		{},
		{End: []byte("b")},
		{Start: []byte("b")},
		{Start: []byte("b"), End: []byte("b")},
		{Start: []byte("x"), End: []byte("y")},
		{Start: []byte{}, End: []byte("\xff")},
	} {
		if err := in.s.Compact(r); err != nil {
			t.Fatalf("conformance: Compact([%s, %s)): %v", fmtKey(r.Start), fmtKey(r.End), err)
		}
		in.wantItems(fmt.Sprintf("AllVersions walk after Compact([%s, %s)) with no discard ts", fmtKey(r.Start), fmtKey(r.End)),
			in.walk(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}), expectItems(m, interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}))
	}
}

// expectItems returns m's expected items for opts with no discard ts.
func expectItems(m *storageModel, opts interfaces.IterOptions) []item {
	var out []item
	for _, e := range m.expect(opts, 0, 0) {
		out = append(out, e.item)
	}
	return out
}

func (sc *storageSuite) testUseAfterClose(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a"))
	if sc.has(interfaces.CapDurable) {
		in.flush()
	}
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs}
	it, err := in.s.NewIterator(opts)
	if err != nil {
		t.Fatalf("conformance: NewIterator: %v", err)
	}
	it.First()
	in.closeIter(it, opts)
	in.close()
	s := in.s
	closed := func(op string, err error, c interfaces.Capability) {
		t.Helper()
		if errors.Is(err, interfaces.ErrClosed) {
			return
		}
		if c != "" && !sc.has(c) && errors.Is(err, interfaces.ErrUnsupported) {
			return
		}
		t.Errorf("conformance: %s after Close returned %v; want ErrClosed", op, err)
	}
	closed("Apply", s.Apply([]interfaces.Entry{set("b", 2, "b")}), "")
	_, _, err = s.Get([]byte("a"), interfaces.MaxTs)
	closed("Get", err, "")
	it, err = s.NewIterator(opts)
	closed("NewIterator", err, "")
	if it != nil {
		_ = it.Close()
	}
	_, err = s.Flush()
	closed("Flush", err, "")
	_, err = s.DurableTs()
	closed("DurableTs", err, "")
	closed("SetDiscardTs", s.SetDiscardTs(1), interfaces.CapDiscard)
	closed("Compact", s.Compact(interfaces.KeyRange{}), interfaces.CapCompact)
	closed("Check", s.Check(), interfaces.CapCheck)
	_, err = s.Stats()
	closed("Stats", err, "")
	closed("a second Close", s.Close(), "")
	if d := s.Describe(); d.Kind != interfaces.KindStorage {
		t.Errorf("conformance: Describe after Close = %+v", d)
	}
}

func (sc *storageSuite) testInvalidArguments(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a"))
	bad := [][]interfaces.Entry{
		{{Key: []byte("b"), Ts: 0, Kind: interfaces.KindSet, Value: []byte("x")}},
		{{Key: []byte("b"), Ts: 2, Kind: 0, Value: []byte("x")}},
		{{Key: []byte("b"), Ts: 2, Kind: 3, Value: []byte("x")}},
		{set("b", 2, "x"), {Key: []byte("c"), Ts: 2, Kind: 9}},
		{set("b", 2, "x"), set("b", 3, "y"), {Key: []byte("c"), Ts: 0, Kind: interfaces.KindSet}},
	}
	for _, es := range bad {
		err := in.s.Apply(es)
		if !errors.Is(err, interfaces.ErrInvalidArgument) {
			t.Errorf("conformance: Apply(%s) returned %v; want ErrInvalidArgument", fmtEntries(es), err)
		}
		// Nothing changed: not even the valid entries of the call.
		in.wantAbsent("b", interfaces.MaxTs)
		in.wantAbsent("c", interfaces.MaxTs)
		in.wantGet("a", interfaces.MaxTs, "a", 1)
	}
	// The rejected calls used no ts: ts 2 is still free.
	in.apply(set("b", 2, "b2"))
	in.wantGet("b", interfaces.MaxTs, "b2", 2)
	in.wantItems("walk after the rejected Applies", in.walk(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}),
		[]item{setItem("a", 1, "a"), setItem("b", 2, "b2")})

	if sc.has(interfaces.CapCompact) {
		err := in.s.Compact(interfaces.KeyRange{Start: []byte("z"), End: []byte("a")})
		if !errors.Is(err, interfaces.ErrInvalidArgument) {
			t.Errorf("conformance: Compact of the inverted range [z, a) returned %v; want ErrInvalidArgument", err)
		}
	}
	// An iterator over crossed bounds is an error or empty.
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: []byte("z"), UpperBound: []byte("a")}
	it, err := in.s.NewIterator(opts)
	switch {
	case err != nil && !errors.Is(err, interfaces.ErrInvalidArgument):
		t.Errorf("conformance: NewIterator(%s) returned %v; want ErrInvalidArgument or an empty iterator", fmtOpts(opts), err)
	case err == nil:
		if it.First() || it.Seek([]byte("b")) {
			t.Errorf("conformance: an iterator over crossed bounds %s yields %q", fmtOpts(opts), it.Key())
		}
		_ = it.Close()
	}
	in.wantGet("a", interfaces.MaxTs, "a", 1)
}

func (sc *storageSuite) testCheck(t T) {
	in := sc.open(t)
	check := func(when string) {
		t.Helper()
		if err := in.s.Check(); err != nil {
			t.Errorf("conformance: Check %s: %v", when, err)
		}
	}
	if !sc.has(interfaces.CapCheck) {
		wantUnsupported(t, interfaces.CapCheck, "Check", in.s.Check())
		t.Skipf("conformance: the storage does not claim %s", interfaces.CapCheck)
	}
	check("on a fresh instance")
	for _, b := range gcBatches() {
		in.apply(b...)
	}
	check("after Apply")
	in.flush()
	check("after Flush")
	in.apply(set("z", 50, "z"))
	in.reopen()
	check("after Reopen")
	if sc.has(interfaces.CapDiscard) && sc.has(interfaces.CapCompact) {
		if err := in.s.SetDiscardTs(30); err != nil {
			t.Fatalf("conformance: SetDiscardTs: %v", err)
		}
		if err := in.s.Compact(interfaces.KeyRange{}); err != nil {
			t.Fatalf("conformance: Compact: %v", err)
		}
		check("after Compact")
		in.flush()
		check("after Flush with a discard ts")
	}
	in.crash(0.5, 11)
	check("after a crash")
}

func (sc *storageSuite) testStats(t T) {
	in := sc.open(t)
	st := in.stats()
	if st.AppliedTs != 0 || st.DurableTs != 0 || st.DiscardTs != 0 || st.DiskBytes < 0 || st.MemBytes < 0 {
		t.Errorf("conformance: Stats of a fresh instance = %+v", st)
	}
	for ts := uint64(1); ts <= 5; ts++ {
		in.apply(set(fmt.Sprint("k", ts), ts, "value"))
	}
	st = in.stats()
	if st.AppliedTs != 5 {
		t.Errorf("conformance: Stats().AppliedTs = %d after applying up to ts 5", st.AppliedTs)
	}
	if d := in.durableTs(); st.DurableTs != d {
		t.Errorf("conformance: Stats().DurableTs = %d; DurableTs() = %d", st.DurableTs, d)
	}
	in.flush()
	st = in.stats()
	if st.DurableTs != in.durableTs() {
		t.Errorf("conformance: Stats().DurableTs = %d after Flush; DurableTs() = %d", st.DurableTs, in.durableTs())
	}
	if sc.has(interfaces.CapDurable) && st.DiskBytes <= 0 {
		t.Errorf("conformance: Stats().DiskBytes = %d after flushing versions with %s", st.DiskBytes, interfaces.CapDurable)
	}
	if st.MemBytes < 0 || st.DiskBytes < 0 {
		t.Errorf("conformance: Stats reports negative sizes: %+v", st)
	}
	for name := range st.Metrics {
		if name == "" {
			t.Errorf("conformance: Stats().Metrics has an empty name")
		}
	}
	if sc.has(interfaces.CapDiscard) {
		if err := in.s.SetDiscardTs(3); err != nil {
			t.Fatalf("conformance: SetDiscardTs(3): %v", err)
		}
		if err := in.s.SetDiscardTs(2); err != nil {
			t.Fatalf("conformance: SetDiscardTs(2): %v", err)
		}
		if st := in.stats(); st.DiscardTs != 3 {
			t.Errorf("conformance: Stats().DiscardTs = %d after SetDiscardTs(3) and SetDiscardTs(2); want 3", st.DiscardTs)
		}
	}
}
