package btree

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

type memVersion struct {
	key []byte
	ts  uint64
}

// TestMemtableModel inserts random versions and checks every way of
// finding them against a sorted slice.
func TestMemtableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMemtable()
		var model []memVersion
		seen := map[string]bool{}
		keyGen := rapid.SliceOfN(rapid.SampledFrom([]byte{0, 1, 'a', 'b', 0xff}), 0, 10)
		n := rapid.IntRange(0, 300).Draw(t, "n")
		for range n {
			k := keyGen.Draw(t, "key")
			ts := rapid.Uint64Range(1, 50).Draw(t, "ts")
			id := string(k) + "@" + string(rune(ts))
			if seen[id] {
				continue
			}
			seen[id] = true
			m.insert(k, ts, interfaces.KindSet, []byte(id), nil)
			model = append(model, memVersion{k, ts})
		}
		slices.SortFunc(model, func(a, b memVersion) int { return page.Compare(a.key, a.ts, b.key, b.ts) })
		require.Equal(t, int64(len(model)), m.count.Load())
		// In order, forward.
		i := 0
		for nd := m.first(); nd != nil; nd = nd.next() {
			require.True(t, bytes.Equal(model[i].key, nd.key) && model[i].ts == nd.ts, "node %d", i)
			i++
		}
		require.Equal(t, len(model), i)
		if len(model) > 0 {
			l := m.last()
			require.True(t, bytes.Equal(model[len(model)-1].key, l.key))
		} else {
			require.Nil(t, m.first())
			require.Nil(t, m.last())
		}
		for range 20 {
			k := keyGen.Draw(t, "probe")
			ts := rapid.Uint64Range(0, 51).Draw(t, "probeTs")
			ge := slices.IndexFunc(model, func(v memVersion) bool { return page.Compare(v.key, v.ts, k, ts) >= 0 })
			got := m.seekGE(k, ts)
			if ge < 0 {
				require.Nil(t, got)
			} else {
				require.True(t, bytes.Equal(model[ge].key, got.key) && model[ge].ts == got.ts)
			}
			lt := -1
			for j := range model {
				if page.Compare(model[j].key, model[j].ts, k, ts) < 0 {
					lt = j
				}
			}
			got = m.seekLT(k, ts)
			if lt < 0 {
				require.Nil(t, got)
			} else {
				require.True(t, bytes.Equal(model[lt].key, got.key) && model[lt].ts == got.ts)
			}
			// get: the newest version of k at or below ts.
			g := m.get(k, ts)
			if ge >= 0 && bytes.Equal(model[ge].key, k) {
				require.NotNil(t, g)
				require.Equal(t, model[ge].ts, g.ts)
			} else {
				require.Nil(t, g)
			}
		}
	})
}

// TestMemtableHeads checks that node heads order as keys do, for keys
// around the 8- and 16-byte boundaries and with zero bytes.
func TestMemtableHeads(t *testing.T) {
	keys := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "\xff",
		"abcdefghijklmnop", "abcdefghijklmnoo", "abcdefghijklmnop\x00", "abcdefghijklmnopq", "abcdefghijklmno", "abcdefghijklmno\x00",
		"abcdefgh\x00\x00\x00\x00\x00\x00\x00\x00", "abcdefgh\x00\x00\x00\x00\x00\x00\x00\x00\x01", "abcdefgh\xff\xff\xff\xff\xff\xff\xff\xff",
		"0000000000123456", "0000000000123457", "000000000012345", "00000000001234560"}
	for i := range keys {
		for j := range keys {
			a, b := []byte(keys[i]), []byte(keys[j])
			n := memNode{head: keyHeadsOf(a), key: a, ts: 5}
			want := page.Compare(a, 5, b, 5)
			require.Equal(t, want, n.cmp(keyHeadsOf(b), b, 5), "%q vs %q", a, b)
		}
	}
}

// TestMemtableConcurrentReaders runs readers while one goroutine inserts,
// under the race detector in the race build: a reader sees a prefix of the
// inserts in order, never a torn node.
func TestMemtableConcurrentReaders(t *testing.T) {
	m := newMemtable()
	const n = 5000
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				var prev *memNode
				for nd := m.first(); nd != nil; nd = nd.next() {
					if prev != nil && page.Compare(prev.key, prev.ts, nd.key, nd.ts) >= 0 {
						t.Errorf("order broken at %q@%d", nd.key, nd.ts)
						return
					}
					if string(nd.value) != string(nd.key) {
						t.Errorf("node %q holds value %q", nd.key, nd.value)
						return
					}
					prev = nd
				}
				_ = m.seekLT([]byte{0x80, 0}, 1)
			}
		}()
	}
	for i := range n {
		k := []byte{byte(i * 131), byte(i >> 8), byte(i)}
		m.insert(k, uint64(i+1), interfaces.KindSet, k, nil)
	}
	done.Store(true)
	wg.Wait()
	require.Equal(t, int64(n), m.count.Load())
	require.Equal(t, uint64(n), m.maxTs.Load())
}

// TestFreeSetModel checks the bitmap against a map.
func TestFreeSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var f freeSet
		model := map[uint64]bool{}
		ops := rapid.IntRange(1, 200).Draw(t, "ops")
		for range ops {
			id := rapid.Uint64Range(2, 700).Draw(t, "id")
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1:
				require.Equal(t, !model[id], f.add(id))
				model[id] = true
			case 2:
				require.Equal(t, model[id], f.remove(id))
				delete(model, id)
			case 3:
				limit := rapid.Uint64Range(0, 800).Draw(t, "limit")
				var want uint64
				found := false
				for k := range model {
					if k < limit && (!found || k < want) {
						want, found = k, true
					}
				}
				got, ok := f.lowest(limit)
				require.Equal(t, found, ok)
				if ok {
					require.Equal(t, want, got)
					delete(model, got)
				}
			case 4:
				n := rapid.Uint64Range(2, 800).Draw(t, "truncate")
				f.truncate(n)
				for k := range model {
					if k >= n {
						delete(model, k)
					}
				}
			}
			require.Equal(t, len(model), f.count)
		}
		ids := f.appendIDs(nil)
		require.Len(t, ids, len(model))
		for _, id := range ids {
			require.True(t, model[id])
		}
		require.True(t, slices.IsSorted(ids))
		// tailStart: the lowest k with [k, end) all free.
		end := uint64(720)
		k := end
		for k > 2 && model[k-1] {
			k--
		}
		require.Equal(t, k, f.tailStart(end))
	})
}

func TestFreeListRelease(t *testing.T) {
	var fl freeList
	fl.pending = []pendingFree{{gen: 3, ids: []uint64{10, 11}}, {gen: 5, ids: []uint64{12}}, {gen: 7, ids: []uint64{13}}}
	require.Equal(t, 4, fl.pendingCount())
	require.Equal(t, []uint64{10, 11, 12, 13}, fl.persisted())
	require.Equal(t, 0, fl.release(2), "a reader of generation 2 holds everything")
	require.Equal(t, 3, fl.release(5), "pages freed by generations up to 5 are free once the oldest reader is at 5")
	require.True(t, fl.free.has(11) && fl.free.has(12) && !fl.free.has(13))
	require.Equal(t, []uint64{10, 11, 12, 13}, fl.persisted())
}
