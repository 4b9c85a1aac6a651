package btree_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
	"github.com/lightningdb/lightning/vfs"
)

// TestReadersAcrossBufferMoves reads while Apply keeps moving the small
// memtable of the write buffer into the big one (and the background flush
// keeps freezing and merging buffers): every AllVersions walk, forward or
// reverse, must yield each version at or below its read ts exactly once,
// in order — a reader of a state from before a move meets the moved
// versions in both memtables — and Get must find each key's newest one.
func TestReadersAcrossBufferMoves(t *testing.T) {
	opts := btree.Options{WriteBufferSize: 4 * btree.MinWriteBufferSize}
	e := openEngine(t, vfs.NewMem(), opts, btree.Deps{})
	const batches = 400
	w := newWorkload(21, 3000)
	m := newModel()
	var mu sync.Mutex // guards m
	// counts[ts] is how many versions have ts <= ts.
	counts := make([]int, batches+1)
	var applied, walked atomic.Uint64
	var stop atomic.Bool
	defer stop.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		total := 0
		for i := 1; i <= batches; i++ {
			if i%16 == 0 {
				// Let the reader keep up, so walks overlap moves all
				// along the test.
				for seen := walked.Load(); walked.Load() == seen && !stop.Load(); {
					runtime.Gosched()
				}
			}
			b := w.batch(60)
			if err := e.Apply(b); err != nil {
				t.Errorf("Apply: %v", err)
				return
			}
			mu.Lock()
			m.apply(b)
			mu.Unlock()
			total += len(b)
			counts[b[0].Ts] = total
			applied.Store(b[0].Ts)
		}
	}()
	walks := 0
	for done := false; !done; {
		done = applied.Load() == batches
		readTs := applied.Load()
		if readTs == 0 {
			continue
		}
		rev := walks%2 == 1
		it, err := e.NewIterator(interfaces.IterOptions{ReadTs: readTs, AllVersions: true, Reverse: rev})
		require.NoError(t, err)
		n := 0
		var pk []byte
		var pts uint64
		for ok := it.First(); ok; ok = it.Next() {
			if n > 0 {
				c := page.Compare(pk, pts, it.Key(), it.Ts())
				if rev {
					c = -c
				}
				require.Negative(t, c, "walk at ts %d (reverse %v): (%q, %d) after (%q, %d)", readTs, rev, it.Key(), it.Ts(), pk, pts)
			}
			require.LessOrEqual(t, it.Ts(), readTs)
			pk, pts = append(pk[:0], it.Key()...), it.Ts()
			n++
		}
		require.NoError(t, it.Close())
		require.Equal(t, counts[readTs], n, "versions at or below ts %d (reverse %v)", readTs, rev)
		walks++
		walked.Add(1)
	}
	wg.Wait()
	require.Greater(t, walks, 10)
	st, err := e.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Metrics["btree.flushes"], "the test must cross flushes")
	mu.Lock()
	defer mu.Unlock()
	checkState(t, e, m, interfaces.MaxTs, 0)
	_, err = e.Flush()
	require.NoError(t, err)
	checkState(t, e, m, interfaces.MaxTs, 0)
}
