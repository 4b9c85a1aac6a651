package btree_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// openEngine opens an engine in "db" on fs and checks it and closes it when
// the test ends (unless the test closed it).
func openEngine(t testing.TB, fs vfs.FS, opts btree.Options, deps btree.Deps) *btree.Engine {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = "db"
	}
	deps.FS = fs
	e, err := btree.New(opts, deps)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := e.Check(); err != nil && !errors.Is(err, interfaces.ErrClosed) {
			t.Errorf("Check at the end of the test: %v", err)
		}
		_ = e.Close()
	})
	return e
}

// version is one version in the model.
type version struct {
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

// model is the reference: every version of every key, newest first.
type model struct {
	keys map[string][]version
}

func newModel() *model { return &model{keys: map[string][]version{}} }

func (m *model) apply(es []interfaces.Entry) {
	for _, e := range es {
		v := version{ts: e.Ts, kind: e.Kind}
		if e.Kind == interfaces.KindSet {
			v.value = string(e.Value)
		}
		vs := append(m.keys[string(e.Key)], v)
		sort.Slice(vs, func(i, j int) bool { return vs[i].ts > vs[j].ts })
		m.keys[string(e.Key)] = vs
	}
}

func (m *model) sortedKeys() []string {
	keys := make([]string, 0, len(m.keys))
	for k := range m.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// visible returns key's newest version with ts <= readTs among those with
// ts <= upTo, if it is a value.
func (m *model) visible(key string, readTs, upTo uint64) (version, bool) {
	for _, v := range m.keys[key] {
		if v.ts > upTo || v.ts > readTs {
			continue
		}
		return v, v.kind == interfaces.KindSet
	}
	return version{}, false
}

// item is one version as an AllVersions walk yields it.
type item struct {
	key string
	version
}

func (i item) String() string {
	if i.kind == interfaces.KindDelete {
		return fmt.Sprintf("%q@%d:del", i.key, i.ts)
	}
	return fmt.Sprintf("%q@%d=%q", i.key, i.ts, i.value)
}

// expect returns, for the versions with ts <= upTo, those an engine must
// hold (required) and those it may hold (allowed: required plus what
// discard lets go).
func (m *model) expect(upTo, discard uint64) (required, allowed []item) {
	for _, k := range m.sortedKeys() {
		seenAtOrBelow := false
		for _, v := range m.keys[k] {
			if v.ts > upTo {
				continue
			}
			it := item{key: k, version: v}
			allowed = append(allowed, it)
			droppable := false
			if v.ts <= discard {
				droppable = seenAtOrBelow || v.kind == interfaces.KindDelete
				seenAtOrBelow = true
			}
			if !droppable {
				required = append(required, it)
			}
		}
	}
	return required, allowed
}

// testT is what the checking helpers need of a test: *testing.T and
// *rapid.T both have it.
type testT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
}

// walkAll returns every version an AllVersions walk at MaxTs yields.
func walkAll(t testT, s interfaces.Storage) []item {
	t.Helper()
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
	require.NoError(t, err)
	var out []item
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, item{key: string(it.Key()), version: version{ts: it.Ts(), kind: it.Kind(), value: string(it.Value())}})
	}
	require.NoError(t, it.Close())
	return out
}

// checkState checks that s holds the model's versions with ts <= upTo: all
// the required ones, no other than the allowed ones, and Get at MaxTs and
// at the discard ts as the model says.
func checkState(t testT, s interfaces.Storage, m *model, upTo, discard uint64) {
	t.Helper()
	required, allowed := m.expect(upTo, discard)
	got := walkAll(t, s)
	ri := 0
	ai := 0
	for _, g := range got {
		for ai < len(allowed) && allowed[ai] != g {
			if ri < len(required) && required[ri] == allowed[ai] {
				t.Fatalf("required version %v is missing (walk: %v)", required[ri], got)
			}
			ai++
		}
		if ai == len(allowed) {
			t.Fatalf("version %v is not allowed (up to ts %d, discard %d)", g, upTo, discard)
		}
		if ri < len(required) && required[ri] == g {
			ri++
		}
		ai++
	}
	if ri < len(required) {
		t.Fatalf("required version %v is missing", required[ri])
	}
	for _, k := range m.sortedKeys() {
		for _, readTs := range []uint64{interfaces.MaxTs, max(discard, 1)} {
			want, ok := m.visible(k, readTs, upTo)
			v, ts, err := s.Get([]byte(k), readTs)
			if !ok {
				require.ErrorIs(t, err, interfaces.ErrNotFound, "Get(%q, %d)", k, readTs)
				continue
			}
			require.NoError(t, err, "Get(%q, %d)", k, readTs)
			require.Equal(t, want.ts, ts, "Get(%q, %d)", k, readTs)
			require.True(t, bytes.Equal([]byte(want.value), v), "Get(%q, %d) value", k, readTs)
		}
	}
}

// workload makes batches of entries over keys "k%04d", with values of
// varied length (some out of line at small page sizes), some tombstones,
// one ts per batch.
type workload struct {
	rng   *rand.Rand
	ts    uint64
	nkeys int
}

func newWorkload(seed uint64, nkeys int) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), nkeys: nkeys}
}

func (w *workload) batch(n int) []interfaces.Entry {
	w.ts++
	seen := map[int]bool{}
	var es []interfaces.Entry
	for range n {
		k := w.rng.IntN(w.nkeys)
		if seen[k] {
			continue
		}
		seen[k] = true
		e := interfaces.Entry{Key: []byte(fmt.Sprintf("k%04d", k)), Ts: w.ts, Kind: interfaces.KindSet}
		switch r := w.rng.IntN(20); {
		case r < 3:
			e.Kind = interfaces.KindDelete
		case r < 4:
			e.Value = bytes.Repeat([]byte{byte(w.ts)}, 300+w.rng.IntN(3000))
		default:
			e.Value = []byte(fmt.Sprintf("value-%d-%d-%s", k, w.ts, bytes.Repeat([]byte("x"), w.rng.IntN(40))))
		}
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return bytes.Compare(es[i].Key, es[j].Key) < 0 })
	return es
}
