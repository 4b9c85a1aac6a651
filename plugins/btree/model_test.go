package btree_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// TestModel is a model-based test: rapid draws sequences of Apply, Flush,
// Get, iteration, SetDiscardTs with Compact, Close/reopen and crashes, on
// an engine with small pages and a small write buffer (so trees grow
// several levels, buffers flush in the background, and pages move), and
// checks every answer against a map of versions. Check runs after every
// restart and at the end. The conformance suite's random test covers the
// contract; this one aims at the engine's own structure.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := newModelRun(rt)
		defer s.close()
		rt.Repeat(map[string]func(*rapid.T){
			"apply":   s.apply,
			"flush":   s.flush,
			"get":     s.get,
			"iterate": s.iterate,
			"compact": s.compact,
			"reopen":  s.reopen,
			"crash":   s.crash,
			"":        s.invariants,
		})
	})
}

type modelRun struct {
	t       *rapid.T
	fs      *vfs.MemFS
	e       *btree.Engine
	m       *model
	keys    []string
	ts      uint64
	discard uint64
	deps    btree.Deps
}

func newModelRun(t *rapid.T) *modelRun {
	s := &modelRun{t: t, fs: vfs.NewMem(), m: newModel()}
	for i := range 80 {
		s.keys = append(s.keys, fmt.Sprintf("k%03d", i*7))
	}
	s.keys = append(s.keys, "", "\x00", "\xff\xff", string(bytes.Repeat([]byte("long"), 300)))
	if rapid.Bool().Draw(t, "codec") {
		s.deps.Codec = newTestCodec()
	}
	if rapid.Bool().Draw(t, "cipher") {
		s.deps.Cipher = newTestCipher(4)
	}
	s.open(s.fs)
	return s
}

func (s *modelRun) open(fs *vfs.MemFS) {
	deps := s.deps
	deps.FS = fs
	e, err := btree.New(btree.Options{
		Dir: "db", PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize, CompactBatch: 17,
	}, deps)
	require.NoError(s.t, err)
	s.fs, s.e = fs, e
}

func (s *modelRun) close() {
	if s.e != nil {
		require.NoError(s.t, s.e.Check())
		require.NoError(s.t, s.e.Close())
	}
}

func (s *modelRun) apply(t *rapid.T) {
	n := rapid.IntRange(1, 40).Draw(t, "n")
	s.ts++
	used := map[string]bool{}
	var es []interfaces.Entry
	for range n {
		k := rapid.SampledFrom(s.keys).Draw(t, "key")
		if used[k] {
			s.ts++
			clear(used)
		}
		used[k] = true
		e := interfaces.Entry{Key: []byte(k), Ts: s.ts, Kind: interfaces.KindSet}
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0, 1:
			e.Kind = interfaces.KindDelete
		case 2:
			e.Value = bytes.Repeat([]byte{byte(s.ts)}, rapid.IntRange(200, 3000).Draw(t, "big"))
		default:
			e.Value = []byte(fmt.Sprintf("%s@%d", k, s.ts))
		}
		es = append(es, e)
	}
	require.NoError(t, s.e.Apply(es))
	s.m.apply(es)
}

func (s *modelRun) flush(t *rapid.T) {
	d, err := s.e.Flush()
	require.NoError(t, err)
	require.Equal(t, s.ts, d)
}

func (s *modelRun) get(t *rapid.T) {
	k := rapid.SampledFrom(s.keys).Draw(t, "key")
	readTs := max(s.discard, rapid.Uint64Range(1, s.ts+1).Draw(t, "readTs"))
	want, ok := s.m.visible(k, readTs, interfaces.MaxTs)
	v, ts, err := s.e.Get([]byte(k), readTs)
	if !ok {
		require.ErrorIs(t, err, interfaces.ErrNotFound, "Get(%q, %d)", k, readTs)
		return
	}
	require.NoError(t, err, "Get(%q, %d)", k, readTs)
	require.Equal(t, want.ts, ts)
	require.True(t, bytes.Equal([]byte(want.value), v), "Get(%q, %d) value", k, readTs)
}

// iterate walks with random options, at a read ts at or above the discard
// ts, and compares with the model.
func (s *modelRun) iterate(t *rapid.T) {
	opts := interfaces.IterOptions{
		ReadTs:  max(s.discard, rapid.Uint64Range(1, s.ts+1).Draw(t, "readTs")),
		Reverse: rapid.Bool().Draw(t, "reverse"),
	}
	if rapid.Bool().Draw(t, "lower") {
		opts.LowerBound = []byte(rapid.SampledFrom(s.keys).Draw(t, "lowerKey"))
	}
	if rapid.Bool().Draw(t, "upper") {
		opts.UpperBound = []byte(rapid.SampledFrom(s.keys).Draw(t, "upperKey"))
	}
	if opts.LowerBound != nil && opts.UpperBound != nil && bytes.Compare(opts.LowerBound, opts.UpperBound) > 0 {
		opts.LowerBound, opts.UpperBound = opts.UpperBound, opts.LowerBound
	}
	var want []item
	for _, k := range s.m.sortedKeys() {
		if (opts.LowerBound != nil && k < string(opts.LowerBound)) || (opts.UpperBound != nil && k >= string(opts.UpperBound)) {
			continue
		}
		if v, ok := s.m.visible(k, opts.ReadTs, interfaces.MaxTs); ok {
			want = append(want, item{key: k, version: v})
		}
	}
	if opts.Reverse {
		slices.Reverse(want)
	}
	it, err := s.e.NewIterator(opts)
	require.NoError(t, err)
	var got []item
	seek := rapid.Bool().Draw(t, "seek")
	var ok bool
	if seek {
		target := rapid.SampledFrom(s.keys).Draw(t, "seekKey")
		ok = it.Seek([]byte(target))
		want = slices.DeleteFunc(want, func(i item) bool {
			if opts.Reverse {
				return i.key > target
			}
			return i.key < target
		})
	} else {
		ok = it.First()
	}
	for ; ok; ok = it.Next() {
		got = append(got, item{key: string(it.Key()), version: version{ts: it.Ts(), kind: it.Kind(), value: string(it.Value())}})
	}
	require.NoError(t, it.Close())
	require.Equal(t, len(want), len(got), "walk %+v: %v, want %v", opts, got, want)
	for i := range want {
		require.Equal(t, want[i], got[i], "walk %+v at %d", opts, i)
	}
}

func (s *modelRun) compact(t *rapid.T) {
	if s.ts > s.discard {
		s.discard += rapid.Uint64Range(0, s.ts-s.discard).Draw(t, "discard")
	}
	require.NoError(t, s.e.SetDiscardTs(s.discard))
	require.NoError(t, s.e.Compact(interfaces.KeyRange{}))
	// Compact is exact: nothing droppable remains.
	required, _ := s.m.expect(interfaces.MaxTs, s.discard)
	got := walkAll(t, s.e)
	require.Equal(t, len(required), len(got), "AllVersions walk after Compact at discard %d", s.discard)
	for i := range required {
		require.Equal(t, required[i], got[i])
	}
}

func (s *modelRun) restarted(t *rapid.T, before uint64) {
	d, err := s.e.DurableTs()
	require.NoError(t, err)
	require.GreaterOrEqual(t, d, before)
	require.LessOrEqual(t, d, s.ts)
	for k, vs := range s.m.keys {
		s.m.keys[k] = slices.DeleteFunc(vs, func(v version) bool { return v.ts > d })
	}
	// New versions resume above the durable ts; the model's discard ts
	// stays (the engine may have kept it).
	s.ts = d
	require.NoError(t, s.e.Check())
	checkState(t, s.e, s.m, interfaces.MaxTs, s.discard)
}

func (s *modelRun) reopen(t *rapid.T) {
	before, err := s.e.DurableTs()
	require.NoError(t, err)
	require.NoError(t, s.e.Close())
	s.open(s.fs)
	s.restarted(t, before)
}

func (s *modelRun) crash(t *rapid.T) {
	before, err := s.e.DurableTs()
	require.NoError(t, err)
	keep := rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(t, "keep")
	seed := rapid.Uint64().Draw(t, "seed")
	clone := s.fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: rand.New(rand.NewPCG(seed, 1))})
	_ = s.e.Close()
	s.open(clone)
	s.restarted(t, before)
}

func (s *modelRun) invariants(t *rapid.T) {
	st, err := s.e.Stats()
	require.NoError(t, err)
	require.Equal(t, s.ts, max(st.AppliedTs, st.DurableTs))
	// After a restart the engine may have forgotten the latest discard ts
	// (it is recorded at commits), never invented a higher one.
	require.LessOrEqual(t, st.DiscardTs, s.discard)
}
