package wal

import (
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// model drives a log on a MemFS and remembers what it must hold: the
// records written in order, how many of them a Sync covered, and the
// storage's durable ts (below which Release frees segments and Replay
// starts).
type model struct {
	t    tb
	fs   *vfs.MemFS
	opts Options
	l    *Log
	// written holds the records of the log's current history, in order.
	written []Record
	// synced is how many of written a returned Sync covers.
	synced  int
	durable uint64
	nextTs  uint64
}

func newModel(t tb, opts Options) *model {
	m := &model{t: t, fs: vfs.NewMem(), nextTs: 1}
	opts.FS = m.fs
	m.opts = opts
	l, _, recs := openReplay(t, opts, 0)
	require.Empty(t, recs)
	m.l = l
	return m
}

func (m *model) write(n int, size func() int) {
	g := makeGroup(m.nextTs, n, size)
	require.NoError(m.t, m.l.WriteGroup(g))
	m.written = append(m.written, g...)
	m.nextTs += uint64(n)
}

func (m *model) sync() {
	require.NoError(m.t, m.l.Sync())
	m.synced = len(m.written)
}

// release moves the durable ts to d (the storage flushed up to it; it may
// be ahead of the WAL's syncs) and releases the log behind it.
func (m *model) release(d uint64) {
	m.durable = max(m.durable, d)
	require.NoError(m.t, m.l.Release(m.durable))
}

// above returns the records of rs with ts above the durable ts.
func (m *model) above(rs []Record) []Record {
	var out []Record
	for _, r := range rs {
		if r.Ts > m.durable {
			out = append(out, r)
		}
	}
	return out
}

// crash takes what a machine crash would leave, reopens the log on it and
// checks that Replay returns a prefix of the records above the durable ts
// holding every synced one, without error. The model continues from what
// was recovered.
func (m *model) crash(keep float64, seed uint64) {
	t := m.t
	c := m.fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: mrand.New(mrand.NewPCG(seed, 99))})
	m.fs = c
	m.opts.FS = c
	l, res, recs, err := tryOpenReplay(m.opts, m.durable, Strict)
	require.NoError(t, err, "recovery after a crash (keep %v, seed %d)\n%s", keep, seed, c)
	m.recovered(l, res, recs, keep == 1)
}

// recovered checks a replay's records against the model and continues
// from them.
func (m *model) recovered(l *Log, res ReplayResult, recs []Record, whole bool) {
	t := m.t
	exp := m.above(m.written)
	requirePrefix(t, exp, recs)
	mustHave := len(m.above(m.written[:m.synced]))
	require.GreaterOrEqual(t, len(recs), mustHave, "synced records were lost")
	if whole {
		require.Len(t, recs, len(exp), "nothing may be lost when every write survives")
	}
	if m.synced > 0 {
		require.GreaterOrEqual(t, res.LastTs, m.written[m.synced-1].Ts, "LastTs lost a synced record's ts")
	}
	if len(recs) > 0 {
		require.GreaterOrEqual(t, res.LastTs, recs[len(recs)-1].Ts)
	}
	require.Less(t, res.LastTs, m.nextTs, "LastTs above every ts written")
	require.NoError(t, l.Check())
	cut := len(m.written) - len(exp) + len(recs)
	if len(recs) == 0 {
		// Unsynced records at or below the durable ts may be gone (the
		// storage holds them); only the synced ones are surely there. A
		// replayed record, on the other hand, vouches for the whole log
		// before it.
		cut = min(m.synced, cut)
	}
	m.written = m.written[:cut]
	m.synced = cut
	m.nextTs = max(m.durable, res.LastTs) + 1
	m.l = l
}

// reopen closes the log cleanly and replays it: everything above the
// durable ts comes back, and the log ends clean.
func (m *model) reopen() {
	t := m.t
	require.NoError(t, m.l.Close())
	l, res, recs := openReplay(t, m.opts, m.durable)
	require.True(t, res.Clean)
	require.False(t, res.Torn())
	m.synced = len(m.written)
	m.recovered(l, res, recs, true)
}

func TestCrashRecovery(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for _, keep := range []float64{0, 0.5, 1} {
		for seed := range uint64(seeds) {
			t.Run(fmt.Sprintf("keep=%v/seed=%d", keep, seed), func(t *testing.T) {
				rng := mrand.New(mrand.NewPCG(seed, 7))
				// Odd seeds preallocate, in steps that extend each
				// segment a few times; every other pair syncs rotated
				// segments in the background.
				m := newModel(t, Options{Dir: testDir, SegmentSize: 1024, Preallocate: int64(seed%2) * 300,
					SyncRotatedInBackground: seed/2%2 == 1})
				size := func() int { return rng.IntN(300) }
				for round := range 3 {
					for range 40 {
						switch p := rng.IntN(100); {
						case p < 65:
							m.write(1+rng.IntN(4), size)
						case p < 85:
							m.sync()
						case p < 95:
							if m.nextTs > 1 {
								m.release(uint64(rng.IntN(int(m.nextTs))))
							}
						default:
							m.reopen()
						}
					}
					m.crash(keep, seed*10+uint64(round))
				}
				m.reopen()
			})
		}
	}
}

// TestModel runs random operation sequences, crashes included, against the
// model.
func TestModel(t *testing.T) {
	// Failing cases are reported with their seed; no files in the tree.
	if f := flag.Lookup("rapid.nofailfile"); f != nil {
		require.NoError(t, f.Value.Set("true"))
	}
	rapid.Check(t, func(rt *rapid.T) {
		segSize := rapid.SampledFrom([]int64{MinSegmentSize, 700, 4096}).Draw(rt, "segment size")
		var opts Options
		opts.Dir, opts.SegmentSize = testDir, segSize
		opts.Preallocate = rapid.SampledFrom([]int64{0, 64, 1000}).Draw(rt, "preallocate")
		opts.SyncRotatedInBackground = rapid.Bool().Draw(rt, "sync rotated in background")
		if rapid.Bool().Draw(rt, "sealed") {
			opts.Cipher = newGCMCipher(3)
		}
		if rapid.Bool().Draw(rt, "compressed") {
			opts.Codec, opts.CompressThreshold = rleCodec{}, 32
		}
		m := newModel(rt, opts)
		rt.Repeat(map[string]func(*rapid.T){
			"write": func(rt *rapid.T) {
				n := rapid.IntRange(1, 5).Draw(rt, "records")
				sizes := rapid.SliceOfN(rapid.IntRange(0, 400), n, n).Draw(rt, "sizes")
				i := 0
				m.write(n, func() int { i++; return sizes[i-1] })
			},
			"sync": func(*rapid.T) { m.sync() },
			"release": func(rt *rapid.T) {
				m.release(rapid.Uint64Range(0, m.nextTs).Draw(rt, "durable ts"))
			},
			"reopen": func(*rapid.T) { m.reopen() },
			"crash": func(rt *rapid.T) {
				keep := rapid.SampledFrom([]float64{0, 0.3, 0.7, 1}).Draw(rt, "keep")
				m.crash(keep, rapid.Uint64().Draw(rt, "seed"))
			},
			"": func(rt *rapid.T) {
				st := m.l.Stats()
				require.Len(rt, segmentFiles(rt, m.fs, testDir), st.Segments)
			},
		})
		m.reopen()
	})
}

// countingInjector counts the operations matching kinds and path, and
// fails none.
type countingInjector struct {
	kinds vfs.OpKind
	path  string
	n     atomic.Int64
}

func (c *countingInjector) MaybeError(op vfs.Op) error {
	if op.Kind&c.kinds != 0 && strings.Contains(op.Path, c.path) {
		c.n.Add(1)
	}
	return nil
}

// faultWorkload opens a log on fsys and writes groups with syncs, rotating
// and reopening, until an error. It returns the records written (those of
// a failed group included) and how many of them a returned Sync (or
// Close) covered.
func faultWorkload(fsys vfs.FS, prealloc int64) (written []Record, synced int, err error) {
	opts := Options{FS: fsys, Dir: testDir, SegmentSize: 600, Preallocate: prealloc}
	rng := mrand.New(mrand.NewPCG(42, 42))
	ts := uint64(1)
	for life := range 2 {
		l, _, _, err := tryOpenReplay(opts, 0, Strict)
		if err != nil {
			return written, synced, err
		}
		for g := range 12 {
			grp := makeGroup(ts, 1+rng.IntN(3), func() int { return rng.IntN(150) })
			if err := l.WriteGroup(grp); err != nil {
				// The group may have reached the file in part: its whole
				// records may come back, as after any crash mid-write.
				written = append(written, grp...)
				// A failed write fail-stops the log.
				if e2 := l.WriteGroup(makeGroup(ts+10, 1, func() int { return 1 })); !errors.Is(e2, interfaces.ErrFailStopped) {
					return written, synced, fmt.Errorf("after a failed write: %v", e2)
				}
				return written, synced, err
			}
			written = append(written, grp...)
			ts += uint64(len(grp))
			if g%3 == life {
				if err := l.Sync(); err != nil {
					return written, synced, err
				}
				synced = len(written)
			}
		}
		if err := l.Close(); err != nil {
			return written, synced, err
		}
		synced = len(written)
	}
	return written, synced, nil
}

// checkRecovers reopens a log that a faulty run left on fsys and checks it
// replays a prefix of written holding the first synced records, then takes
// new writes and replays them too.
func checkRecovers(t *testing.T, fsys vfs.FS, written []Record, synced int, prealloc int64) {
	t.Helper()
	opts := Options{FS: fsys, Dir: testDir, SegmentSize: 600, Preallocate: prealloc}
	l, res, recs, err := tryOpenReplay(opts, 0, Strict)
	require.NoError(t, err, "%v", fsys)
	requirePrefix(t, written, recs)
	require.GreaterOrEqual(t, len(recs), synced)
	more := makeGroup(res.LastTs+1, 2, func() int { return 20 })
	require.NoError(t, l.WriteGroup(more))
	require.NoError(t, l.Close())
	l, res, again := openReplay(t, opts, 0)
	require.True(t, res.Clean)
	requirePrefix(t, append(recs, more...), again)
	require.Len(t, again, len(recs)+len(more))
	require.NoError(t, l.Close())
}

// faultPreallocs are the Preallocate settings the fault tests run with:
// off, and a step small enough that the 600-byte segments are extended
// with zeros several times each, so faults and crashes land between a
// record and its zeros, in a zero write, and in the truncation that ends
// a segment.
var faultPreallocs = []int64{0, 160}

func TestTornWriteAtEveryWrite(t *testing.T) {
	for _, prealloc := range faultPreallocs {
		counter := &countingInjector{kinds: vfs.OpWrite, path: ".wal"}
		written, synced, err := faultWorkload(vfs.NewErrorFS(vfs.NewMem(), counter), prealloc)
		require.NoError(t, err)
		require.Equal(t, len(written), synced)
		writes := counter.n.Load()
		require.Greater(t, writes, int64(20))
		for n := int64(1); n <= writes; n++ {
			for _, keep := range []float64{0, 1} {
				mem := vfs.NewMem()
				inj := vfs.TornWriteNth(n, ".wal", mrand.New(mrand.NewPCG(uint64(n), 1)))
				written, synced, err := faultWorkload(vfs.NewErrorFS(mem, inj), prealloc)
				require.ErrorIs(t, err, vfs.ErrInjected, "write %d", n)
				t.Run(fmt.Sprintf("prealloc=%d/write=%d/keep=%v", prealloc, n, keep), func(t *testing.T) {
					checkRecovers(t, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep}), written, synced, prealloc)
				})
			}
		}
	}
}

func TestCrashAfterEveryOperation(t *testing.T) {
	for _, prealloc := range faultPreallocs {
		counter := &countingInjector{kinds: vfs.OpAll}
		_, _, err := faultWorkload(vfs.NewErrorFS(vfs.NewMem(), counter), prealloc)
		require.NoError(t, err)
		ops := counter.n.Load()
		for n := int64(1); n <= ops; n++ {
			mem := vfs.NewMem()
			// Every operation from the nth on fails: the process died there.
			written, synced, err := faultWorkload(vfs.NewErrorFS(mem, vfs.FailNth(n, vfs.OpAll, "", true)), prealloc)
			require.ErrorIs(t, err, vfs.ErrInjected, "op %d", n)
			for _, keep := range []float64{0, 0.5, 1} {
				t.Run(fmt.Sprintf("prealloc=%d/op=%d/keep=%v", prealloc, n, keep), func(t *testing.T) {
					c := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: mrand.New(mrand.NewPCG(uint64(n), 3))})
					checkRecovers(t, c, written, synced, prealloc)
				})
			}
		}
	}
}

func TestFailStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// inj fails after the log is open and holds a few records.
		inj vfs.Injector
		// trigger is the call that meets the failure.
		trigger func(l *Log, ts uint64) error
	}{
		{"write", vfs.FailNth(1, vfs.OpWrite, ".wal", false), func(l *Log, ts uint64) error {
			return l.WriteGroup(makeGroup(ts, 2, func() int { return 30 }))
		}},
		{"torn write", vfs.TornWriteNth(1, ".wal", nil), func(l *Log, ts uint64) error {
			return l.WriteGroup(makeGroup(ts, 2, func() int { return 30 }))
		}},
		{"sync", vfs.FailNth(1, vfs.OpSync, ".wal", false), func(l *Log, ts uint64) error {
			if err := l.WriteGroup(makeGroup(ts, 1, func() int { return 30 })); err != nil {
				return err
			}
			return l.Sync()
		}},
		{"rotation", vfs.FailNth(1, vfs.OpCreate, ".wal", false), func(l *Log, ts uint64) error {
			return l.WriteGroup(makeGroup(ts, 1, func() int { return 2000 }))
		}},
		{"rotation dir sync", vfs.FailNth(1, vfs.OpSyncDir, "", false), func(l *Log, ts uint64) error {
			return l.WriteGroup(makeGroup(ts, 1, func() int { return 2000 }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			efs := vfs.NewErrorFS(mem, nil)
			opts := Options{FS: efs, Dir: testDir, SegmentSize: 1024}
			l, _, _ := openReplay(t, opts, 0)
			want := makeGroup(1, 3, func() int { return 40 })
			require.NoError(t, l.WriteGroup(want))
			require.NoError(t, l.Sync())

			efs.SetInjector(tc.inj)
			err := tc.trigger(l, 4)
			require.ErrorIs(t, err, vfs.ErrInjected)
			require.ErrorIs(t, err, interfaces.ErrFailStopped)
			efs.SetInjector(nil)
			// Every later write-side call fails with the same error, though
			// the file system works again.
			for name, call := range map[string]func() error{
				"WriteGroup": func() error { return l.WriteGroup(makeGroup(100, 1, func() int { return 1 })) },
				"Sync":       l.Sync,
				"Release":    func() error { return l.Release(interfaces.MaxTs) },
			} {
				err := call()
				require.ErrorIs(t, err, interfaces.ErrFailStopped, name)
				require.ErrorIs(t, err, vfs.ErrInjected, name)
			}
			require.NoError(t, l.Check(), "reads keep working")
			_ = l.Stats()
			require.ErrorIs(t, l.Close(), interfaces.ErrFailStopped)

			// Reopening recovers at least what was synced.
			opts.FS = mem
			l, _, recs := openReplay(t, opts, 0)
			require.GreaterOrEqual(t, len(recs), len(want))
			require.Equal(t, want, recs[:len(want)])
			require.NoError(t, l.Close())
		})
	}
}

// requirePrefix asserts that got is a prefix of want.
func requirePrefix(t tb, want, got []Record) {
	t.Helper()
	require.LessOrEqual(t, len(got), len(want), "replayed more than was written")
	for i := range got {
		require.Equal(t, want[i].Ts, got[i].Ts, "record %d: replay is not a prefix of what was written", i)
		require.Equal(t, len(want[i].Payload), len(got[i].Payload), "record %d (ts %d): payload length", i, got[i].Ts)
		require.Equal(t, string(want[i].Payload), string(got[i].Payload), "record %d (ts %d): payload", i, got[i].Ts)
	}
}

// requireSame asserts that got holds exactly the records of want (nil and
// empty alike).
func requireSame(t tb, want, got []Record, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	requirePrefix(t, want, got)
}
