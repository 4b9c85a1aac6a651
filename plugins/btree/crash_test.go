package btree_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// The crash tests fail every I/O operation of a Flush (and of a Compact),
// one at a time, then take the file system a machine crash would leave —
// keeping none, half or all of the unsynced writes — and reopen it. The
// reopened engine must hold exactly the versions up to its DurableTs, which
// must be the durable ts before the operation or the one it was making
// durable, and pass Check.

type crashVariant struct {
	name string
	opts btree.Options
	deps func() btree.Deps
}

var crashVariants = []crashVariant{
	{"plain", btree.Options{PageSize: btree.MinPageSize}, func() btree.Deps { return btree.Deps{} }},
	{"codec and cipher", btree.Options{PageSize: btree.MinPageSize}, func() btree.Deps {
		return btree.Deps{Codec: newTestCodec(), Cipher: newTestCipher(3)}
	}},
}

// crashSetup builds the state before the operation under test: a flushed
// tree with out-of-line values and tombstones, then more versions in the
// write buffer. It returns the engine, the model, the durable ts before the
// operation and the highest ts applied.
func crashSetup(t *testing.T, fs vfs.FS, v crashVariant, compact bool) (*btree.Engine, *model, uint64, uint64) {
	t.Helper()
	opts := v.opts
	opts.Dir = "db"
	deps := v.deps()
	deps.FS = fs
	e, err := btree.New(opts, deps)
	require.NoError(t, err)
	m := newModel()
	w := newWorkload(7, 300)
	for i := range 6 {
		b := w.batch(60)
		require.NoError(t, e.Apply(b))
		m.apply(b)
		if i%2 == 1 {
			_, err := e.Flush()
			require.NoError(t, err)
		}
	}
	durable, err := e.DurableTs()
	require.NoError(t, err)
	for range 3 {
		b := w.batch(60)
		require.NoError(t, e.Apply(b))
		m.apply(b)
	}
	if compact {
		// Flush the buffer and delete most keys, so that Compact has
		// versions to drop and pages to move.
		_, err := e.Flush()
		require.NoError(t, err)
		w.ts++
		var dels []interfaces.Entry
		for k := range 300 {
			if k%4 != 0 {
				dels = append(dels, interfaces.Entry{Key: []byte(fmt.Sprintf("k%04d", k)), Ts: w.ts, Kind: interfaces.KindDelete})
			}
		}
		require.NoError(t, e.Apply(dels))
		m.apply(dels)
		durable, err = e.Flush()
		require.NoError(t, err)
		require.NoError(t, e.SetDiscardTs(w.ts))
	}
	return e, m, durable, w.ts
}

// crashOp is the operation under test.
func crashOp(e *btree.Engine, compact bool) error {
	if compact {
		return e.Compact(interfaces.KeyRange{})
	}
	_, err := e.Flush()
	return err
}

func TestCrashAtEveryIO(t *testing.T) {
	for _, v := range crashVariants {
		for _, compact := range []bool{false, true} {
			name := v.name + "/flush"
			if compact {
				name = v.name + "/compact"
			}
			t.Run(name, func(t *testing.T) { crashAtEveryIO(t, v, compact) })
		}
	}
}

func crashAtEveryIO(t *testing.T, v crashVariant, compact bool) {
	// Count the operation's I/O on a clean run.
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, nil)
	e, _, _, _ := crashSetup(t, efs, v, compact)
	before := efs.Ops()
	require.NoError(t, crashOp(e, compact))
	ops := efs.Ops() - before
	require.NoError(t, e.Close())
	require.Greater(t, ops, int64(3))
	t.Logf("the operation makes %d I/O calls", ops)

	for n := int64(1); n <= ops; n++ {
		for _, torn := range []bool{false, true} {
			mem := vfs.NewMem()
			efs := vfs.NewErrorFS(mem, nil)
			e, m, durableBefore, applied := crashSetup(t, efs, v, compact)
			var inj *vfs.Nth
			if torn {
				inj = vfs.TornWriteNth(n, "", rand.New(rand.NewPCG(uint64(n), 1)))
			} else {
				inj = vfs.FailNth(n, vfs.OpAll, "", true)
			}
			efs.SetInjector(inj)
			opErr := crashOp(e, compact)
			if torn && inj.Fired() == 0 {
				// The nth operation was not a write: nothing to tear.
				_ = e.Close()
				continue
			}
			if inj.Fired() > 0 && opErr == nil && !torn {
				// The failed call was one whose failure the engine may
				// ignore (a truncate after the commit): it must then work.
				efs.SetInjector(nil)
				require.NoError(t, e.Check())
			}
			if opErr != nil {
				// A failed write leaves the engine refusing writes.
				err := e.Apply([]interfaces.Entry{{Key: []byte("z"), Ts: applied + 1, Kind: interfaces.KindSet}})
				require.True(t, errors.Is(err, interfaces.ErrFailStopped) || errors.Is(err, interfaces.ErrClosed) || err == nil,
					"Apply after a failed operation: %v", err)
			}
			efs.SetInjector(nil)
			for _, keep := range []float64{0, 0.5, 1} {
				clone := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: rand.New(rand.NewPCG(uint64(n), 2))})
				deps := v.deps()
				deps.FS = clone
				opts := v.opts
				opts.Dir = "db"
				e2, err := btree.New(opts, deps)
				require.NoError(t, err, "reopen after failing I/O %d of %d (torn %v, keep %.1f, op error %v)", n, ops, torn, keep, opErr)
				d, err := e2.DurableTs()
				require.NoError(t, err)
				require.GreaterOrEqual(t, d, durableBefore, "I/O %d: durable ts went down", n)
				require.LessOrEqual(t, d, applied, "I/O %d: durable ts beyond anything applied", n)
				discard := uint64(0)
				if compact {
					discard = applied
				}
				checkState(t, e2, m, d, discard)
				require.NoError(t, e2.Check(), "I/O %d (torn %v, keep %.1f)", n, torn, keep)
				require.NoError(t, e2.Close())
			}
			_ = e.Close()
		}
	}
}
