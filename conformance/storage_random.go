package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/lightningdb/lightning/interfaces"
)

// testRandom runs seeded random operation sequences against the model.
// Run r uses seed+r, so a failing run is replayed as run 0 with
// LIGHTNING_CONFORMANCE_SEED set to the seed it prints.
func (sc *storageSuite) testRandom(t T) {
	base := seed()
	runs, ops := 4, 1500
	if short(t) {
		runs, ops = 1, 250
	}
	for r := range runs {
		s := base + int64(r)
		storageRun(t, fmt.Sprintf("run%d", r), func(t T) {
			rr := newRandomRun(t, sc, s)
			rr.run(ops)
		})
	}
}

// randomRun is one random sequence: the instance, the model it must match,
// and the log of what was done, printed on failure.
type randomRun struct {
	t    T
	sc   *storageSuite
	in   *instance
	seed int64
	rng  *rand.Rand
	m    *storageModel
	keys [][]byte

	nextTs uint64
	// compactedAt is the discard ts of the last Compact(KeyRange{}) (with
	// CapDiscard) since the last crash or reopen: no version it lets go
	// may remain. It is what this life of the instance was told
	// (lifeDiscard), which after a restart can be below the model's
	// discard ts: the engine may have forgotten the higher one.
	compactedAt uint64
	// lifeDiscard is the highest ts passed to SetDiscardTs since the
	// instance was opened; lifeApplied says Apply ran since then.
	lifeDiscard uint64
	lifeApplied bool

	// lastGet is the value the last successful Get returned, which the
	// run scribbled over, and lastGetWant what it must still hold: a
	// value returned by Get belongs to the caller.
	lastGet, lastGetWant []byte

	step int
	log  []string
}

func newRandomRun(t T, sc *storageSuite, seed int64) *randomRun {
	r := &randomRun{
		t:      t,
		sc:     sc,
		seed:   seed,
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x6c696768746e696e)),
		m:      newStorageModel(),
		nextTs: 1,
	}
	r.keys = randomAlphabet(r.rng)
	r.in = sc.open(t)
	r.in.failf = r.fail
	return r
}

// randomAlphabet returns the keys a run draws from: few enough that keys
// collide and get many versions, sharing prefixes, with the empty key and
// 0x00 and 0xff bytes at both ends, plus a few random and long ones.
func randomAlphabet(rng *rand.Rand) [][]byte {
	fixed := []string{
		"", "\x00", "\x00\x00", "\x00\xff", "\x01", "a", "a\x00", "a\x00\x00", "a\xff",
		"aa", "ab", "abc", "abc\xff", "abd", "b", "ba", "bb", "k", "\xfe", "\xfe\xff",
		"\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff",
	}
	keys := make([][]byte, 0, len(fixed)+8)
	for _, k := range fixed {
		keys = append(keys, []byte(k))
	}
	alphabet := []byte{0x00, 'a', 'b', 0xfe, 0xff}
	for range 5 {
		k := make([]byte, 1+rng.IntN(5))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, k)
	}
	long := make([]byte, 200+rng.IntN(800))
	for i := range long {
		long[i] = byte(rng.IntN(256))
	}
	keys = append(keys, long, append(bytes.Clone(long), 0x00))
	return keys
}

func (r *randomRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf("%4d  ", r.step)+fmt.Sprintf(format, args...))
}

// fail stops the run, printing the seed and every operation done.
func (r *randomRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("conformance: %s\n\nrandom run with seed %d failed at step %d; replay with LIGHTNING_CONFORMANCE_SEED=%d\noperations:\n%s",
		fmt.Sprintf(format, args...), r.seed, r.step, r.seed, strings.Join(r.log, "\n"))
}

func (r *randomRun) run(ops int) {
	type op struct {
		weight int
		fn     func()
	}
	table := []op{
		{26, r.opApply},
		{20, r.opGet},
		{20, r.opIterate},
		{4, r.opIterateDuringApply},
		{7, r.opFlush},
		{3, r.opCrash},
		{2, r.opReopen},
		{6, r.opDiscard},
		{2, r.opCheck},
		{3, r.opStats},
		{2, r.verifyAll},
	}
	total := 0
	for _, o := range table {
		total += o.weight
	}
	for r.step = 0; r.step < ops; r.step++ {
		n := r.rng.IntN(total)
		for _, o := range table {
			if n < o.weight {
				o.fn()
				break
			}
			n -= o.weight
		}
	}
	r.verifyAll()
	if r.sc.has(interfaces.CapCheck) {
		if err := r.in.s.Check(); err != nil {
			r.fail("Check at the end of the run: %v", err)
		}
	}
	r.in.close()
}

// pickKey returns a key of the alphabet.
func (r *randomRun) pickKey() []byte { return r.keys[r.rng.IntN(len(r.keys))] }

// probeKey returns a key to look up, seek or bound with: usually one of
// the alphabet, sometimes right next to one, sometimes anything.
func (r *randomRun) probeKey() []byte {
	k := r.pickKey()
	switch r.rng.IntN(10) {
	case 0:
		return append(bytes.Clone(k), 0x00)
	case 1:
		if len(k) > 0 {
			return bytes.Clone(k[:len(k)-1])
		}
	case 2:
		b := make([]byte, r.rng.IntN(4))
		for i := range b {
			b[i] = []byte{0x00, 'a', 'b', 'c', 0xfe, 0xff}[r.rng.IntN(6)]
		}
		return b
	}
	return bytes.Clone(k)
}

func (r *randomRun) randValue() []byte {
	var n int
	switch x := r.rng.IntN(20); {
	case x < 2:
		if r.rng.IntN(2) == 0 {
			return nil
		}
		return []byte{}
	case x < 14:
		n = 1 + r.rng.IntN(16)
	case x < 19:
		n = 17 + r.rng.IntN(240)
	default:
		n = 257 + r.rng.IntN(4000)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(r.rng.IntN(256))
	}
	return v
}

// readTs returns a read ts: MaxTs, the applied ts, a little above it, or
// anything from 1 up.
func (r *randomRun) readTs() uint64 {
	a := max(r.m.appliedTs, 1)
	switch r.rng.IntN(10) {
	case 0, 1, 2:
		return interfaces.MaxTs
	case 3, 4:
		return a
	case 5:
		return a + 1 + r.rng.Uint64N(5)
	}
	return 1 + r.rng.Uint64N(a)
}

func (r *randomRun) randIterOptions() interfaces.IterOptions {
	opts := interfaces.IterOptions{
		ReadTs:      r.readTs(),
		Reverse:     r.rng.IntN(2) == 0,
		AllVersions: r.rng.IntN(3) == 0,
	}
	if r.rng.IntN(2) == 0 {
		opts.LowerBound = r.probeKey()
	}
	if r.rng.IntN(2) == 0 {
		opts.UpperBound = r.probeKey()
	}
	if lo, hi := opts.LowerBound, opts.UpperBound; lo != nil && hi != nil && bytes.Compare(lo, hi) > 0 {
		opts.LowerBound, opts.UpperBound = hi, lo
	}
	switch r.rng.IntN(20) {
	case 0:
		opts.UpperBound = []byte{}
		opts.LowerBound = nil
	case 1:
		if opts.LowerBound != nil {
			opts.UpperBound = bytes.Clone(opts.LowerBound)
		}
	}
	if r.rng.IntN(3) == 0 {
		k := r.pickKey()
		opts.Prefix = bytes.Clone(k[:r.rng.IntN(len(k)+1)])
	}
	return opts
}

func cloneOpts(o interfaces.IterOptions) interfaces.IterOptions {
	o.LowerBound = cloneKey(o.LowerBound)
	o.UpperBound = cloneKey(o.UpperBound)
	o.Prefix = cloneKey(o.Prefix)
	return o
}

// cloneKey copies b, keeping nil and empty apart.
func cloneKey(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (r *randomRun) opApply() {
	n := 1 + r.rng.IntN(6)
	if r.rng.IntN(8) == 0 {
		n = 1 + r.rng.IntN(40)
	}
	ts := r.nextTs + r.rng.Uint64N(3)
	used := map[string]bool{}
	entries := make([]interfaces.Entry, 0, n)
	for i := range n {
		if i > 0 && r.rng.IntN(3) == 0 {
			ts += 1 + r.rng.Uint64N(2)
			clear(used)
		}
		k := r.pickKey()
		if used[string(k)] {
			ts++
			clear(used)
		}
		used[string(k)] = true
		e := interfaces.Entry{Key: bytes.Clone(k), Ts: ts, Kind: interfaces.KindSet, Value: r.randValue()}
		if r.rng.IntN(4) == 0 {
			e.Kind = interfaces.KindDelete
			if r.rng.IntN(4) != 0 {
				// A tombstone's value is ignored: usually there is none.
				e.Value = nil
			}
		}
		entries = append(entries, e)
	}
	r.nextTs = ts + 1
	r.logf("Apply %s", fmtEntries(entries))
	r.in.apply(entries...)
	r.m.apply(entries)
	r.lifeApplied = true
	if entries[0].Ts <= r.m.discardTs {
		// After a crash the discard ts can be above the applied ts: new
		// versions at or below it make older ones droppable, which no
		// Compact has dropped yet.
		r.compactedAt = 0
	}
	// The caller reuses its buffers once Apply returns.
	for _, e := range entries {
		scribble(e.Key)
		scribble(e.Value)
	}
}

func (r *randomRun) opGet() {
	key, readTs := r.probeKey(), r.readTs()
	r.logf("Get(%s, %s)", fmtKey(key), fmtTs(readTs))
	k := string(key)
	v, ts, err := r.in.s.Get(key, readTs)
	scribble(key)
	if err != nil && !errors.Is(err, interfaces.ErrNotFound) {
		r.fail("Get(%q, %s): %v", k, fmtTs(readTs), err)
	}
	if !bytes.Equal(r.lastGet, r.lastGetWant) {
		r.fail("a value an earlier Get returned changed from %q to %q: the caller owns it", abbrev(string(r.lastGetWant)), abbrev(string(r.lastGet)))
	}
	defer func() {
		if err == nil {
			scribble(v)
			r.lastGet, r.lastGetWant = v, bytes.Clone(v)
		}
	}()
	if readTs >= r.m.discardTs {
		want, ok := r.m.visible(k, readTs)
		switch {
		case !ok && err == nil:
			r.fail("Get(%q, %s) = %q at ts %d; want ErrNotFound", k, fmtTs(readTs), v, ts)
		case ok && err != nil:
			r.fail("Get(%q, %s): ErrNotFound; want %q at ts %d", k, fmtTs(readTs), abbrev(string(want.value)), want.ts)
		case ok && (ts != want.ts || !bytes.Equal(v, want.value)):
			r.fail("Get(%q, %s) = %q at ts %d; want %q at ts %d", k, fmtTs(readTs), abbrev(string(v)), ts, abbrev(string(want.value)), want.ts)
		}
		return
	}
	// Below the discard ts only what is returned is checked.
	if err == nil {
		mv, ok := r.m.lookup(k, ts)
		if !ok || mv.kind != interfaces.KindSet || !bytes.Equal(mv.value, v) || ts > readTs {
			r.fail("Get(%q, %s) below the discard ts %d = %q at ts %d, which is not a value version visible at that ts",
				k, fmtTs(readTs), r.m.discardTs, abbrev(string(v)), ts)
		}
	}
}

// iterCheck checks one walk of an iterator.
type iterCheck struct {
	opts    interfaces.IterOptions
	want    []expItem
	m       *storageModel
	loose   bool
	limitTs uint64
}

func (r *randomRun) newCheck(opts interfaces.IterOptions) *iterCheck {
	c := &iterCheck{
		opts:    opts,
		m:       r.m.clone(),
		loose:   !opts.AllVersions && opts.ReadTs < r.m.discardTs,
		limitTs: min(opts.ReadTs, r.m.appliedTs),
	}
	c.want = r.m.expect(opts, r.m.discardTs, r.compactedAt)
	return c
}

func (r *randomRun) opIterate() { r.iterate(false) }

func (r *randomRun) opIterateDuringApply() { r.iterate(true) }

// iterate opens an iterator and walks it in a random way: whole, from a
// seek, or several seeks on one iterator. With applyFirst, more versions
// are applied (and maybe flushed) between NewIterator and the walk: the
// iterator must not see them.
func (r *randomRun) iterate(applyFirst bool) {
	opts := r.randIterOptions()
	chk := r.newCheck(cloneOpts(opts))
	r.logf("NewIterator(%s)", fmtOpts(opts))
	it, err := r.in.s.NewIterator(opts)
	if err != nil {
		r.fail("NewIterator(%s): %v", fmtOpts(chk.opts), err)
	}
	// The bounds belong to the caller once NewIterator returns.
	scribble(opts.LowerBound)
	scribble(opts.UpperBound)
	scribble(opts.Prefix)
	if applyFirst {
		r.opApply()
		if r.rng.IntN(2) == 0 {
			r.opFlush()
		}
	}
	rounds := 1
	if r.rng.IntN(3) == 0 {
		rounds = 2 + r.rng.IntN(3)
	}
	for range rounds {
		var seek []byte
		if r.rng.IntN(2) == 0 {
			seek = r.probeKey()
		}
		steps := -1 // to the end
		if r.rng.IntN(2) == 0 {
			steps = r.rng.IntN(12)
		}
		r.walkAndCheck(it, chk, seek, steps)
	}
	if err := it.Err(); err != nil {
		r.fail("iterator %s: Err: %v", fmtOpts(chk.opts), err)
	}
	if err := it.Close(); err != nil {
		r.fail("iterator %s: Close: %v", fmtOpts(chk.opts), err)
	}
}

// walkAndCheck positions it with First (seek nil) or Seek(seek), moves up
// to steps more times (all the way with -1), and checks what it saw.
func (r *randomRun) walkAndCheck(it interfaces.Iterator, chk *iterCheck, seek []byte, steps int) {
	var ok bool
	var what string
	if seek == nil {
		what = "First"
		ok = it.First()
	} else {
		what = fmt.Sprintf("Seek(%s)", fmtKey(seek))
		target := bytes.Clone(seek)
		ok = it.Seek(seek)
		scribble(seek)
		seek = target
	}
	r.logf("  %s, then Next up to %d times", what, steps)
	var got []item
	for ok {
		if it.Valid() != ok {
			r.fail("iterator %s: a move returned true but Valid is false", fmtOpts(chk.opts))
		}
		got = append(got, r.in.current(it, chk.opts))
		if steps >= 0 && len(got) > steps {
			break
		}
		if len(got) > 100_000 {
			r.fail("iterator %s does not end", fmtOpts(chk.opts))
		}
		ok = it.Next()
	}
	complete := !ok
	if complete && it.Valid() {
		r.fail("iterator %s: a move returned false but Valid is true", fmtOpts(chk.opts))
	}
	var problem string
	if chk.loose {
		problem = chk.m.checkLoose(got, chk.opts, chk.limitTs, seek)
	} else {
		start := 0
		if seek != nil {
			start = seekIndex(chk.want, seek, chk.opts.Reverse)
		}
		problem = matchItems(got, chk.want, start, complete)
	}
	if problem != "" {
		var want []item
		for _, w := range chk.want {
			want = append(want, w.item)
		}
		r.fail("iterator %s, %s: %s\n got  %v\n want %v (optional versions may be absent)",
			fmtOpts(chk.opts), what, problem, fmtItems(got), fmtItems(want))
	}
}

func (r *randomRun) opFlush() {
	r.logf("Flush")
	ts := r.in.flush()
	if ts != r.m.appliedTs {
		r.fail("Flush = %d; want the highest applied ts %d", ts, r.m.appliedTs)
	}
	if r.sc.has(interfaces.CapDurable) {
		if d := r.in.durableTs(); d != ts {
			r.fail("DurableTs = %d right after Flush returned %d", d, ts)
		}
	}
}

// afterRestart checks and adopts the state an instance came back with:
// with CapDurable, DurableTs has not gone down and the instance holds
// exactly the versions up to it; without, it is empty.
func (r *randomRun) afterRestart(what string, before uint64) {
	after := r.in.durableTs()
	r.logf("  DurableTs after %s = %d", what, after)
	if r.sc.has(interfaces.CapDurable) {
		if after < before || after > r.m.appliedTs {
			r.fail("DurableTs after %s = %d; it was %d before, and the highest applied ts is %d",
				what, after, before, r.m.appliedTs)
		}
		r.m.truncate(after)
	} else {
		if after != 0 {
			r.fail("DurableTs after %s = %d; want 0 without %s", what, after, interfaces.CapDurable)
		}
		r.m.truncate(0)
	}
	r.compactedAt, r.lifeDiscard, r.lifeApplied = 0, 0, false
	r.verifyAll()
}

func (r *randomRun) opCrash() {
	keep := []float64{0, 0.5, 1}[r.rng.IntN(3)]
	seed := r.rng.Uint64()
	before := r.in.durableTs()
	r.logf("Crash(keepUnsynced %.1f, seed %d)", keep, seed)
	r.in.crash(keep, seed)
	r.afterRestart("the crash", before)
}

func (r *randomRun) opReopen() {
	before := r.in.durableTs()
	r.logf("Reopen")
	r.in.reopen()
	r.afterRestart("Reopen", before)
}

func (r *randomRun) opDiscard() {
	if !r.sc.has(interfaces.CapDiscard) {
		r.logf("SetDiscardTs (unsupported)")
		wantUnsupportedRun(r, interfaces.CapDiscard, "SetDiscardTs", r.in.s.SetDiscardTs(r.m.appliedTs))
	} else {
		var d uint64
		if r.m.discardTs > 0 && r.rng.IntN(4) == 0 {
			d = r.rng.Uint64N(r.m.discardTs) // lower: ignored
		} else if r.m.appliedTs > r.m.discardTs {
			d = r.m.discardTs + r.rng.Uint64N(r.m.appliedTs-r.m.discardTs+1)
		} else {
			d = r.m.discardTs
		}
		r.logf("SetDiscardTs(%d)", d)
		if err := r.in.s.SetDiscardTs(d); err != nil {
			r.fail("SetDiscardTs(%d): %v", d, err)
		}
		r.m.discardTs = max(r.m.discardTs, d)
		r.lifeDiscard = max(r.lifeDiscard, d)
	}
	if !r.sc.has(interfaces.CapCompact) {
		r.logf("Compact (unsupported)")
		wantUnsupportedRun(r, interfaces.CapCompact, "Compact", r.in.s.Compact(interfaces.KeyRange{}))
		return
	}
	switch x := r.rng.IntN(20); {
	case x < 12:
		r.logf("Compact(all)")
		if err := r.in.s.Compact(interfaces.KeyRange{}); err != nil {
			r.fail("Compact(all): %v", err)
		}
		if r.sc.has(interfaces.CapDiscard) {
			r.compactedAt = r.lifeDiscard
		}
	case x < 17:
		kr := interfaces.KeyRange{}
		if r.rng.IntN(3) != 0 {
			kr.Start = r.probeKey()
		}
		if r.rng.IntN(3) != 0 {
			kr.End = r.probeKey()
		}
		if kr.Start != nil && kr.End != nil && bytes.Compare(kr.Start, kr.End) > 0 {
			kr.Start, kr.End = kr.End, kr.Start
		}
		r.logf("Compact([%s, %s))", fmtKey(kr.Start), fmtKey(kr.End))
		if err := r.in.s.Compact(kr); err != nil {
			r.fail("Compact([%s, %s)): %v", fmtKey(kr.Start), fmtKey(kr.End), err)
		}
	}
}

func wantUnsupportedRun(r *randomRun, c interfaces.Capability, op string, err error) {
	if !errors.Is(err, interfaces.ErrUnsupported) {
		r.fail("%s without %s returned %v; want ErrUnsupported", op, c, err)
	}
}

func (r *randomRun) opCheck() {
	r.logf("Check")
	err := r.in.s.Check()
	if !r.sc.has(interfaces.CapCheck) {
		wantUnsupportedRun(r, interfaces.CapCheck, "Check", err)
		return
	}
	if err != nil {
		r.fail("Check on a healthy instance: %v", err)
	}
}

func (r *randomRun) opStats() {
	r.logf("Stats")
	d := r.in.durableTs()
	st := r.in.stats()
	switch {
	case st.DurableTs < d:
		r.fail("Stats().DurableTs = %d; DurableTs() just returned %d", st.DurableTs, d)
	case r.lifeApplied && st.AppliedTs != r.m.appliedTs:
		r.fail("Stats().AppliedTs = %d; want the highest applied ts %d", st.AppliedTs, r.m.appliedTs)
	case st.AppliedTs > r.m.appliedTs:
		r.fail("Stats().AppliedTs = %d, above the highest applied ts %d", st.AppliedTs, r.m.appliedTs)
	case st.DiskBytes < 0 || st.MemBytes < 0:
		r.fail("Stats() reports negative sizes: DiskBytes %d, MemBytes %d", st.DiskBytes, st.MemBytes)
	case r.sc.has(interfaces.CapDiscard) && (st.DiscardTs < r.lifeDiscard || st.DiscardTs > r.m.discardTs):
		r.fail("Stats().DiscardTs = %d; SetDiscardTs was given at most %d, and %d since the last open",
			st.DiscardTs, r.m.discardTs, r.lifeDiscard)
	}
}

// verifyAll checks every key of the alphabet with Get and the whole store
// with a forward AllVersions walk and a reverse walk, at MaxTs.
func (r *randomRun) verifyAll() {
	r.logf("verify everything")
	for _, k := range r.keys {
		want, ok := r.m.visible(string(k), interfaces.MaxTs)
		v, ts, err := r.in.s.Get(k, interfaces.MaxTs)
		switch {
		case ok && err != nil:
			r.fail("Get(%q, MaxTs): %v; want %q at ts %d", k, err, abbrev(string(want.value)), want.ts)
		case !ok && !errors.Is(err, interfaces.ErrNotFound):
			r.fail("Get(%q, MaxTs) = %q at ts %d, err %v; want ErrNotFound", k, abbrev(string(v)), ts, err)
		case ok && (ts != want.ts || !bytes.Equal(v, want.value)):
			r.fail("Get(%q, MaxTs) = %q at ts %d; want %q at ts %d", k, abbrev(string(v)), ts, abbrev(string(want.value)), want.ts)
		}
	}
	for _, opts := range []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs, AllVersions: true},
		{ReadTs: interfaces.MaxTs, Reverse: true},
	} {
		chk := r.newCheck(opts)
		it, err := r.in.s.NewIterator(opts)
		if err != nil {
			r.fail("NewIterator(%s): %v", fmtOpts(opts), err)
		}
		r.walkAndCheck(it, chk, nil, -1)
		if err := it.Close(); err != nil {
			r.fail("iterator %s: Close: %v", fmtOpts(opts), err)
		}
	}
}
