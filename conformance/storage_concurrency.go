package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
)

// The concurrency cases. A workload is generated up front, so the model is
// complete and read-only while goroutines check reads against it; every
// value encodes its key and ts, so a value torn between versions or keys
// shows.

// workload is a precomputed sequence of Apply batches and the model of all
// of them.
type workload struct {
	batches [][]interfaces.Entry
	ends    []uint64 // ends[i] is the highest ts of batches[i]
	m       *storageModel
	keys    []string
}

func concurrentValue(key string, ts uint64) string { return fmt.Sprintf("%s@%d", key, ts) }

func newWorkload(rng *rand.Rand, batches, keys int) *workload {
	w := &workload{m: newStorageModel()}
	for i := range keys {
		w.keys = append(w.keys, fmt.Sprintf("k%02d", i))
	}
	ts := uint64(0)
	for range batches {
		ts++
		n := 1 + rng.IntN(8)
		used := map[string]bool{}
		var b []interfaces.Entry
		for range n {
			k := w.keys[rng.IntN(len(w.keys))]
			if used[k] || rng.IntN(4) == 0 {
				ts++
				clear(used)
			}
			used[k] = true
			if rng.IntN(5) == 0 {
				b = append(b, del(k, ts))
			} else {
				b = append(b, set(k, ts, concurrentValue(k, ts)))
			}
		}
		w.batches = append(w.batches, b)
		w.ends = append(w.ends, ts)
		w.m.apply(b)
	}
	return w
}

// readRegistry keeps SetDiscardTs below every read in flight, as the core
// does with its oldest live read ts: a reader registers its read ts, and
// the collector only raises the discard ts, under the same lock, to at
// most the lowest registered one.
type readRegistry struct {
	mu      sync.Mutex
	next    int
	active  map[int]uint64
	discard uint64
}

// register returns the published ts and a read ts in [discard, published],
// and keeps the discard ts at or below the read ts until release. The
// published ts is loaded under the lock: one loaded before could be below
// a discard ts raised meanwhile.
func (r *readRegistry) register(published *atomic.Uint64, rng *rand.Rand) (id int, p0, ts uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p0 = published.Load()
	ts = p0
	if p0 > r.discard && rng.IntN(2) == 0 {
		ts = r.discard + rng.Uint64N(p0-r.discard+1)
	}
	r.next++
	r.active[r.next] = ts
	return r.next, p0, ts
}

func (r *readRegistry) release(id int) {
	r.mu.Lock()
	delete(r.active, id)
	r.mu.Unlock()
}

// raise sets the discard ts to min(target, every registered read ts) with
// set, under the lock, and returns it.
func (r *readRegistry) raise(target uint64, set func(uint64) error) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range r.active {
		target = min(target, ts)
	}
	if target <= r.discard {
		return r.discard, nil
	}
	if err := set(target); err != nil {
		return r.discard, err
	}
	r.discard = target
	return target, nil
}

func (sc *storageSuite) testConcurrency(t T) {
	storageRun(t, "ReadersDuringApply", sc.testReadersDuringApply)
	storageRun(t, "FlushDuringApply", sc.testFlushDuringApply)
}

// testReadersDuringApply runs one writer, several readers (Get and
// iterators, at published read ts and at MaxTs), and — when claimed — a
// collector raising the discard ts and compacting, all at once.
func (sc *storageSuite) testReadersDuringApply(t T) {
	in := sc.open(t)
	s := in.s
	base := seed()
	batches, readers := 400, 3
	if short(t) {
		batches = 120
	}
	w := newWorkload(rand.New(rand.NewPCG(uint64(base), 1)), batches, 24)
	reg := &readRegistry{active: map[int]uint64{}}
	gc := sc.has(interfaces.CapDiscard)
	compact := gc && sc.has(interfaces.CapCompact)

	var (
		published atomic.Uint64 // the end ts of the last batch whose Apply returned
		done      atomic.Bool
		failed    atomic.Bool
		wg        sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf("conformance: %s (seed %d; LIGHTNING_CONFORMANCE_SEED replays it)", fmt.Sprintf(format, args...), base)
		}
		done.Store(true)
	}
	goroutine := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer recoverPanic(t)
			fn()
		}()
	}
	// inFlight is the highest ts a reader may see at MaxTs: the end of the
	// batch after the last published one.
	inFlight := func(p uint64) uint64 {
		for _, end := range w.ends {
			if end > p {
				return end
			}
		}
		return p
	}

	goroutine(func() {
		defer done.Store(true)
		for i, b := range w.batches {
			if done.Load() {
				return
			}
			if err := s.Apply(b); err != nil {
				fail("Apply(%s) during concurrent reads: %v", fmtEntries(b), err)
				return
			}
			published.Store(w.ends[i])
			if i%16 == 0 {
				runtime.Gosched()
			}
		}
	})
	for r := range readers {
		rng := rand.New(rand.NewPCG(uint64(base), uint64(100+r)))
		goroutine(func() {
			for iter := 0; !done.Load() || iter < 20; iter++ {
				if failed.Load() {
					return
				}
				if msg := sc.concurrentRead(s, w, reg, &published, inFlight, rng); msg != "" {
					fail("%s", msg)
					return
				}
			}
		})
	}
	if gc {
		rng := rand.New(rand.NewPCG(uint64(base), 7))
		goroutine(func() {
			for !done.Load() {
				p := published.Load()
				if p < 20 {
					runtime.Gosched()
					continue
				}
				if _, err := reg.raise(p-rng.Uint64N(20), s.SetDiscardTs); err != nil {
					fail("SetDiscardTs during Apply: %v", err)
					return
				}
				if compact {
					if err := s.Compact(interfaces.KeyRange{}); err != nil {
						fail("Compact during Apply: %v", err)
						return
					}
				}
				if _, err := s.Stats(); err != nil {
					fail("Stats during Apply: %v", err)
					return
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return
	}
	// Everything applied: the store matches the model exactly at and
	// above the discard ts.
	in.wantReadsFrom("after the concurrent run", w.m, []uint64{max(reg.discard, 1), interfaces.MaxTs})
	in.wantState("after the concurrent run", w.m, reg.discard)
}

// concurrentRead does one random read and returns what is wrong with it, or
// "".
func (sc *storageSuite) concurrentRead(s interfaces.Storage, w *workload, reg *readRegistry,
	published *atomic.Uint64, inFlight func(uint64) uint64, rng *rand.Rand,
) string {
	id, p0, readTs := reg.register(published, rng)
	defer reg.release(id)
	key := w.keys[rng.IntN(len(w.keys))]
	switch rng.IntN(5) {
	case 0:
		// Get at a read ts whose Apply has returned: exact.
		v, ts, err := s.Get([]byte(key), readTs)
		want, ok := w.m.visible(key, readTs)
		switch {
		case err != nil && !errors.Is(err, interfaces.ErrNotFound):
			return fmt.Sprintf("Get(%q, %d) during Apply: %v", key, readTs, err)
		case ok && (err != nil || ts != want.ts || !bytes.Equal(v, want.value)):
			return fmt.Sprintf("Get(%q, %d) during Apply = %q at ts %d, %v; want %q at ts %d", key, readTs, v, ts, err, want.value, want.ts)
		case !ok && err == nil:
			return fmt.Sprintf("Get(%q, %d) during Apply = %q at ts %d; want ErrNotFound", key, readTs, v, ts)
		}
	case 1:
		// Get at MaxTs: some state at least as new as p0.
		v, ts, err := s.Get([]byte(key), interfaces.MaxTs)
		floor, hasFloor := w.m.newest(key, p0)
		limit := inFlight(published.Load())
		switch {
		case err != nil && !errors.Is(err, interfaces.ErrNotFound):
			return fmt.Sprintf("Get(%q, MaxTs) during Apply: %v", key, err)
		case err != nil:
			// Absent: the read may see any part of the Apply in flight,
			// so absence needs the key absent or deleted at p0, or a
			// tombstone applied since.
			if hasFloor && floor.kind == interfaces.KindSet && !anyTombstone(w.m, key, p0, limit) {
				return fmt.Sprintf("Get(%q, MaxTs) during Apply: ErrNotFound, but %q@%d was published before the read", key, floor.value, floor.ts)
			}
		case string(v) != concurrentValue(key, ts):
			return fmt.Sprintf("Get(%q, MaxTs) during Apply = %q at ts %d: a value of another version", key, v, ts)
		case ts > limit:
			return fmt.Sprintf("Get(%q, MaxTs) during Apply returned ts %d, beyond anything applied (%d)", key, ts, limit)
		case hasFloor && ts < floor.ts:
			return fmt.Sprintf("Get(%q, MaxTs) during Apply returned ts %d, older than ts %d published before the read", key, ts, floor.ts)
		default:
			if mv, ok := w.m.lookup(key, ts); !ok || mv.kind != interfaces.KindSet {
				return fmt.Sprintf("Get(%q, MaxTs) during Apply returned ts %d, which is not a value version of the key", key, ts)
			}
		}
	case 2, 3:
		// A walk at a published read ts: exact.
		opts := interfaces.IterOptions{ReadTs: readTs, Reverse: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			opts.LowerBound = []byte(w.keys[rng.IntN(len(w.keys))])
		}
		got, err := walkAll(s, opts)
		if err != nil {
			return fmt.Sprintf("walk %s during Apply: %v", fmtOpts(opts), err)
		}
		if p := matchItems(got, w.m.expect(opts, 0, 0), 0, true); p != "" {
			return fmt.Sprintf("walk %s during Apply: %s; got %v", fmtOpts(opts), p, fmtItems(got))
		}
	case 4:
		// An AllVersions walk at MaxTs sees exactly the versions up to
		// the ts of some Apply that returned at or after p0.
		opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
		got, err := walkAll(s, opts)
		if err != nil {
			return fmt.Sprintf("walk %s during Apply: %v", fmtOpts(opts), err)
		}
		limit := inFlight(published.Load())
		var problem string
		// p0 is 0 or a batch end; the candidates are it and the batch
		// ends after it.
		for _, end := range append([]uint64{p0}, w.ends...) {
			if end < p0 || end > limit {
				continue
			}
			o := opts
			o.ReadTs = end
			if problem = matchItems(got, w.m.expect(o, readTs, 0), 0, true); problem == "" {
				return ""
			}
		}
		return fmt.Sprintf("walk %s during Apply matches the state after no Apply between ts %d and %d (%s); got %v",
			fmtOpts(opts), p0, limit, problem, fmtItems(got))
	}
	return ""
}

// anyTombstone reports whether key has a tombstone with ts in (from, to].
func anyTombstone(m *storageModel, key string, from, to uint64) bool {
	for _, v := range m.versions[key] {
		if v.ts > from && v.ts <= to && v.kind == interfaces.KindDelete {
			return true
		}
	}
	return false
}

// walkAll reads a whole iterator, for goroutines that cannot fail the
// test directly.
func walkAll(s interfaces.Storage, opts interfaces.IterOptions) ([]item, error) {
	it, err := s.NewIterator(opts)
	if err != nil {
		return nil, err
	}
	var got []item
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, item{key: string(it.Key()), ts: it.Ts(), kind: it.Kind(), value: string(it.Value())})
	}
	if err := it.Err(); err != nil {
		_ = it.Close()
		return nil, err
	}
	return got, it.Close()
}

// testFlushDuringApply flushes while a writer applies: each Flush covers at
// least what was applied before it began, DurableTs never goes down, and a
// crash afterwards leaves exactly the versions up to DurableTs.
func (sc *storageSuite) testFlushDuringApply(t T) {
	in := sc.open(t)
	s := in.s
	base := seed()
	batches := 300
	if short(t) {
		batches = 100
	}
	w := newWorkload(rand.New(rand.NewPCG(uint64(base), 2)), batches, 16)
	stopAt := batches/2 + rand.New(rand.NewPCG(uint64(base), 3)).IntN(batches/2)
	var (
		published atomic.Uint64
		done      atomic.Bool
		failed    atomic.Bool
		wg        sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf("conformance: %s (seed %d)", fmt.Sprintf(format, args...), base)
		}
		done.Store(true)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer recoverPanic(t)
		defer done.Store(true)
		for i := range stopAt {
			if done.Load() {
				return
			}
			if err := s.Apply(w.batches[i]); err != nil {
				fail("Apply during Flush: %v", err)
				return
			}
			published.Store(w.ends[i])
		}
	}()
	go func() {
		defer wg.Done()
		defer recoverPanic(t)
		last := uint64(0)
		for !done.Load() {
			p0 := published.Load()
			d, err := s.Flush()
			if err != nil {
				fail("Flush during Apply: %v", err)
				return
			}
			p1 := published.Load()
			limit := p1
			for _, end := range w.ends {
				if end > p1 {
					limit = end
					break
				}
			}
			dts, err := s.DurableTs()
			switch {
			case err != nil:
				fail("DurableTs during Apply: %v", err)
				return
			case d < p0:
				fail("Flush during Apply returned %d; ts %d was applied before it began", d, p0)
				return
			case d > limit:
				fail("Flush during Apply returned %d, beyond anything applied (%d)", d, limit)
				return
			case sc.has(interfaces.CapDurable) && (dts < d || dts < last):
				fail("DurableTs = %d after Flush returned %d (it was %d before)", dts, d, last)
				return
			}
			last = dts
			runtime.Gosched()
		}
	}()
	wg.Wait()
	if failed.Load() {
		return
	}
	applied := w.ends[stopAt-1]
	m := newStorageModel()
	for _, b := range w.batches[:stopAt] {
		m.apply(b)
	}
	if f := in.flush(); f != applied {
		t.Fatalf("conformance: Flush after the writer stopped = %d; want %d", f, applied)
	}
	if !sc.has(interfaces.CapDurable) {
		return
	}
	// One more batch that is never flushed.
	if stopAt < len(w.batches) {
		in.apply(w.batches[stopAt]...)
		m.apply(w.batches[stopAt])
	}
	in.crash(0.5, uint64(base))
	d := in.durableTs()
	if d < applied || d > m.appliedTs {
		t.Fatalf("conformance: DurableTs after the crash = %d; Flush returned %d (seed %d)", d, applied, base)
	}
	m.truncate(d)
	in.wantState(fmt.Sprintf("after flushing during Apply and crashing (seed %d)", base), m, 0)
}
