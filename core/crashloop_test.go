package core_test

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/vfs"
)

var crashCycles = flag.Int("crash.cycles", 100,
	"kill-and-recover cycles of TestCrashLoop's synced run, a third as many unsynced (CI runs the default; soak with e.g. -crash.cycles=5000)")

// crashLoopOpen opens the database the crash loop uses, in the child and in
// the parent. sync is "always" or "none": a SIGKILL is a process crash,
// which SyncNone promises to survive as SyncAlways does (its WAL segments
// are stored into through a shared mapping, not written with write calls).
var crashLoopOpen = func(dir, sync string) (*core.DB, error) {
	opts := memOptions(vfs.Default)
	opts.Sync = core.SyncAlways
	if sync == "none" {
		opts.Sync = core.SyncNone
	}
	opts.WALSegmentSize = 256 << 10
	opts.CheckpointBytes = 1 << 20
	opts.GCInterval = 20 * time.Millisecond
	return core.Open(dir, opts)
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("LIGHTNING_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild writes forever until killed: puts, batches, transactions and
// deletes from four goroutines, announcing each op on stdout before it
// starts ("S id kind [target]") and after it is acknowledged ("A id").
func crashChild(dir string) {
	start, _ := strconv.ParseInt(os.Getenv("LIGHTNING_CRASH_START"), 10, 64)
	db, err := crashLoopOpen(dir, os.Getenv("LIGHTNING_CRASH_SYNC"))
	if err != nil {
		fmt.Printf("E open: %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	// Deletes take their targets from puts acknowledged earlier, so their
	// order against the put is known.
	var (
		targetsMu sync.Mutex
		targets   []int64
	)
	it, err := db.NewIterator(core.IterOptions{Prefix: []byte("p/")})
	if err == nil {
		for ok := it.First(); ok; ok = it.Next() {
			id, _ := strconv.ParseInt(strings.TrimPrefix(string(it.Key()), "p/"), 10, 64)
			targets = append(targets, id)
		}
		it.Close()
	}
	var next atomic.Int64
	next.Store(start)
	say("READY")
	for g := 0; g < 4; g++ {
		go func() {
			for {
				id := next.Add(1)
				var err error
				switch id % 4 {
				case 0:
					say("S %d put", id)
					err = db.Put([]byte(fmt.Sprintf("p/%d", id)), []byte(strconv.FormatInt(id, 10)))
				case 1:
					say("S %d batch", id)
					b := db.NewBatch()
					for j := 0; j < 5; j++ {
						_ = b.Put([]byte(fmt.Sprintf("b/%d/%d", id, j)), []byte(strconv.FormatInt(id, 10)))
					}
					err = db.Apply(b)
				case 2:
					say("S %d txn", id)
					err = db.Update(func(tx *core.Txn) error {
						for j := 0; j < 3; j++ {
							if err := tx.Put([]byte(fmt.Sprintf("t/%d/%d", id, j)), []byte(strconv.FormatInt(id, 10))); err != nil {
								return err
							}
						}
						return nil
					})
				case 3:
					targetsMu.Lock()
					target := int64(-1)
					if len(targets) > 0 {
						target = targets[0]
						targets = targets[1:]
					}
					targetsMu.Unlock()
					say("S %d del %d", id, target)
					b := db.NewBatch()
					_ = b.Put([]byte(fmt.Sprintf("x/%d", id)), []byte(strconv.FormatInt(id, 10)))
					if target >= 0 {
						_ = b.Delete([]byte(fmt.Sprintf("p/%d", target)))
					}
					err = db.Apply(b)
				}
				if err != nil {
					say("E %d %v", id, err)
					os.Exit(3)
				}
				if id%4 == 0 {
					targetsMu.Lock()
					targets = append(targets, id)
					targetsMu.Unlock()
				}
				say("A %d", id)
			}
		}()
	}
	select {}
}

// crashModel is the parent's view of what the database must hold.
type crashModel struct {
	present map[string]string // keys known to be present, with values
	maxID   int64
}

type childOp struct {
	id     int64
	kind   string
	target int64
	acked  bool
}

// keysOf returns the keys op writes (and the put it deletes, for del).
func (op childOp) keys() (written []string, deleted string) {
	switch op.kind {
	case "put":
		return []string{fmt.Sprintf("p/%d", op.id)}, ""
	case "batch":
		for j := 0; j < 5; j++ {
			written = append(written, fmt.Sprintf("b/%d/%d", op.id, j))
		}
	case "txn":
		for j := 0; j < 3; j++ {
			written = append(written, fmt.Sprintf("t/%d/%d", op.id, j))
		}
	case "del":
		written = []string{fmt.Sprintf("x/%d", op.id)}
		if op.target >= 0 {
			deleted = fmt.Sprintf("p/%d", op.target)
		}
	}
	return written, deleted
}

// TestCrashLoop kills a writing child process with SIGKILL at random moments,
// reopens, and checks that every acknowledged write is there, that nothing
// never written appears, and that every batch and transaction is all or
// nothing.
func TestCrashLoop(t *testing.T) {
	for _, sync := range []string{"always", "none"} {
		t.Run("sync="+sync, func(t *testing.T) { crashLoop(t, sync) })
	}
}

func crashLoop(t *testing.T, sync string) {
	cycles := *crashCycles
	if testing.Short() {
		cycles = 10
	}
	if sync == "none" {
		// Unsynced writers commit several times as much before each
		// kill, and every cycle checks the whole database: a third of
		// the cycles checks about as many acknowledged writes.
		cycles = max(cycles/3, 1)
	}
	dir := t.TempDir()
	model := crashModel{present: map[string]string{}}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	totalAcked := 0
	for cycle := 0; cycle < cycles; cycle++ {
		ops := runChild(t, dir, sync, model.maxID, time.Duration(5+rng.IntN(60))*time.Millisecond)
		for _, op := range ops {
			if op.acked {
				totalAcked++
			}
		}
		checkCrashState(t, dir, sync, &model, ops, cycle)
	}
	t.Logf("%d cycles, %d acknowledged ops, %d keys at the end", cycles, totalAcked, len(model.present))
}

func runChild(t *testing.T, dir, sync string, start int64, after time.Duration) []*childOp {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIGHTNING_CRASH_CHILD="+dir, "LIGHTNING_CRASH_START="+strconv.FormatInt(start, 10),
		"LIGHTNING_CRASH_SYNC="+sync)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	ops := map[int64]*childOp{}
	var order []*childOp
	lines := bufio.NewScanner(stdout)
	killed := false
	var timer *time.Timer
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch f[0] {
		case "READY":
			timer = time.AfterFunc(after, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
			killed = true
		case "S":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			op := &childOp{id: id, kind: f[2], target: -1}
			if len(f) > 3 {
				op.target, _ = strconv.ParseInt(f[3], 10, 64)
			}
			ops[id] = op
			order = append(order, op)
		case "A":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			require.Contains(t, ops, id)
			ops[id].acked = true
		case "E":
			t.Fatalf("child failed: %s", lines.Text())
		}
	}
	err = cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	require.True(t, killed, "child never got ready: %v", err)
	return order
}

func checkCrashState(t *testing.T, dir, sync string, model *crashModel, ops []*childOp, cycle int) {
	t.Helper()
	db, err := crashLoopOpen(dir, sync)
	require.NoError(t, err, "cycle %d: reopen", cycle)
	defer db.Close()
	require.NoError(t, db.Check(), "cycle %d", cycle)
	got := dump(t, db)

	// A put's key may be gone because a delete that was applied removed
	// it: find those first (a delete is applied when its x/ key exists).
	removed := map[string]bool{}
	for _, op := range ops {
		if _, deleted := op.keys(); deleted != "" {
			if _, ok := got[fmt.Sprintf("x/%d", op.id)]; ok {
				removed[deleted] = true
			}
		}
	}
	for _, op := range ops {
		written, deleted := op.keys()
		n := 0
		for _, k := range written {
			if v, ok := got[k]; ok {
				require.Equal(t, strconv.FormatInt(op.id, 10), v, "cycle %d: %s", cycle, k)
				n++
			} else if removed[k] {
				n++
			}
		}
		applied := n == len(written)
		require.True(t, n == 0 || applied, "cycle %d: op %d (%s) half applied: %d of %d keys", cycle, op.id, op.kind, n, len(written))
		if op.acked {
			require.True(t, applied, "cycle %d: acknowledged op %d (%s) lost", cycle, op.id, op.kind)
		}
		if deleted != "" {
			_, still := got[deleted]
			require.Equal(t, !applied, still, "cycle %d: op %d applied=%v but its delete of %s says otherwise", cycle, op.id, applied, deleted)
		}
		if applied {
			for _, k := range written {
				if v, ok := got[k]; ok {
					model.present[k] = v
				}
			}
			if deleted != "" {
				delete(model.present, deleted)
			}
		}
		model.maxID = max(model.maxID, op.id)
	}
	// Nothing appears that was never written, and nothing acknowledged in
	// an earlier cycle went missing.
	require.Equal(t, model.present, got, "cycle %d: database differs from the acknowledged history", cycle)
}
