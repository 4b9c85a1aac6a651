package arc

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// refARC is a deliberately plain reference implementation of the policy
// written on the shard type: slices for lists (index 0 is the LRU end),
// sizes recomputed by summing, no index, no recycling. The model tests run
// random traces on it and on a single-shard Cache and require the same
// lists, the same p and the same counters after every step.
type refARC struct {
	c, p           int64
	t1, t2, b1, b2 []refItem
	hits, misses   int64
	inserts, evict int64
	countTrims     int // how often the ghost count bound acted
}

type refItem struct {
	key    interfaces.CacheKey
	value  []byte
	charge int64
}

func size(l []refItem) int64 {
	var n int64
	for _, it := range l {
		n += it.charge
	}
	return n
}

func indexOf(l []refItem, k interfaces.CacheKey) int {
	return slices.IndexFunc(l, func(it refItem) bool { return it.key == k })
}

func (r *refARC) get(k interfaces.CacheKey) ([]byte, bool) {
	if i := indexOf(r.t1, k); i >= 0 {
		it := r.t1[i]
		r.t1 = slices.Delete(r.t1, i, i+1)
		r.t2 = append(r.t2, it)
		r.hits++
		return it.value, true
	}
	if i := indexOf(r.t2, k); i >= 0 {
		it := r.t2[i]
		r.t2 = append(slices.Delete(r.t2, i, i+1), it)
		r.hits++
		return it.value, true
	}
	r.misses++
	return nil, false
}

// replace evicts until charge more bytes fit among the resident entries.
func (r *refARC) replace(charge int64, fromB2 bool) {
	for size(r.t1)+size(r.t2)+charge > r.c {
		t1 := size(r.t1)
		if len(r.t1) > 0 && (t1 > r.p || (fromB2 && t1 == r.p) || len(r.t2) == 0) {
			it := r.t1[0]
			r.t1 = r.t1[1:]
			it.value = nil
			r.b1 = append(r.b1, it)
		} else {
			it := r.t2[0]
			r.t2 = r.t2[1:]
			it.value = nil
			r.b2 = append(r.b2, it)
		}
		r.evict++
	}
}

func (r *refARC) trim() {
	for size(r.b1) > r.c-r.p {
		r.b1 = r.b1[1:]
	}
	for size(r.b2) > r.p {
		r.b2 = r.b2[1:]
	}
	limit := max(2*(len(r.t1)+len(r.t2)), 64)
	for len(r.b1)+len(r.b2) > limit {
		r.countTrims++
		if len(r.b1) > len(r.b2) {
			r.b1 = r.b1[1:]
		} else {
			r.b2 = r.b2[1:]
		}
	}
}

// ratioStep is δ: charge × num/den when num > den, else charge; at most c.
// Computed with big-enough arithmetic for the small traces here.
func (r *refARC) ratioStep(charge, num, den int64) int64 {
	d := charge
	if num > den {
		d = charge * num / den
	}
	return min(d, r.c)
}

func (r *refARC) remove(k interfaces.CacheKey) {
	for _, l := range []*[]refItem{&r.t1, &r.t2, &r.b1, &r.b2} {
		if i := indexOf(*l, k); i >= 0 {
			*l = slices.Delete(*l, i, i+1)
		}
	}
}

func (r *refARC) set(k interfaces.CacheKey, v []byte, charge int64) {
	charge = max(charge, 1)
	if charge > r.c {
		r.remove(k)
		r.trim()
		return
	}
	r.inserts++
	it := refItem{key: k, value: v, charge: charge}
	switch {
	case indexOf(r.t1, k) >= 0 || indexOf(r.t2, k) >= 0:
		inT1 := indexOf(r.t1, k) >= 0
		r.remove(k)
		r.replace(charge, false)
		if inT1 {
			r.t1 = append(r.t1, it)
		} else {
			r.t2 = append(r.t2, it)
		}
	case indexOf(r.b1, k) >= 0:
		g := r.b1[indexOf(r.b1, k)]
		r.p = min(r.c, r.p+r.ratioStep(g.charge, size(r.b2), size(r.b1)))
		r.remove(k)
		r.replace(charge, false)
		r.t2 = append(r.t2, it)
	case indexOf(r.b2, k) >= 0:
		g := r.b2[indexOf(r.b2, k)]
		r.p = max(0, r.p-r.ratioStep(g.charge, size(r.b1), size(r.b2)))
		r.remove(k)
		r.replace(charge, true)
		r.t2 = append(r.t2, it)
	default:
		r.replace(charge, false)
		r.t1 = append(r.t1, it)
	}
	r.trim()
}

func (r *refARC) del(k interfaces.CacheKey) {
	r.remove(k)
	r.trim()
}

// requireSameState compares the shard with the reference, list by list.
func requireSameState(t require.TestingT, r *refARC, s *shard, step fmt.Stringer) {
	s.lockDrained()
	defer s.mu.Unlock()
	require.NoError(t, s.checkLocked(), step)
	type item struct {
		key    interfaces.CacheKey
		charge int64
	}
	fromRef := func(l []refItem) []item {
		out := make([]item, len(l))
		for i, it := range l {
			out[i] = item{it.key, it.charge}
		}
		return out
	}
	fromShard := func(l *lruList) []item {
		out := make([]item, 0, l.n)
		for e := l.root.prev; e != &l.root; e = e.prev {
			out = append(out, item{e.key, e.charge})
		}
		return out
	}
	for _, c := range []struct {
		name string
		ref  []refItem
		got  *lruList
	}{{"T1", r.t1, &s.t1}, {"T2", r.t2, &s.t2}, {"B1", r.b1, &s.b1}, {"B2", r.b2, &s.b2}} {
		if want, got := fromRef(c.ref), fromShard(c.got); !slices.Equal(want, got) {
			compact := func(l []item) string {
				var b strings.Builder
				for _, it := range l {
					fmt.Fprintf(&b, "%d:%d\n", it.key.Offset, it.charge)
				}
				return b.String()
			}
			// Fails, with a line diff of offset:charge.
			require.Equal(t, compact(want), compact(got), "%s: %s (offset:charge, LRU first)", step, c.name)
		}
	}
	require.Equal(t, r.p, s.p, "%s: p", step)
	require.Equal(t, [4]int64{r.hits, r.misses, r.inserts, r.evict},
		[4]int64{s.hits, s.misses, s.inserts, s.evictions}, "%s: hits, misses, inserts, evictions", step)
}

// modelOp is one step of a random trace.
type modelOp struct {
	kind   int // 0 get, 1 set, 2 delete
	key    uint64
	charge int64
}

func (o modelOp) String() string {
	return [...]string{"get", "set", "del"}[o.kind] + fmt.Sprintf(" %d %d", o.key, o.charge)
}

// stepName describes a step for failure messages. It is a value that
// formats lazily, so that passing steps cost nothing.
type stepDesc struct {
	i  int
	op modelOp
}

func (d stepDesc) String() string { return fmt.Sprintf("step %d (%v)", d.i, d.op) }

func stepName(i int, op modelOp) stepDesc { return stepDesc{i, op} }

// runModel replays ops on a one-shard Cache of capacity c and on refARC,
// comparing them after every Set and Delete and after the last Get of a
// run of Gets, so that the shard's pending hits pile up (and drain when
// the run is longer than the buffer) as they do in use. Every Get's
// result is compared as it returns. It returns the reference.
func runModel(t require.TestingT, c int64, ops []modelOp) *refARC {
	cache, err := New(Options{Capacity: c, Shards: 1})
	require.NoError(t, err)
	ref := &refARC{c: c}
	s := &cache.shards[0]
	for i, op := range ops {
		k := interfaces.CacheKey{Namespace: 1, File: op.key % 3, Offset: op.key}
		step := stepName(i, op)
		switch op.kind {
		case 0:
			v, ok := cache.Get(k)
			rv, rok := ref.get(k)
			require.Equal(t, rok, ok, "%s: hit", step)
			require.Equal(t, rv, v, "%s: value", step)
		case 1:
			v := fmt.Appendf(nil, "%d@%d", op.key, i)
			cache.Set(k, v, op.charge)
			ref.set(k, v, op.charge)
		default:
			cache.Delete(k)
			ref.del(k)
		}
		if op.kind == 0 && i+1 < len(ops) && ops[i+1].kind == 0 {
			continue
		}
		requireSameState(t, ref, s, step)
	}
	return ref
}

// TestModelRapid: short random traces, unit or varied charges, shrunk to a
// minimal failing trace when the two disagree.
func TestModelRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := rapid.Int64Range(1, 40).Draw(rt, "capacity")
		unit := rapid.Bool().Draw(rt, "unit")
		keys := rapid.Uint64Range(1, 80).Draw(rt, "keys")
		op := rapid.Custom(func(rt *rapid.T) modelOp {
			o := modelOp{
				kind: rapid.IntRange(0, 2).Draw(rt, "kind"),
				key:  rapid.Uint64Range(0, keys-1).Draw(rt, "key"),
			}
			if o.kind == 2 && rapid.IntRange(0, 3).Draw(rt, "rare") != 0 {
				o.kind = 1 // Deletes are rarer than Sets
			}
			o.charge = 1
			if !unit {
				o.charge = rapid.Int64Range(-1, c+2).Draw(rt, "charge")
			}
			return o
		})
		runModel(rt, c, rapid.SliceOfN(op, 20, 600).Draw(rt, "ops"))
	})
}

// TestModelLong: long traces drawn from skewed key distributions, so the
// lists fill, the ghosts are hit often and p travels its whole range.
func TestModelLong(t *testing.T) {
	steps := 30000
	if testing.Short() || raceEnabled {
		steps = 5000
	}
	cases := []struct {
		name     string
		c        int64
		keys     int
		charge   func(r *rand.Rand, key uint64) int64
		delEvery int
		setEvery int // 0: one op in three is a Set
	}{
		{"unit", 64, 200, func(*rand.Rand, uint64) int64 { return 1 }, 0, 0},
		{"unit-deletes", 64, 200, func(*rand.Rand, uint64) int64 { return 1 }, 10, 0},
		{"per-key-charges", 1000, 300, func(_ *rand.Rand, k uint64) int64 { return 4 + int64(k*2654435761%60) }, 0, 0},
		{"changing-charges", 500, 150, func(r *rand.Rand, _ uint64) int64 { return r.Int64N(120) - 5 }, 25, 0},
		// Small resident entries among big ghosts and the other way round:
		// the ghost count bound acts.
		{"tiny-ghosts", 2000, 3000, func(_ *rand.Rand, k uint64) int64 {
			if k%50 == 0 {
				return 300
			}
			return 1
		}, 7, 0},
		// Sets too large to store remove what was under their key.
		{"oversize", 2000, 3000, func(r *rand.Rand, k uint64) int64 {
			switch {
			case r.IntN(6) == 0:
				return 2001 + r.Int64N(50)
			case k%50 == 0:
				return 300
			}
			return 1
		}, 0, 0},
		// Many Deletes keep few entries resident, so the count bound acts
		// while B1 and B2 are of a size.
		{"ghost-ties", 400, 400, func(_ *rand.Rand, k uint64) int64 {
			if k%8 == 0 {
				return 90
			}
			return 1
		}, 3, 0},
		// Runs of Gets longer than a shard's pending-hit buffer, so hits
		// are moved both when the buffer fills and when a Set comes.
		{"get-runs", 190, 200, func(*rand.Rand, uint64) int64 { return 1 }, 0, 2 * pendingHits},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(len(tc.name)), 42))
			ops := make([]modelOp, steps)
			for i := range ops {
				// Half the traffic on a hot tenth of the keys, shifting
				// every few thousand steps.
				var key uint64
				if r.IntN(2) == 0 {
					key = uint64((i/3000)*tc.keys/10+r.IntN(tc.keys/10)) % uint64(tc.keys)
				} else {
					key = uint64(r.IntN(tc.keys))
				}
				kind := 0
				switch {
				case tc.delEvery > 0 && r.IntN(tc.delEvery) == 0:
					kind = 2
				case r.IntN(cmp.Or(tc.setEvery, 3)) == 0:
					kind = 1
				}
				ops[i] = modelOp{kind: kind, key: key, charge: tc.charge(r, key)}
			}
			// A Get that misses is followed by the Set a reader would do.
			var trace []modelOp
			ref := &refARC{c: tc.c}
			for _, op := range ops {
				trace = append(trace, op)
				if op.kind == 0 {
					k := interfaces.CacheKey{Namespace: 1, File: op.key % 3, Offset: op.key}
					if _, ok := ref.get(k); !ok {
						trace = append(trace, modelOp{kind: 1, key: op.key, charge: op.charge})
						ref.set(k, nil, op.charge)
					}
				}
			}
			if tc.setEvery > 0 {
				longest, run := 0, 0
				for _, op := range trace {
					if run = (run + 1) * max(0, 1-op.kind); run > longest {
						longest = run
					}
				}
				require.Greater(t, longest, pendingHits, "no run of Gets fills the pending hits")
			}
			ref = runModel(t, tc.c, trace)
			require.Positive(t, ref.hits, "the trace never hits")
			require.Positive(t, ref.evict, "the trace never evicts")
			if tc.name == "tiny-ghosts" || tc.name == "ghost-ties" || tc.name == "oversize" {
				require.Positive(t, ref.countTrims, "the ghost count bound never acted")
			}
		})
	}
}
