package lsm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// crashWorkload runs a fixed sequence of applies, flushes, a discard ts
// move and compactions on fs until the first error, and returns the model
// of what was applied, the highest ts a Flush returned, and that error.
// With tiny memtables and levels it reaches every kind of I/O: table
// writes, manifest appends and rotations, CURRENT renames, deletions.
func crashWorkload(fs vfs.FS) (m *model, flushed uint64, err error) {
	m = newModel()
	e, err := New(modelOptions(), Deps{FS: fs})
	if err != nil {
		return m, 0, err
	}
	defer func() { _ = e.Close() }()
	ts := uint64(0)
	for round := range 24 {
		var es []interfaces.Entry
		for i := range 12 {
			if i%4 == 0 {
				ts++
			}
			k := fmt.Sprintf("k%02d", (round*5+i*7)%40)
			if (round+i)%6 == 0 {
				es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindDelete})
				continue
			}
			v := fmt.Sprintf("%s@%d:%0*d", k, ts, 300+(i*97)%900, round)
			es = append(es, interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)})
		}
		if err := e.Apply(es); err != nil {
			return m, flushed, err
		}
		m.apply(es)
		switch round % 6 {
		case 2:
			d, err := e.Flush()
			if err != nil {
				return m, flushed, err
			}
			flushed = d
		case 4:
			if err := e.SetDiscardTs(ts / 2); err != nil {
				return m, flushed, err
			}
			m.discard = ts / 2
		case 5:
			if err := e.Compact(interfaces.KeyRange{Start: []byte("k10"), End: []byte("k30")}); err != nil {
				return m, flushed, err
			}
			flushed = e.durableTs.Load()
		}
	}
	if err := e.Compact(interfaces.KeyRange{}); err != nil {
		return m, flushed, err
	}
	return m, e.durableTs.Load(), nil
}

// TestCrashAtEveryOp fails the workload's nth file system operation, for
// every n — once (the engine carries on or fail-stops), for good (a crash
// right there), or as a torn write — then takes the image a machine crash
// would leave and reopens it: the engine must open, hold exactly the
// versions up to its durable ts (which is at least what Flush returned),
// and pass Check.
func TestCrashAtEveryOp(t *testing.T) {
	// Every operation but reads, and every readStride-th read: the
	// workload reads far more than it writes, and a failed read matters
	// only to the compaction or open it fails.
	const nonReads = vfs.OpAll &^ vfs.OpRead
	readStride := int64(8)
	if testing.Short() {
		readStride = 64
	}
	for _, c := range []struct {
		kinds  vfs.OpKind
		stride int64
	}{{nonReads, 1}, {vfs.OpRead, readStride}} {
		// A dry run counts the operations.
		dry := vfs.FailNth(math.MaxInt64, c.kinds, "", false)
		_, _, err := crashWorkload(vfs.NewErrorFS(vfs.NewMem(), dry))
		require.NoError(t, err)
		total := dry.Count()
		require.Greater(t, total, int64(100), "the workload is too small to reach every kind of I/O")
		stride := c.stride
		if testing.Short() && c.kinds == nonReads {
			stride = 5
		}
		rng := rand.New(rand.NewPCG(uint64(c.kinds), 2))
		for n := int64(1); n <= total+10; n += stride {
			crashAt(t, c.kinds, n, total, rng)
		}
	}
}

// crashAt runs the workload failing its nth operation of kinds, crashes,
// reopens and checks.
func crashAt(t *testing.T, kinds vfs.OpKind, n, total int64, rng *rand.Rand) {
	modes := []string{"once", "forever", "torn"}
	mode := modes[n%3]
	mem := vfs.NewMem()
	inj := vfs.FailNth(n, kinds, "", mode == "forever")
	if mode == "torn" {
		inj = inj.WithTornWrite(rng)
	}
	m, flushed, werr := crashWorkload(vfs.NewErrorFS(mem, inj))
	if werr != nil {
		require.True(t, errors.Is(werr, vfs.ErrInjected) || errors.Is(werr, interfaces.ErrFailStopped),
			"op %d of %s (%s): %v", n, kinds, mode, werr)
	}
	keep := []float64{0, 0.5, 1}[rng.IntN(3)]
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: rand.New(rand.NewPCG(uint64(n), 9))})
	what := fmt.Sprintf("failing op %d of %d %s (%s, workload error %v), crash keeping %.1f", n, total, kinds, mode, werr, keep)
	e, err := New(modelOptions(), Deps{FS: crashed})
	require.NoError(t, err, what)
	d := e.durableTs.Load()
	require.GreaterOrEqual(t, d, flushed, "%s: durable ts below what Flush returned", what)
	require.LessOrEqual(t, d, m.applied, "%s: durable ts above every applied ts", what)
	m.truncate(d)
	checkState(t, e, m, what)
	require.NoError(t, e.Check(), what)
	require.NoError(t, e.Close(), what)
}

// checkState checks that e holds exactly m: every key at MaxTs, and a
// whole walk of all versions (versions the discard ts lets go may be
// missing).
func checkState(t *testing.T, e *Engine, m *model, what string) {
	t.Helper()
	for _, k := range m.sortedKeys() {
		v, ts, err := e.Get([]byte(k), interfaces.MaxTs)
		if want, ok := m.get(k, interfaces.MaxTs); ok {
			require.NoError(t, err, "%s: Get(%q)", what, k)
			require.Equal(t, want.value, string(v), "%s: Get(%q)", what, k)
			require.Equal(t, want.ts, ts, "%s: Get(%q)", what, k)
		} else {
			require.ErrorIs(t, err, interfaces.ErrNotFound, "%s: Get(%q)", what, k)
		}
	}
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}
	it, err := e.NewIterator(opts)
	require.NoError(t, err)
	var got []modelVersion
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, modelVersion{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
	}
	require.NoError(t, it.Close())
	want, req := m.expect(opts)
	requireSubsequence(t, want, req, got, what)
}
