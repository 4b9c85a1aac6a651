package ordered

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// TestSnapshotOverLiveStore: over a store whose iterators are live views,
// an open iterator still sees exactly its snapshot while Apply, Flush,
// SetDiscardTs (at or below the snapshot) and Compact run.
func TestSnapshotOverLiveStore(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("reverse=%v/all=%v", reverse, all), func(t *testing.T) {
				s := open(t, liveStore{NewMemStore()}, Options{BatchOps: 3})
				ref := refModel{}
				ts := uint64(0)
				for round := range 4 {
					ts++
					var e []interfaces.Entry
					for k := range 20 {
						if (k+round)%5 == 0 {
							e = append(e, delE(fmt.Sprintf("k%02d", k), ts))
						} else {
							e = append(e, setE(fmt.Sprintf("k%02d", k), ts, fmt.Sprint(round)))
						}
					}
					require.NoError(t, s.Apply(e))
					ref.apply(e...)
				}
				require.NoError(t, s.SetDiscardTs(2))
				opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: reverse, AllVersions: all}
				// AllVersions may lose versions droppable at discard 2 (but no
				// others) once Compact runs; the current view may lose nothing.
				it, err := s.NewIterator(opts)
				require.NoError(t, err)
				defer it.Close()

				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := range 20 {
						e := []interfaces.Entry{
							setE(fmt.Sprintf("k%02d", round%20), ts+uint64(round)+1, "late"),
							delE(fmt.Sprintf("k%02d", (round+7)%20), ts+uint64(round)+1),
							setE(fmt.Sprintf("n%02d", round), ts+uint64(round)+1, "new"),
						}
						if err := s.Apply(e); err != nil {
							t.Error(err)
							return
						}
						if round%5 == 0 {
							if _, err := s.Flush(); err != nil {
								t.Error(err)
							}
							if err := s.Compact(interfaces.KeyRange{}); err != nil {
								t.Error(err)
							}
						}
					}
				}()
				var got []item
				for ok := it.First(); ok; ok = it.Next() {
					got = append(got, item{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
				}
				wg.Wait()
				require.NoError(t, it.Err())
				if !all {
					require.Equal(t, ref.expect(opts, ts, 0, false), got)
					return
				}
				// Every non-droppable version, in order; droppable ones may be
				// gone.
				full := ref.expect(opts, ts, 0, false)
				must := ref.expect(opts, ts, 2, true)
				require.Subset(t, full, got)
				require.Subset(t, got, must)
				var filtered []item
				for _, g := range got {
					for _, m := range must {
						if g == m {
							filtered = append(filtered, g)
						}
					}
				}
				require.Equal(t, must, filtered)
			})
		}
	}
}

// TestLiveViewDuringGC runs Compact at the worst moment of an iteration
// over a live-view store: while the iterator stands on a key's oldest
// version, garbage collection drops that version together with the newer
// tombstone that hides it. A reverse walk then sees the old value and no
// tombstone, and must not yield it.
func TestLiveViewDuringGC(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			var s *Storage
			fired := false
			trigger := interfaces.AppendVersionKey(nil, []byte("b"), 1)
			hs := hookedStore{liveStore: liveStore{NewMemStore()}, beforeMove: func(key []byte) {
				if !fired && bytes.Equal(key, trigger) {
					fired = true
					require.NoError(t, s.Compact(interfaces.KeyRange{}))
				}
			}}
			s = open(t, hs, Options{})
			require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "a1"), setE("b", 1, "b1"), setE("c", 1, "c1")}))
			require.NoError(t, s.Apply([]interfaces.Entry{delE("b", 2), setE("b", 3, "b3")}))
			require.NoError(t, s.SetDiscardTs(2))
			// Read at 2: b's newest visible version is the tombstone.
			opts := interfaces.IterOptions{ReadTs: 2, Reverse: reverse}
			want := []item{{"a", 1, interfaces.KindSet, "a1"}, {"c", 1, interfaces.KindSet, "c1"}}
			if reverse {
				want[0], want[1] = want[1], want[0]
			}
			got := walk(t, s, opts)
			require.True(t, fired || !reverse, "the hook never ran")
			require.Equal(t, want, got)
			require.Equal(t, []item{
				{"a", 1, interfaces.KindSet, "a1"}, {"b", 3, interfaces.KindSet, "b3"}, {"c", 1, interfaces.KindSet, "c1"},
			}, walk(t, s, allOpts), "GC dropped b@2 and b@1")
		})
	}
}

func TestIteratorSeekAndBounds(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	ref := refModel{}
	keys := []string{"", "\x00", "\x00\x00", "\x00\xff", "a", "a\x00", "ab", "abc", "b", "\xff", "\xff\xff"}
	for i, k := range keys {
		e := []interfaces.Entry{setE(k, uint64(2*i+1), "v1"), setE(k, uint64(2*i+2), "v2")}
		require.NoError(t, s.Apply(e))
		ref.apply(e...)
	}
	applied := uint64(2 * len(keys))
	targets := append(cloneStrings(keys), "\x00\x01", "a\x01", "aa", "c", "\xff\xff\xff")
	bounds := []struct{ lower, upper, prefix []byte }{
		{nil, nil, nil},
		{[]byte("a"), []byte("b"), nil},
		{[]byte("\x00"), []byte("\x00\xff"), nil},
		{nil, nil, []byte("a")},
		{nil, nil, []byte("\xff")},
		{nil, nil, []byte("\x00")},
		{nil, nil, []byte{}},
		{[]byte("ab"), nil, []byte("a")},
		{nil, []byte("ab"), []byte("a")},
		{[]byte("b"), []byte("a"), nil},
		{[]byte("b"), nil, []byte("a")},
		{[]byte{}, []byte{}, nil},
	}
	for _, b := range bounds {
		for _, reverse := range []bool{false, true} {
			for _, all := range []bool{false, true} {
				for _, readTs := range []uint64{0, 1, 7, 8, interfaces.MaxTs} {
					opts := interfaces.IterOptions{ReadTs: readTs, LowerBound: b.lower, UpperBound: b.upper, Prefix: b.prefix, Reverse: reverse, AllVersions: all}
					want := ref.expect(opts, applied, 0, false)
					it, err := s.NewIterator(opts)
					require.NoError(t, err)
					require.Equal(t, want, drain(t, it, it.First()), "%+v", opts)
					for _, target := range targets {
						i := seekIndex(want, []byte(target), reverse)
						require.Equal(t, tail(want, i), drain(t, it, it.Seek([]byte(target))), "%+v Seek(%q)", opts, target)
					}
					require.NoError(t, it.Close())
				}
			}
		}
	}
}

// tail returns want[i:], nil when empty (as drain returns it).
func tail(want []item, i int) []item {
	if i >= len(want) {
		return nil
	}
	return want[i:]
}

func cloneStrings(s []string) []string { return append([]string{}, s...) }

func TestIteratorOwnsItsOptions(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1"), setE("b", 1, "1"), setE("c", 1, "1")}))
	lower, upper := []byte("b"), []byte("c")
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: 1, LowerBound: lower, UpperBound: upper})
	require.NoError(t, err)
	defer it.Close()
	lower[0], upper[0] = 'a', 'z'
	require.Equal(t, []item{{"b", 1, interfaces.KindSet, "1"}}, drain(t, it, it.First()))
}

func TestIteratorSnapshotAtCreation(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 1, "1")}))
	it, err := s.NewIterator(currentOpts)
	require.NoError(t, err)
	defer it.Close()
	require.NoError(t, s.Apply([]interfaces.Entry{setE("a", 2, "2"), setE("b", 2, "2")}))
	require.Equal(t, []item{{"a", 1, interfaces.KindSet, "1"}}, drain(t, it, it.First()))
}
