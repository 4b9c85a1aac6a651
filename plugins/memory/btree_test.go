package memory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// refItem is a version in the reference model of the tree: a sorted slice.
type refItem struct {
	key string
	ts  uint64
}

func cmpRef(a, b refItem) int {
	if c := bytes.Compare([]byte(a.key), []byte(b.key)); c != 0 {
		return c
	}
	switch {
	case a.ts > b.ts:
		return -1
	case a.ts < b.ts:
		return 1
	}
	return 0
}

// treeModel drives a tree through write sessions and mirrors it in a
// sorted slice.
type treeModel struct {
	gen   uint64
	st    state
	ref   []refItem
	trees []published // earlier roots, with what they held
}

type published struct {
	st  state
	ref []refItem
}

func (m *treeModel) session() *writer {
	m.gen++
	return &writer{gen: m.gen, root: m.st.root, count: m.st.count, bytes: m.st.bytes}
}

func (m *treeModel) publish(t require.TestingT, w *writer) {
	m.st = state{root: w.root, count: w.count, bytes: w.bytes, appliedTs: ^uint64(0)}
	require.Empty(t, checkTree(&m.st))
	m.trees = append(m.trees, published{st: m.st, ref: slices.Clone(m.ref)})
}

func (m *treeModel) insert(t require.TestingT, w *writer, key string, ts uint64) {
	it := refItem{key, ts}
	i, found := slices.BinarySearchFunc(m.ref, it, cmpRef)
	if w.insert(newVersion([]byte(key), ts, interfaces.KindSet, []byte(key))) == found {
		t.Errorf("insert %q@%d: the tree disagrees with the model about its presence", key, ts)
		t.FailNow()
	}
	if !found {
		m.ref = slices.Insert(m.ref, i, it)
	}
}

func (m *treeModel) remove(t require.TestingT, w *writer, key string, ts uint64) {
	it := refItem{key, ts}
	i, found := slices.BinarySearchFunc(m.ref, it, cmpRef)
	if w.remove([]byte(key), ts) != found {
		t.Errorf("remove %q@%d: the tree disagrees with the model about its presence", key, ts)
		t.FailNow()
	}
	if found {
		m.ref = slices.Delete(m.ref, i, i+1)
	}
}

// verify walks root both ways and seeks, against ref.
func verifyTree(t require.TestingT, root *node, ref []refItem, probes []refItem) {
	var got []refItem
	var c cursor
	for c.first(root); c.valid(); c.next() {
		got = append(got, refItem{string(c.item().key()), c.item().ts})
	}
	require.Equal(t, len(ref), len(got))
	if len(ref) > 0 {
		require.Equal(t, ref, got)
	}
	got = got[:0]
	for c.last(root); c.valid(); c.prev() {
		got = append(got, refItem{string(c.item().key()), c.item().ts})
	}
	rev := slices.Clone(ref)
	slices.Reverse(rev)
	if len(ref) > 0 {
		require.Equal(t, rev, got)
	}
	for _, p := range probes {
		i, _ := slices.BinarySearchFunc(ref, p, cmpRef)
		c.seekGE(root, []byte(p.key), p.ts)
		if i == len(ref) {
			require.False(t, c.valid(), "seekGE %v", p)
		} else {
			require.True(t, c.valid(), "seekGE %v", p)
			require.Equal(t, ref[i], refItem{string(c.item().key()), c.item().ts}, "seekGE %v", p)
			v := seekGE(root, []byte(p.key), p.ts)
			require.Equal(t, ref[i], refItem{string(v.key()), v.ts}, "seekGE %v", p)
			// Walk on a little from the seek.
			for j := i + 1; j < len(ref) && j < i+40; j++ {
				c.next()
				require.True(t, c.valid())
				require.Equal(t, ref[j], refItem{string(c.item().key()), c.item().ts})
			}
		}
		c.seekLT(root, []byte(p.key), p.ts)
		if i == 0 {
			require.False(t, c.valid(), "seekLT %v", p)
		} else {
			require.True(t, c.valid(), "seekLT %v", p)
			require.Equal(t, ref[i-1], refItem{string(c.item().key()), c.item().ts}, "seekLT %v", p)
			for j := i - 2; j >= 0 && j > i-40; j-- {
				c.prev()
				require.True(t, c.valid())
				require.Equal(t, ref[j], refItem{string(c.item().key()), c.item().ts})
			}
		}
	}
}

func TestTreeModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		keys := rapid.SliceOfN(rapid.StringOfN(rapid.SampledFrom([]rune{'a', 'b', 0, 0xff}), 0, 3, -1), 1, 12).Draw(rt, "keys")
		m := &treeModel{}
		sessions := rapid.IntRange(1, 12).Draw(rt, "sessions")
		for range sessions {
			w := m.session()
			ops := rapid.IntRange(0, 120).Draw(rt, "ops")
			for range ops {
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				ts := rapid.Uint64Range(1, 20).Draw(rt, "ts")
				if rapid.IntRange(0, 3).Draw(rt, "op") == 0 {
					m.remove(rt, w, key, ts)
				} else {
					m.insert(rt, w, key, ts)
				}
			}
			m.publish(rt, w)
		}
		var probes []refItem
		for _, k := range keys {
			probes = append(probes, refItem{k, 0}, refItem{k, 5}, refItem{k, ^uint64(0)}, refItem{k + "\x00", 3})
		}
		// Every published tree still holds exactly what it held: later
		// sessions copied, never changed, its nodes.
		for _, p := range m.trees {
			verifyTree(rt, p.st.root, p.ref, probes)
		}
	})
}

// TestTreeLarge grows and shrinks a tree deep enough for every rebalancing
// path (borrow left, borrow right, merge, root collapse) at several levels.
func TestTreeLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &treeModel{}
	n := 40000
	if testing.Short() {
		n = 8000
	}
	key := func() string { return fmt.Sprintf("k%06d", rng.IntN(n/4)) }
	for round := range 6 {
		w := m.session()
		for range n / 6 {
			if round < 3 || rng.IntN(3) == 0 {
				m.insert(t, w, key(), rng.Uint64N(8)+1)
			} else {
				m.remove(t, w, key(), rng.Uint64N(8)+1)
			}
		}
		m.publish(t, w)
	}
	// Drain it completely, in random order.
	w := m.session()
	order := slices.Clone(m.ref)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i, it := range order {
		m.remove(t, w, it.key, it.ts)
		if i%997 == 0 {
			st := state{root: w.root, count: w.count, bytes: w.bytes, appliedTs: ^uint64(0)}
			require.Empty(t, checkTree(&st))
		}
	}
	m.publish(t, w)
	require.Nil(t, m.st.root)
	require.Zero(t, m.st.count)
	probes := []refItem{{"k000100", 3}, {"", 0}, {"z", 1}}
	for _, p := range m.trees {
		verifyTree(t, p.st.root, p.ref, probes)
	}
}

func TestBuildTree(t *testing.T) {
	sizes := []int{0, 1, 2, 30, 31, 32, 33, 62, 63, 64, 500, 1022, 1023, 1024, 1025, 5000, 32767, 32768, 40000}
	for _, n := range sizes {
		items := make([]version, n)
		ref := make([]refItem, n)
		for i := range items {
			k := fmt.Sprintf("k%08d", i)
			items[i] = newVersion([]byte(k), 1, interfaces.KindSet, nil)
			ref[i] = refItem{k, 1}
		}
		st := state{root: buildTree(items, 1), count: n, bytes: int64(9 * n), appliedTs: 1}
		require.Empty(t, checkTree(&st), "n=%d", n)
		verifyTree(t, st.root, ref, []refItem{{"k00000000", 1}, {"k00000017", 1}, {"k", 1}})
		// A built tree takes changes like any other.
		w := writer{gen: 2, root: st.root, count: st.count, bytes: st.bytes}
		for i := 0; i < n; i += 3 {
			require.True(t, w.remove(items[i].key(), 1))
		}
		require.True(t, w.insert(newVersion([]byte("zz"), 1, interfaces.KindSet, nil)))
		st2 := state{root: w.root, count: w.count, bytes: w.bytes, appliedTs: 1}
		require.Empty(t, checkTree(&st2), "n=%d after changes", n)
	}
}

func TestCheckTreeFindsDamage(t *testing.T) {
	items := make([]version, 100)
	for i := range items {
		items[i] = newVersion(fmt.Appendf(nil, "k%03d", i), 5, interfaces.KindSet, []byte("v"))
	}
	fresh := func() *state {
		vs := slices.Clone(items)
		return &state{root: buildTree(vs, 1), count: len(vs), bytes: int64(len(vs) * 5), appliedTs: 5}
	}
	require.Empty(t, checkTree(fresh()))
	cases := map[string]func(st *state){
		"order":     func(st *state) { l := st.root.children[0]; l.items[0], l.items[1] = l.items[1], l.items[0] },
		"count":     func(st *state) { st.count++ },
		"bytes":     func(st *state) { st.bytes-- },
		"ts":        func(st *state) { st.appliedTs = 4 },
		"kind":      func(st *state) { st.root.items[0].kind = 7 },
		"underfull": func(st *state) { l := st.root.children[1]; l.items = l.items[:3] },
		"children":  func(st *state) { st.root.children = st.root.children[:len(st.root.children)-1] },
	}
	for name, damage := range cases {
		st := fresh()
		damage(st)
		errs := checkTree(st)
		require.NotEmpty(t, errs, name)
		for _, err := range errs {
			require.True(t, interfaces.IsCorruption(err), "%s: %v", name, err)
		}
	}
}
