package metamorphic

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/vfs"
)

// engineConfig opens one engine under test on a file system.
type engineConfig struct {
	name string
	open func(fs vfs.FS) (interfaces.Storage, error)
}

// configs are the engines and option sets every stream runs against. The
// first is the reference.
func configs(t *testing.T) []engineConfig {
	small := func() lsm.Options {
		return lsm.Options{
			Dir:                 "db",
			MemtableSize:        lsm.MinMemtableSize,
			L0CompactionTrigger: 2,
			L0StopWritesTrigger: 6,
			BaseLevelBytes:      48 << 10,
			LevelMultiplier:     3,
			TargetFileSize:      lsm.MinTargetFileSize,
			BlockSize:           512,
			MaxManifestSize:     lsm.MinManifestSize,
		}
	}
	cache, err := arc.New(arc.Options{Capacity: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	codec := snappy.New()
	return []engineConfig{
		{"memory", func(fs vfs.FS) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: "db"}, memory.Deps{FS: fs})
		}},
		{"lsm-small", func(fs vfs.FS) (interfaces.Storage, error) {
			return lsm.New(small(), lsm.Deps{FS: fs})
		}},
		{"lsm-small-snappy-arc", func(fs vfs.FS) (interfaces.Storage, error) {
			o := small()
			o.BloomBitsPerKey = -1
			o.CompactionConcurrency = 2
			return lsm.New(o, lsm.Deps{FS: fs, Codec: codec, Cache: cache})
		}},
		{"lsm-defaults", func(fs vfs.FS) (interfaces.Storage, error) {
			return lsm.New(lsm.Options{Dir: "db", MemtableSize: 256 << 10}, lsm.Deps{FS: fs, Codec: codec})
		}},
		{"btree-small", func(fs vfs.FS) (interfaces.Storage, error) {
			return btree.New(btree.Options{Dir: "db", PageSize: btree.MinPageSize, WriteBufferSize: btree.MinWriteBufferSize, CompactBatch: 64}, btree.Deps{FS: fs})
		}},
		{"btree-snappy-arc", func(fs vfs.FS) (interfaces.Storage, error) {
			return btree.New(btree.Options{Dir: "db", WriteBufferSize: 256 << 10}, btree.Deps{FS: fs, Codec: codec, Cache: cache})
		}},
	}
}

// instance is one engine in a run.
type instance struct {
	cfg engineConfig
	fs  *vfs.MemFS
	s   interfaces.Storage
}

// run is one metamorphic run: the engines, the reference model, the
// batches applied so far (for replay after a restart), and the log.
type run struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	engines []*instance
	batches [][]interfaces.Entry
	m       *refModel
	keys    []string
	log     []string
}

func (r *run) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *run) fatalf(format string, args ...any) {
	r.t.Helper()
	tail := r.log
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	r.t.Fatalf("metamorphic seed %d (LIGHTNING_METAMORPHIC_SEED=%d), after %d ops:\n  %s\n%s",
		r.seed, r.seed, len(r.log), strings.Join(tail, "\n  "), fmt.Sprintf(format, args...))
}

func seedFromEnv() (uint64, bool) {
	if s := os.Getenv("LIGHTNING_METAMORPHIC_SEED"); s != "" {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}

func TestMetamorphic(t *testing.T) {
	runs, ops := 4, 2500
	switch {
	case testing.Short():
		runs, ops = 2, 600
	case raceEnabled:
		runs, ops = 2, 1000
	}
	seed, fixed := seedFromEnv()
	if !fixed {
		seed = uint64(time.Now().UnixNano())
	}
	for i := range runs {
		if fixed && i > 0 {
			break
		}
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed%d", s), func(t *testing.T) { newRun(t, s).ops(ops) })
	}
}

func newRun(t *testing.T, seed uint64) *run {
	r := &run{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6d657461)), m: newRefModel()}
	alphabet := []string{"", "a", "a\x00", "aa", "ab", "abc", "b", "b\xff", "c", "k", "k1", "k2", "zz", "\xff", "\xff\xff"}
	for i := range 40 {
		alphabet = append(alphabet, fmt.Sprintf("key%03d", i*7))
	}
	r.keys = alphabet
	for _, cfg := range configs(t) {
		in := &instance{cfg: cfg, fs: vfs.NewMem()}
		s, err := cfg.open(in.fs)
		if err != nil {
			t.Fatalf("open %s: %v", cfg.name, err)
		}
		in.s = s
		r.engines = append(r.engines, in)
	}
	t.Cleanup(func() {
		for _, in := range r.engines {
			if in.s != nil {
				_ = in.s.Close()
			}
		}
	})
	return r
}

func (r *run) key() []byte { return []byte(r.keys[r.rng.IntN(len(r.keys))]) }

// readTs returns a read ts at or above the discard ts.
func (r *run) readTs() uint64 {
	if r.m.applied <= r.m.discard || r.rng.IntN(3) == 0 {
		return interfaces.MaxTs
	}
	return r.m.discard + r.rng.Uint64N(r.m.applied-r.m.discard+1)
}

func (r *run) ops(n int) {
	type op struct {
		weight int
		fn     func()
	}
	table := []op{
		{30, r.opApply},
		{20, r.opGet},
		{12, r.opIterate},
		{4, r.opFlush},
		{3, r.opCompact},
		{3, r.opDiscard},
		{2, r.opReopen},
		{2, r.opCrash},
		{1, r.opCheck},
	}
	total := 0
	for _, o := range table {
		total += o.weight
	}
	for range n {
		x := r.rng.IntN(total)
		for _, o := range table {
			if x < o.weight {
				o.fn()
				break
			}
			x -= o.weight
		}
	}
	r.opCheck()
}

func (r *run) opApply() {
	ts := r.m.applied
	var es []interfaces.Entry
	used := map[string]bool{}
	for range 1 + r.rng.IntN(30) {
		k := r.key()
		if used[string(k)] || ts == r.m.applied || r.rng.IntN(5) == 0 {
			ts++
			clear(used)
		}
		used[string(k)] = true
		if r.rng.IntN(5) == 0 {
			es = append(es, interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindDelete})
			continue
		}
		size := []int{0, 3, 40, 300, 2000, 9000}[r.rng.IntN(6)]
		unit := []byte(fmt.Sprintf("%x@%d.", k, ts))
		v := bytes.Repeat(unit, size/len(unit)+1)[:size]
		es = append(es, interfaces.Entry{Key: k, Ts: ts, Kind: interfaces.KindSet, Value: v})
	}
	r.logf("apply %d entries, ts %d..%d", len(es), es[0].Ts, es[len(es)-1].Ts)
	for _, in := range r.engines {
		if err := in.s.Apply(es); err != nil {
			r.fatalf("%s: Apply: %v", in.cfg.name, err)
		}
	}
	r.batches = append(r.batches, es)
	r.m.apply(es)
}

func (r *run) opGet() {
	k, ts := r.key(), r.readTs()
	r.logf("get %q at %d", k, ts)
	want, ok := r.m.get(string(k), ts)
	for _, in := range r.engines {
		v, vts, err := in.s.Get(k, ts)
		switch {
		case !ok && !errors.Is(err, interfaces.ErrNotFound):
			r.fatalf("%s: Get(%q, %d) = %d bytes at %d, %v; want not found", in.cfg.name, k, ts, len(v), vts, err)
		case ok && (err != nil || string(v) != want.value || vts != want.ts):
			r.fatalf("%s: Get(%q, %d) = %d bytes at %d, %v; want %s", in.cfg.name, k, ts, len(v), vts, err, want)
		}
	}
}

func (r *run) opIterate() {
	opts := interfaces.IterOptions{ReadTs: r.readTs(), Reverse: r.rng.IntN(2) == 0, AllVersions: r.rng.IntN(3) == 0}
	if r.rng.IntN(3) == 0 {
		opts.LowerBound = r.key()
	}
	if r.rng.IntN(3) == 0 {
		opts.UpperBound = r.key()
	}
	if opts.LowerBound != nil && opts.UpperBound != nil && bytes.Compare(opts.LowerBound, opts.UpperBound) > 0 {
		// Crossed bounds may be an error or an empty iterator: not a
		// comparison worth making.
		opts.LowerBound, opts.UpperBound = opts.UpperBound, opts.LowerBound
	}
	if r.rng.IntN(5) == 0 {
		p := r.key()
		opts.Prefix = p[:r.rng.IntN(len(p)+1)]
	}
	var seeks [][]byte
	for range r.rng.IntN(3) {
		seeks = append(seeks, r.key())
	}
	r.logf("iterate %+v seeks %q", opts, seeks)
	var ref []string
	for i, in := range r.engines {
		got := r.walk(in, opts, seeks)
		if i == 0 {
			ref = got
			continue
		}
		if !slices.Equal(got, ref) {
			r.fatalf("%s differs from %s on %+v seeks %q:\n got %v\nwant %v", in.cfg.name, r.engines[0].cfg.name, opts, seeks, got, ref)
		}
	}
	if len(seeks) == 0 && opts.LowerBound == nil && opts.UpperBound == nil && opts.Prefix == nil {
		want := r.m.walk(opts)
		if !slices.Equal(ref, want) {
			r.fatalf("engines differ from the model on %+v:\n got %v\nwant %v", opts, ref, want)
		}
	}
}

// walk reads a whole iterator (First, or each Seek in turn, to the end),
// leaving out versions the discard ts lets go.
func (r *run) walk(in *instance, opts interfaces.IterOptions, seeks [][]byte) []string {
	it, err := in.s.NewIterator(opts)
	if err != nil {
		r.fatalf("%s: NewIterator(%+v): %v", in.cfg.name, opts, err)
	}
	var out []string
	read := func(ok bool) {
		for ; ok; ok = it.Next() {
			k, ts := string(it.Key()), it.Ts()
			if opts.AllVersions && !r.m.kept(k, ts) {
				continue
			}
			out = append(out, fmt.Sprintf("%q@%d:%d=%x", k, ts, it.Kind(), hashValue(it.Value())))
		}
		out = append(out, "|")
	}
	if len(seeks) == 0 {
		read(it.First())
	}
	for _, s := range seeks {
		read(it.Seek(s))
	}
	if err := it.Close(); err != nil {
		r.fatalf("%s: iterator %+v: %v", in.cfg.name, opts, err)
	}
	return out
}

func hashValue(v []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range v {
		h = (h ^ uint32(c)) * 16777619
	}
	return h ^ uint32(len(v))
}

func (r *run) opFlush() {
	r.logf("flush")
	for _, in := range r.engines {
		d, err := in.s.Flush()
		if err != nil {
			r.fatalf("%s: Flush: %v", in.cfg.name, err)
		}
		if d != r.m.applied {
			r.fatalf("%s: Flush = %d; applied %d", in.cfg.name, d, r.m.applied)
		}
	}
}

func (r *run) opCompact() {
	var kr interfaces.KeyRange
	if r.rng.IntN(2) == 0 {
		a, b := r.key(), r.key()
		if bytes.Compare(a, b) > 0 {
			a, b = b, a
		}
		kr = interfaces.KeyRange{Start: a, End: b}
	}
	r.logf("compact [%q, %q)", kr.Start, kr.End)
	for _, in := range r.engines {
		if err := in.s.Compact(kr); err != nil {
			r.fatalf("%s: Compact: %v", in.cfg.name, err)
		}
	}
}

func (r *run) opDiscard() {
	if r.m.applied == 0 {
		return
	}
	ts := r.m.discard + r.rng.Uint64N(r.m.applied-r.m.discard+1)
	r.logf("discard %d", ts)
	for _, in := range r.engines {
		if err := in.s.SetDiscardTs(ts); err != nil {
			r.fatalf("%s: SetDiscardTs: %v", in.cfg.name, err)
		}
	}
	r.m.discard = max(r.m.discard, ts)
}

// restart reopens every engine on fs(in) and replays, as the core would,
// the batches above each one's durable ts.
func (r *run) restart(what string, fs func(in *instance) *vfs.MemFS) {
	for _, in := range r.engines {
		_ = in.s.Close()
		in.fs = fs(in)
		s, err := in.cfg.open(in.fs)
		if err != nil {
			r.fatalf("%s: reopen after %s: %v", in.cfg.name, what, err)
		}
		in.s = s
		d, err := s.DurableTs()
		if err != nil || d > r.m.applied {
			r.fatalf("%s: DurableTs after %s = %d, %v; applied %d", in.cfg.name, what, d, err, r.m.applied)
		}
		replayed := 0
		for _, b := range r.batches {
			var es []interfaces.Entry
			for _, e := range b {
				if e.Ts > d {
					es = append(es, e)
				}
			}
			if len(es) > 0 {
				if err := s.Apply(es); err != nil {
					r.fatalf("%s: replay after %s: %v", in.cfg.name, what, err)
				}
				replayed += len(es)
			}
		}
		r.logf("  %s durable at %d, replayed %d entries", in.cfg.name, d, replayed)
	}
}

func (r *run) opReopen() {
	r.logf("reopen")
	r.restart("a reopen", func(in *instance) *vfs.MemFS { return in.fs })
}

func (r *run) opCrash() {
	keep := []float64{0, 0.5, 1}[r.rng.IntN(3)]
	seed := r.rng.Uint64()
	r.logf("crash keeping %.1f", keep)
	r.restart("a crash", func(in *instance) *vfs.MemFS {
		return in.fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: rand.New(rand.NewPCG(seed, 1))})
	})
}

func (r *run) opCheck() {
	r.logf("check")
	for _, in := range r.engines {
		if err := in.s.Check(); err != nil {
			r.fatalf("%s: Check: %v", in.cfg.name, err)
		}
		st, err := in.s.Stats()
		if err != nil || st.AppliedTs != r.m.applied {
			r.fatalf("%s: Stats: AppliedTs %d, %v; applied %d", in.cfg.name, st.AppliedTs, err, r.m.applied)
		}
	}
}

// refVersion is one version in the reference model.
type refVersion struct {
	ts    uint64
	kind  interfaces.EntryKind
	value string
}

func (v refVersion) String() string {
	return fmt.Sprintf("%d:%d(%d bytes)", v.ts, v.kind, len(v.value))
}

// refModel holds every version applied, and the highest discard ts.
type refModel struct {
	versions map[string][]refVersion // ts descending
	applied  uint64
	discard  uint64
}

func newRefModel() *refModel { return &refModel{versions: map[string][]refVersion{}} }

func (m *refModel) apply(es []interfaces.Entry) {
	for _, e := range es {
		v := refVersion{ts: e.Ts, kind: e.Kind}
		if e.Kind == interfaces.KindSet {
			v.value = string(e.Value)
		}
		vs := append(m.versions[string(e.Key)], v)
		sort.Slice(vs, func(i, j int) bool { return vs[i].ts > vs[j].ts })
		m.versions[string(e.Key)] = vs
		m.applied = max(m.applied, e.Ts)
	}
}

func (m *refModel) get(k string, ts uint64) (refVersion, bool) {
	for _, v := range m.versions[k] {
		if v.ts <= ts {
			return v, v.kind == interfaces.KindSet
		}
	}
	return refVersion{}, false
}

// kept reports whether the version (k, ts) must survive the discard ts:
// it is above it, or the newest at or below it and not a tombstone.
func (m *refModel) kept(k string, ts uint64) bool {
	if ts > m.discard {
		return true
	}
	for _, v := range m.versions[k] {
		if v.ts <= m.discard {
			return v.ts == ts && v.kind == interfaces.KindSet
		}
	}
	return false
}

// walk is what an unbounded First-to-end walk yields, in walk's format.
func (m *refModel) walk(opts interfaces.IterOptions) []string {
	keys := make([]string, 0, len(m.versions))
	for k := range m.versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if !opts.AllVersions {
			if v, ok := m.get(k, opts.ReadTs); ok {
				out = append(out, fmt.Sprintf("%q@%d:%d=%x", k, v.ts, v.kind, hashValue([]byte(v.value))))
			}
			continue
		}
		for _, v := range m.versions[k] {
			if v.ts <= opts.ReadTs && m.kept(k, v.ts) {
				out = append(out, fmt.Sprintf("%q@%d:%d=%x", k, v.ts, v.kind, hashValue([]byte(v.value))))
			}
		}
	}
	if opts.Reverse {
		slices.Reverse(out)
	}
	return append(out, "|")
}
