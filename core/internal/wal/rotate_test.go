package wal

import (
	"fmt"
	mrand "math/rand/v2"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// holdSync stops the first fsync of the file named name, once armed,
// until release is closed, and then fails it with fail (nil: it goes on).
type holdSync struct {
	name    string
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
	fail    error
}

func newHoldSync(name string, fail error) *holdSync {
	return &holdSync{name: name, held: make(chan struct{}), release: make(chan struct{}), fail: fail}
}

func (h *holdSync) MaybeError(op vfs.Op) error {
	if op.Kind == vfs.OpSync && path.Base(op.Path) == h.name && h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
		return h.fail
	}
	return nil
}

// backgroundLog opens a log that syncs rotated segments in the background
// on mem through an ErrorFS with inj, writes groups until it has rotated
// once while the sync of segment 1 is held, and returns it with the
// records written.
func backgroundLog(t *testing.T, mem *vfs.MemFS, hold *holdSync) (*Log, Options, []Record) {
	t.Helper()
	opts := Options{FS: vfs.NewErrorFS(mem, hold), Dir: testDir, SegmentSize: 1024, SyncRotatedInBackground: true}
	l, _, _ := openReplay(t, opts, 0)
	first := func() uint64 { l.mu.Lock(); defer l.mu.Unlock(); return l.segs[0].num }()
	require.Equal(t, segmentName(first), hold.name, "the test holds the first segment's sync")
	hold.armed.Store(true)
	var written []Record
	ts := uint64(1)
	for l.Stats().Rotations == 0 {
		g := makeGroup(ts, 2, func() int { return 150 })
		require.NoError(t, l.WriteGroup(g), "a rotation must not wait for the held sync")
		written, ts = append(written, g...), ts+2
	}
	<-hold.held
	// More records go to the new segment while the old one is unsynced.
	for range 2 {
		g := makeGroup(ts, 1, func() int { return 40 })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+1
	}
	return l, opts, written
}

// activeHeader reads the header of the log's active segment from mem.
func activeHeader(t *testing.T, l *Log, mem *vfs.MemFS) segHeader {
	t.Helper()
	l.mu.Lock()
	p := l.active().path
	l.mu.Unlock()
	pk, err := peekHeader(mem, p)
	require.NoError(t, err)
	require.True(t, pk.ok)
	return pk.h
}

// TestBackgroundRotationSync: with SyncRotatedInBackground, a rotation
// returns while the sealed segment's fsync is still running; the new
// segment's header stays unconfirmed until it ends, and Sync waits for it.
func TestBackgroundRotationSync(t *testing.T) {
	mem := vfs.NewMem()
	hold := newHoldSync(segmentName(1), nil)
	l, opts, written := backgroundLog(t, mem, hold)
	h := activeHeader(t, l, mem)
	require.True(t, h.unconfirmed(), "the header is confirmed only after the sealed segment is synced")
	require.True(t, h.syncedBehind())

	synced := make(chan error, 1)
	go func() { synced <- l.Sync() }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned (%v) while the rotated segment's sync was held", err)
	case <-time.After(30 * time.Millisecond):
	}
	close(hold.release)
	require.NoError(t, <-synced)
	require.False(t, activeHeader(t, l, mem).unconfirmed())
	require.NoError(t, l.Check())

	// Every record is durable now: a crash that keeps nothing unsynced
	// loses none.
	crashed := mem.CrashClone(vfs.CrashOptions{})
	opts.FS = crashed
	l2, res, recs := openReplay(t, opts, 0)
	require.Equal(t, written, recs)
	require.Empty(t, res.ConfirmedHeader)
	require.NoError(t, l2.Close())
	require.NoError(t, l.Close())
}

// TestCrashDuringBackgroundRotationSync crashes while the rotated
// segment's sync is held: what survives replays without error, as a
// prefix of what was written; when every write survives (a process
// crash), nothing is lost, and Replay confirms the header itself.
func TestCrashDuringBackgroundRotationSync(t *testing.T) {
	for _, keep := range []float64{0, 0.3, 0.7, 1} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("keep=%v/seed=%d", keep, seed), func(t *testing.T) {
				mem := vfs.NewMem()
				hold := newHoldSync(segmentName(1), nil)
				l, opts, written := backgroundLog(t, mem, hold)
				crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Rand: mrand.New(mrand.NewPCG(seed, 99))})
				close(hold.release)
				require.NoError(t, l.Close())

				opts.FS = crashed
				res, err := Check(opts)
				require.NoError(t, err, "a crash in the window is not corruption\n%s", crashed)
				l2, res2, recs := openReplay(t, opts, 0)
				requirePrefix(t, written, recs)
				require.LessOrEqual(t, res2.TornRecords, int64(len(written)-len(recs)),
					"records reported torn that came back")
				if keep == 1 {
					require.Equal(t, written, recs)
					require.NotEmpty(t, res2.ConfirmedHeader)
					require.Empty(t, res.TornSegment)
				}
				// The log goes on from what it recovered, and replays
				// cleanly after.
				more := makeGroup(res2.LastTs+1, 3, func() int { return 300 })
				require.NoError(t, l2.WriteGroup(more))
				require.NoError(t, l2.Close())
				l3, res3, again := openReplay(t, opts, 0)
				require.True(t, res3.Clean)
				require.Equal(t, append(recs, more...), again)
				require.NoError(t, l3.Close())
			})
		}
	}
}

// TestBackgroundRotationSyncFailure: a failed background sync fail-stops
// the log; the next write-side call reports it.
func TestBackgroundRotationSyncFailure(t *testing.T) {
	mem := vfs.NewMem()
	hold := newHoldSync(segmentName(1), vfs.ErrInjected)
	l, _, written := backgroundLog(t, mem, hold)
	close(hold.release)
	err := l.Sync()
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, err, vfs.ErrInjected)
	err = l.WriteGroup(makeGroup(written[len(written)-1].Ts+1, 1, func() int { return 10 }))
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, l.Close(), interfaces.ErrFailStopped)
}

// TestTailStart: which segments may end in a torn tail, by the last two
// headers.
func TestTailStart(t *testing.T) {
	plain := peek{ok: true, h: segHeader{version: formatVersion}}
	behind := peek{ok: true, h: segHeader{version: formatVersion, flags: segFlagSyncedBehind}}
	unconfirmed := peek{ok: true, h: segHeader{version: formatVersion, flags: segFlagSyncedBehind | segFlagUnconfirmed}}
	torn := peek{}
	for _, tc := range []struct {
		name  string
		heads []peek
		want  int
	}{
		{"one segment", []peek{torn}, 0},
		{"plain log, torn last header", []peek{plain, plain, torn}, 2},
		{"background log, torn last header", []peek{behind, behind, torn}, 1},
		{"background log, unconfirmed last header", []peek{behind, behind, unconfirmed}, 1},
		{"background log, confirmed last header", []peek{behind, behind, behind}, 2},
		{"unconfirmed after a plain segment", []peek{plain, unconfirmed}, 1},
		{"torn header before the last", []peek{behind, torn, unconfirmed}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tailStart(tc.heads))
		})
	}
}

// TestUnconfirmedGapIsTorn: a last segment whose unconfirmed header names
// a prev ts the segment before does not reach is cut whole; the same gap
// under a confirmed header is corruption.
func TestUnconfirmedGapIsTorn(t *testing.T) {
	for _, confirmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("confirmed=%v", confirmed), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := Options{FS: mem, Dir: testDir, SegmentSize: 1024, SyncRotatedInBackground: true}
			l, _, _ := openReplay(t, opts, 0)
			var written []Record
			ts := uint64(1)
			for l.Stats().Rotations == 0 {
				g := makeGroup(ts, 2, func() int { return 150 })
				require.NoError(t, l.WriteGroup(g))
				written, ts = append(written, g...), ts+2
			}
			// What a process crash leaves: no sync of the last segment,
			// no clean-close marker.
			require.NoError(t, l.waitRotSync())
			mem = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			opts.FS = mem
			require.NoError(t, l.Close())
			segs := segmentFiles(t, mem, testDir)
			require.GreaterOrEqual(t, len(segs), 2)
			last, before := segs[len(segs)-1], segs[len(segs)-2]
			// The segment before loses its last record, as an unsynced
			// end may.
			recs, _ := segRecords(t, opts, before)
			b := readFile(t, mem, before)
			writeFile(t, mem, before, b[:recs[len(recs)-1].Offset])
			if !confirmed {
				hb := readFile(t, mem, last)
				pk, reason := parseSegHeader(hb)
				require.Empty(t, reason)
				pk.flags |= segFlagUnconfirmed
				copy(hb, pk.appendTo(nil))
				writeFile(t, mem, last, hb)
			}
			l2, res, got, err := tryOpenReplay(opts, 0, Strict)
			if confirmed {
				requireCorruption(t, err, last)
				return
			}
			require.NoError(t, err)
			require.Equal(t, last, res.TornSegment)
			require.Zero(t, res.TornOffset)
			require.Less(t, len(got), len(written))
			requirePrefix(t, written, got)
			require.NoError(t, l2.Close())
			for _, s := range segmentFiles(t, mem, testDir) {
				require.NotEqual(t, last, s, "the torn segment is removed")
			}
		})
	}
}
