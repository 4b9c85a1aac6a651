package lsm

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// TestConcurrentReadsDuringWrites runs Gets and iterators (both
// directions, bounded and not) against a precomputed workload while one
// writer applies it, flushes and compacts, and background flushes and
// compactions run. Each read at ts R, at most the published ts, must see
// exactly the model at R; every value names its key and ts, so a torn or
// misplaced value shows. Run it with -race.
func TestConcurrentReadsDuringWrites(t *testing.T) {
	const keys = 64
	batches := 600
	if testing.Short() {
		batches = 200
	}
	rng := rand.New(rand.NewPCG(7, 8))
	m := newModel()
	var work [][]interfaces.Entry
	ts := uint64(0)
	for range batches {
		ts++
		var es []interfaces.Entry
		used := map[int]bool{}
		for range 1 + rng.IntN(12) {
			k := rng.IntN(keys)
			if used[k] {
				continue
			}
			used[k] = true
			key := fmt.Sprintf("key%03d", k)
			if rng.IntN(6) == 0 {
				es = append(es, interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindDelete})
			} else {
				v := fmt.Sprintf("%s@%d|%0*d", key, ts, rng.IntN(400), 0)
				es = append(es, interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)})
			}
		}
		work = append(work, es)
		m.apply(es)
	}
	e, err := New(modelOptions(), Deps{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer e.Close()

	var published atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	reader := func(seed uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 1))
		for {
			select {
			case <-done:
				return
			default:
			}
			p := published.Load()
			if p == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			readTs := 1 + rng.Uint64N(p)
			if rng.IntN(2) == 0 {
				k := fmt.Sprintf("key%03d", rng.IntN(keys))
				v, vts, err := e.Get([]byte(k), readTs)
				want, ok := m.get(k, readTs)
				switch {
				case !ok && err != interfaces.ErrNotFound:
					fail("Get(%s, %d) = %q@%d, %v; want not found", k, readTs, v, vts, err)
				case ok && (err != nil || string(v) != want.value || vts != want.ts):
					fail("Get(%s, %d) = %q@%d, %v; want %s", k, readTs, v, vts, err, want)
				}
				continue
			}
			opts := interfaces.IterOptions{ReadTs: readTs, Reverse: rng.IntN(2) == 0, AllVersions: rng.IntN(3) == 0}
			if rng.IntN(2) == 0 {
				opts.LowerBound = []byte(fmt.Sprintf("key%03d", rng.IntN(keys)))
			}
			it, err := e.NewIterator(opts)
			if err != nil {
				fail("NewIterator: %v", err)
				return
			}
			want, _ := m.expect(opts)
			var got []modelVersion
			for ok := it.First(); ok; ok = it.Next() {
				got = append(got, modelVersion{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
				// Stretch the snapshot's life across writes.
				if rng.IntN(50) == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			if err := it.Close(); err != nil {
				fail("iterator: %v", err)
			}
			if fmtVersions(got) != fmtVersions(want) || !sameValues(got, want) {
				fail("walk %+v:\ngot  %s\nwant %s", opts, fmtVersions(got), fmtVersions(want))
			}
		}
	}
	for i := range 3 {
		wg.Add(1)
		go reader(uint64(i))
	}
	for i, es := range work {
		require.NoError(t, e.Apply(es))
		published.Store(es[len(es)-1].Ts)
		switch {
		case i%97 == 50:
			_, err := e.Flush()
			require.NoError(t, err)
		case i%151 == 100:
			require.NoError(t, e.Compact(interfaces.KeyRange{Start: []byte("key010"), End: []byte("key040")}))
		case i%59 == 0:
			st, err := e.Stats()
			require.NoError(t, err)
			require.Equal(t, es[len(es)-1].Ts, st.AppliedTs)
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	require.NoError(t, e.Check())
	st, err := e.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Metrics["lsm.flushes"])
	require.Positive(t, st.Metrics["lsm.compactions"])
}

func sameValues(a, b []modelVersion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestIteratorWhileAMemtableFills opens iterators while a writer keeps
// starting a fresh memtable and filling it. An iterator once read each
// memtable's emptiness twice — to size its sources, then to pick them —
// and indexed past its slice when an Apply landed in between.
func TestIteratorWhileAMemtableFills(t *testing.T) {
	e, err := New(modelOptions(), Deps{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer e.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ts := uint64(1); ; ts++ {
			select {
			case <-stop:
				return
			default:
			}
			if ts%2 == 0 {
				// Flush rotates to an empty memtable; the next Apply
				// fills it while iterators are being opened.
				if _, writeErr = e.Flush(); writeErr != nil {
					return
				}
			}
			if writeErr = e.Apply([]interfaces.Entry{{Key: []byte(fmt.Sprintf("k%06d", ts)), Ts: ts, Kind: interfaces.KindSet, Value: []byte("v")}}); writeErr != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(300 * time.Millisecond)
	opened := 0
	for time.Now().Before(deadline) {
		it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
		require.NoError(t, err)
		it.First()
		require.NoError(t, it.Close())
		opened++
	}
	close(stop)
	wg.Wait()
	require.NoError(t, writeErr)
	require.Greater(t, opened, 100)
}

// TestNextKV: stepping with NextKV yields what Next, Key and Value do, in
// both directions, with bounds, across memtables and tables.
func TestNextKV(t *testing.T) {
	e, err := New(modelOptions(), Deps{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer e.Close()
	for ts := uint64(1); ts <= 300; ts++ {
		k := []byte(fmt.Sprintf("k%03d", ts%97))
		kind := interfaces.KindSet
		var v []byte
		if ts%11 == 0 {
			kind = interfaces.KindDelete
		} else {
			v = []byte(fmt.Sprintf("v%d", ts))
		}
		require.NoError(t, e.Apply([]interfaces.Entry{{Key: k, Ts: ts, Kind: kind, Value: v}}))
		if ts%100 == 0 {
			_, err := e.Flush()
			require.NoError(t, err)
		}
	}
	walk := func(opts interfaces.IterOptions, kv bool) []string {
		it, err := e.NewIterator(opts)
		require.NoError(t, err)
		defer func() { require.NoError(t, it.Close()) }()
		var out []string
		ok := it.First()
		for ok {
			out = append(out, string(it.Key())+"="+string(it.Value()))
			if kv {
				var k, v []byte
				k, v, ok = it.(interfaces.KVStepper).NextKV()
				if ok {
					require.Equal(t, it.Key(), k)
					require.Equal(t, it.Value(), v)
				}
			} else {
				ok = it.Next()
			}
		}
		require.NoError(t, it.Err())
		return out
	}
	for _, opts := range []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs},
		{ReadTs: 150},
		{ReadTs: interfaces.MaxTs, Reverse: true},
		{ReadTs: interfaces.MaxTs, LowerBound: []byte("k020"), UpperBound: []byte("k050")},
		{ReadTs: 250, Reverse: true, LowerBound: []byte("k010"), UpperBound: []byte("k090")},
	} {
		want := walk(opts, false)
		require.NotEmpty(t, want)
		require.Equal(t, want, walk(opts, true), "%+v", opts)
	}
}
