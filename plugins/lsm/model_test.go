package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// modelVersion is one version in the reference model.
type modelVersion struct {
	key   string
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

// String prints a version short enough for failure messages.
func (v modelVersion) String() string {
	if v.kind == interfaces.KindDelete {
		return fmt.Sprintf("%q@%d:del", v.key, v.ts)
	}
	return fmt.Sprintf("%q@%d=%dB", v.key, v.ts, len(v.value))
}

func fmtVersions(vs []modelVersion) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// model is the reference: every version ever applied (none is dropped),
// and the discard ts, which says which versions an engine may have let go.
type model struct {
	versions map[string][]modelVersion // per key, ts descending
	applied  uint64
	discard  uint64
}

func newModel() *model { return &model{versions: map[string][]modelVersion{}} }

func (m *model) apply(es []interfaces.Entry) {
	for _, e := range es {
		v := modelVersion{key: string(e.Key), ts: e.Ts, kind: e.Kind}
		if e.Kind == interfaces.KindSet {
			v.value = string(e.Value)
		}
		vs := append(m.versions[v.key], v)
		sort.Slice(vs, func(i, j int) bool { return vs[i].ts > vs[j].ts })
		m.versions[v.key] = vs
		m.applied = max(m.applied, e.Ts)
	}
}

// truncate forgets versions above ts (what a crash loses).
func (m *model) truncate(ts uint64) {
	for k, vs := range m.versions {
		var keep []modelVersion
		for _, v := range vs {
			if v.ts <= ts {
				keep = append(keep, v)
			}
		}
		if len(keep) == 0 {
			delete(m.versions, k)
		} else {
			m.versions[k] = keep
		}
	}
	m.applied = ts
}

// get returns the newest version of key at or below ts.
func (m *model) get(key string, ts uint64) (modelVersion, bool) {
	for _, v := range m.versions[key] {
		if v.ts <= ts {
			return v, v.kind == interfaces.KindSet
		}
	}
	return modelVersion{}, false
}

func (m *model) sortedKeys() []string {
	keys := make([]string, 0, len(m.versions))
	for k := range m.versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expect returns what an iterator with opts must yield, and for
// AllVersions whether each item is required (versions the discard ts lets
// go may be missing).
func (m *model) expect(opts interfaces.IterOptions) (items []modelVersion, required []bool) {
	return m.expectAt(opts, m.discard)
}

// expectAt is expect with versions let go by discard not required.
func (m *model) expectAt(opts interfaces.IterOptions, discard uint64) (items []modelVersion, required []bool) {
	lower, upper, empty := effectiveBounds(opts, nil, nil)
	if empty {
		return nil, nil
	}
	for _, k := range m.sortedKeys() {
		if (lower != nil && k < string(lower)) || (upper != nil && k >= string(upper)) {
			continue
		}
		if !opts.AllVersions {
			if v, ok := m.get(k, opts.ReadTs); ok {
				items = append(items, v)
				required = append(required, true)
			}
			continue
		}
		seenV := false
		for _, v := range m.versions[k] {
			if v.ts > opts.ReadTs {
				continue
			}
			req := v.ts > discard
			if !req && !seenV {
				seenV = true
				req = v.kind == interfaces.KindSet
			}
			items = append(items, v)
			required = append(required, req)
		}
	}
	if opts.Reverse {
		slices.Reverse(items)
		slices.Reverse(required)
	}
	return items, required
}

// modelOptions shape an engine so that small workloads flush often and
// spread over several levels.
func modelOptions() Options {
	return Options{
		Dir:                 "db",
		MemtableSize:        MinMemtableSize,
		L0CompactionTrigger: 2,
		L0StopWritesTrigger: 8,
		BaseLevelBytes:      32 << 10,
		LevelMultiplier:     2,
		TargetFileSize:      MinTargetFileSize,
		BlockSize:           256,
		TableCacheSize:      MinTableCacheSize,
		MaxManifestSize:     MinManifestSize,
	}
}

// TestEngineModel runs random operation sequences against the engine and
// the model: applies, flushes, compactions, discard ts moves, reopens and
// crashes, checked by Gets and iterators of every kind.
func TestEngineModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fs := vfs.NewMem()
		var cipher interfaces.Cipher
		if rapid.Bool().Draw(rt, "cipher") {
			cipher = newTestCipher(3)
		}
		open := func() *Engine {
			e, err := New(modelOptions(), Deps{FS: fs, Cipher: cipher})
			require.NoError(rt, err)
			return e
		}
		e := open()
		defer func() { _ = e.Close() }()
		m := newModel()
		// lifeDiscard is the discard ts this life of the engine was told:
		// it forgets it on reopen.
		var lifeDiscard uint64
		keyGen := rapid.SampledFrom([]string{"", "a", "a\x00", "aa", "ab", "abc", "b", "ba", "c", "d\xff", "e", "k1", "k2", "k3", "z", "\xff", "\xff\xff"})
		readTs := func(rt *rapid.T) uint64 {
			if m.applied <= m.discard || rapid.IntRange(0, 3).Draw(rt, "max") == 0 {
				return interfaces.MaxTs
			}
			return rapid.Uint64Range(m.discard, m.applied).Draw(rt, "readTs")
		}
		actions := map[string]func(*rapid.T){
			"apply": func(rt *rapid.T) {
				n := rapid.IntRange(1, 40).Draw(rt, "n")
				ts := m.applied
				var es []interfaces.Entry
				used := map[string]bool{}
				for range n {
					k := keyGen.Draw(rt, "key")
					if used[k] || rapid.IntRange(0, 4).Draw(rt, "newTs") == 0 {
						ts++
						clear(used)
					}
					if ts == m.applied {
						ts++
					}
					used[k] = true
					if rapid.IntRange(0, 4).Draw(rt, "del") == 0 {
						es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindDelete})
					} else {
						size := rapid.SampledFrom([]int{0, 5, 100, 1000, 5000}).Draw(rt, "size")
						unit := fmt.Sprintf("%s@%d.", k, ts)
						v := strings.Repeat(unit, size/len(unit)+1)[:size]
						es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)})
					}
				}
				require.NoError(rt, e.Apply(es))
				m.apply(es)
			},
			"flush": func(rt *rapid.T) {
				d, err := e.Flush()
				require.NoError(rt, err)
				require.Equal(rt, m.applied, d)
			},
			"compact": func(rt *rapid.T) {
				var r interfaces.KeyRange
				if rapid.Bool().Draw(rt, "ranged") {
					a, b := keyGen.Draw(rt, "start"), keyGen.Draw(rt, "end")
					if a > b {
						a, b = b, a
					}
					r = interfaces.KeyRange{Start: []byte(a), End: []byte(b)}
				}
				require.NoError(rt, e.Compact(r))
				if r.Start == nil && r.End == nil {
					// Nothing droppable remains.
					it, err := e.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
					require.NoError(rt, err)
					var got []modelVersion
					for ok := it.First(); ok; ok = it.Next() {
						got = append(got, modelVersion{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
					}
					require.NoError(rt, it.Close())
					all := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
					want, req := m.expect(all)
					requireSubsequence(rt, want, req, got, "AllVersions after Compact(all)")
					// Nothing this life of the engine was told to let go
					// remains, judged by what it holds (an earlier life's
					// higher discard ts may have let more go): per key, at
					// most one version at or below the discard ts, a set.
					below := map[string]int{}
					for _, v := range got {
						if v.ts > lifeDiscard {
							continue
						}
						if below[v.key]++; below[v.key] > 1 || v.kind != interfaces.KindSet {
							rt.Fatalf("AllVersions after Compact(all) at discard ts %d holds droppable %s\ngot  %s\nwant %s",
								lifeDiscard, v, fmtVersions(got), fmtVersions(want))
						}
					}
				}
			},
			"discard": func(rt *rapid.T) {
				if m.applied == 0 {
					return
				}
				ts := rapid.Uint64Range(0, m.applied).Draw(rt, "discardTs")
				require.NoError(rt, e.SetDiscardTs(ts))
				m.discard = max(m.discard, ts)
				lifeDiscard = max(lifeDiscard, ts)
			},
			"get": func(rt *rapid.T) {
				k, ts := keyGen.Draw(rt, "key"), readTs(rt)
				v, gotTs, err := e.Get([]byte(k), ts)
				want, ok := m.get(k, ts)
				if !ok {
					require.ErrorIs(rt, err, interfaces.ErrNotFound, "Get(%q, %d) = %q@%d", k, ts, v, gotTs)
					return
				}
				require.NoError(rt, err, "Get(%q, %d)", k, ts)
				require.True(rt, want.value == string(v), "Get(%q, %d): value of %d bytes, want %s", k, ts, len(v), want)
				require.Equal(rt, want.ts, gotTs, "Get(%q, %d)", k, ts)
			},
			"iterate": func(rt *rapid.T) {
				opts := interfaces.IterOptions{ReadTs: readTs(rt), Reverse: rapid.Bool().Draw(rt, "reverse"), AllVersions: rapid.Bool().Draw(rt, "all")}
				if rapid.Bool().Draw(rt, "lower") {
					opts.LowerBound = []byte(keyGen.Draw(rt, "lowerKey"))
				}
				if rapid.Bool().Draw(rt, "upper") {
					opts.UpperBound = []byte(keyGen.Draw(rt, "upperKey"))
				}
				if rapid.IntRange(0, 3).Draw(rt, "prefix") == 0 {
					opts.Prefix = []byte(keyGen.Draw(rt, "prefixKey"))
				}
				it, err := e.NewIterator(opts)
				require.NoError(rt, err)
				defer it.Close()
				want, req := m.expect(opts)
				var start []byte
				if rapid.Bool().Draw(rt, "seek") {
					start = []byte(keyGen.Draw(rt, "seekKey"))
					want, req = seekSuffix(want, req, start, opts)
				}
				var got []modelVersion
				ok := false
				if start != nil {
					ok = it.Seek(start)
				} else {
					ok = it.First()
				}
				for ; ok; ok = it.Next() {
					got = append(got, modelVersion{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
				}
				require.NoError(rt, it.Err())
				requireSubsequence(rt, want, req, got, fmt.Sprintf("%+v seek %q", opts, start))
			},
			"reopen": func(rt *rapid.T) {
				before := e.durableTs.Load()
				require.NoError(rt, e.Close())
				e = open()
				lifeDiscard = 0
				require.GreaterOrEqual(rt, e.durableTs.Load(), before)
				m.truncate(e.durableTs.Load())
				// The engine forgot the discard ts; what it dropped stays
				// dropped, which the model's discard ts still allows.
			},
			"crash": func(rt *rapid.T) {
				keep := rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(rt, "keep")
				// The durable ts before the crash image is taken: a
				// background flush may raise it right after.
				before := e.durableTs.Load()
				clone := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep})
				_ = e.Close()
				fs = clone
				e = open()
				lifeDiscard = 0
				require.GreaterOrEqual(rt, e.durableTs.Load(), before)
				m.truncate(e.durableTs.Load())
			},
			"check": func(rt *rapid.T) {
				require.NoError(rt, e.Check())
			},
		}
		// Rapid runs about 30 actions per Repeat; a few rounds give
		// sequences long enough to fill several levels.
		for range 6 {
			rt.Repeat(actions)
		}
		require.NoError(rt, e.Check())
	})
}

// seekSuffix returns the part of an expected walk that a Seek(start)
// lands on: forward, from the first key >= start; in reverse, from the
// last key <= start (with AllVersions, its oldest version first).
func seekSuffix(want []modelVersion, req []bool, start []byte, opts interfaces.IterOptions) ([]modelVersion, []bool) {
	for i, v := range want {
		if (!opts.Reverse && v.key >= string(start)) || (opts.Reverse && v.key <= string(start)) {
			return want[i:], req[i:]
		}
	}
	return nil, nil
}

// requireSubsequence checks that got is want with some non-required items
// missing, in order.
func requireSubsequence(t require.TestingT, want []modelVersion, req []bool, got []modelVersion, what string) {
	j := 0
	for i, w := range want {
		if j < len(got) && got[j] == w {
			j++
			continue
		}
		if req[i] {
			require.Fail(t, "missing version", "%s: want %s (required) at position %d\ngot  %s\nwant %s", what, w, j, fmtVersions(got), fmtVersions(want))
		}
	}
	if j != len(got) {
		require.Fail(t, "unexpected versions", "%s: got %s after the expected ones\ngot  %s\nwant %s", what, fmtVersions(got[j:]), fmtVersions(got), fmtVersions(want))
	}
}

// TestPrefixSuccessor checks the prefix-to-bounds rule.
func TestPrefixSuccessor(t *testing.T) {
	for _, c := range []struct{ p, want string }{
		{"a", "b"}, {"ab", "ac"}, {"a\xff", "b"}, {"a\xff\xff", "b"}, {"\xff", ""}, {"", ""}, {"\x00", "\x01"}, {"a\x00", "a\x01"},
	} {
		got := prefixSuccessor([]byte(c.p))
		if c.want == "" {
			require.Nil(t, got, "%q", c.p)
		} else {
			require.Equal(t, c.want, string(got), "%q", c.p)
		}
	}
	lower, upper, empty := effectiveBounds(interfaces.IterOptions{LowerBound: []byte("b"), Prefix: []byte("a")}, nil, nil)
	require.True(t, empty)
	require.Equal(t, "b", string(lower))
	require.Equal(t, "b", string(upper))
	lower, upper, empty = effectiveBounds(interfaces.IterOptions{LowerBound: []byte{}, UpperBound: nil}, nil, nil)
	require.False(t, empty)
	require.Nil(t, lower)
	require.Nil(t, upper)
	_, _, empty = effectiveBounds(interfaces.IterOptions{UpperBound: []byte{}}, nil, nil)
	require.True(t, empty)
	require.False(t, errors.Is(nil, interfaces.ErrCorrupt))
	require.True(t, bytes.Equal(nil, []byte{}))
}
