package lightning_test

import (
	"bufio"
	"encoding/binary"
	"errors"
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

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

var encCrashCycles = flag.Int("enc.crash.cycles", 12,
	"kill-and-recover cycles per engine of TestEncryptionCrashLoop (soak with e.g. -enc.crash.cycles=2000)")

// TestMain runs the crash loop's child when the environment asks for it.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LIGHTNING_ENC_CRASH_CHILD"); dir != "" {
		encCrashChild(dir, os.Getenv("LIGHTNING_ENC_CRASH_ENGINE"))
		return
	}
	os.Exit(m.Run())
}

// encCrashOpen opens the crash loop's database: encrypted, with data keys
// that rotate every few milliseconds and every few hundred encryptions,
// so kills land in registry writes too.
func encCrashOpen(dir, engine string) (*lightning.DB, error) {
	return lightning.Open(dir,
		lightning.WithEngine(engine),
		lightning.WithSync(lightning.SyncAlways),
		lightning.WithEncryption(aesgcm.Options{
			Master:               aesgcm.StaticKey(masterKey(7)),
			RotateEvery:          15 * time.Millisecond,
			MaxEncryptionsPerKey: 300,
			ReserveChunk:         40,
		}),
		lightning.WithCoreOptions(func(o *core.Options) {
			o.WALSegmentSize = 64 << 10
			o.CheckpointBytes = 256 << 10
			o.GCInterval = 20 * time.Millisecond
		}),
	)
}

// encCrashChild writes until killed: puts and batches from three
// goroutines, announcing each op on stdout before it starts ("S id kind")
// and after it is acknowledged ("A id"), and flushes the engine now and
// then so its files are written under rotating keys.
func encCrashChild(dir, engine string) {
	start, _ := strconv.ParseInt(os.Getenv("LIGHTNING_ENC_CRASH_START"), 10, 64)
	db, err := encCrashOpen(dir, engine)
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
	fail := func(err error) {
		say("E %v", err)
		os.Exit(3)
	}
	var next atomic.Int64
	next.Store(start)
	say("READY")
	go func() {
		for {
			time.Sleep(5 * time.Millisecond)
			if err := db.Flush(); err != nil {
				fail(err)
			}
		}
	}()
	for range 3 {
		go func() {
			for {
				id := next.Add(1)
				v := strconv.FormatInt(id, 10)
				var err error
				if id%2 == 0 {
					say("S %d put", id)
					err = db.Put(fmt.Appendf(nil, "p/%d", id), []byte(v))
				} else {
					say("S %d batch", id)
					b := db.NewBatch()
					for j := range 3 {
						_ = b.Put(fmt.Appendf(nil, "b/%d/%d", id, j), []byte(v))
					}
					err = db.Apply(b)
				}
				if err != nil {
					fail(err)
				}
				say("A %d", id)
			}
		}()
	}
	select {}
}

type encOp struct {
	id    int64
	kind  string
	acked bool
}

func (op encOp) keys() []string {
	if op.kind == "put" {
		return []string{fmt.Sprintf("p/%d", op.id)}
	}
	return []string{fmt.Sprintf("b/%d/0", op.id), fmt.Sprintf("b/%d/1", op.id), fmt.Sprintf("b/%d/2", op.id)}
}

// TestEncryptionCrashLoop kills an encrypted database's writing child
// with SIGKILL at random moments — in commits, flushes, compactions and
// key registry writes — and checks after each reopen that every
// acknowledged write is there, nothing never written appears, and every
// batch is all or nothing. Every engine.
func TestEncryptionCrashLoop(t *testing.T) {
	cycles := *encCrashCycles
	if testing.Short() {
		cycles = 3
	}
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
			present := map[string]string{}
			var maxID int64
			acked := 0
			for cycle := range cycles {
				ops := runEncChild(t, dir, engine, maxID, time.Duration(10+rng.IntN(60))*time.Millisecond)
				db, err := encCrashOpen(dir, engine)
				require.NoError(t, err, "cycle %d: reopen", cycle)
				require.NoError(t, db.Check(), "cycle %d", cycle)
				got := map[string]string{}
				it, err := db.NewIterator(lightning.IterOptions{})
				require.NoError(t, err)
				for ok := it.First(); ok; ok = it.Next() {
					got[string(it.Key())] = string(it.Value())
				}
				require.NoError(t, it.Close())
				for _, op := range ops {
					n := 0
					for _, k := range op.keys() {
						if v, ok := got[k]; ok {
							require.Equal(t, strconv.FormatInt(op.id, 10), v, "cycle %d: %s", cycle, k)
							n++
						}
					}
					require.True(t, n == 0 || n == len(op.keys()), "cycle %d: op %d half applied", cycle, op.id)
					if op.acked {
						acked++
						require.Equal(t, len(op.keys()), n, "cycle %d: acknowledged op %d (%s) lost", cycle, op.id, op.kind)
					}
					if n > 0 {
						for _, k := range op.keys() {
							present[k] = got[k]
						}
					}
					maxID = max(maxID, op.id)
				}
				require.Equal(t, present, got, "cycle %d: the database differs from the history", cycle)
				st, err := lightning.KeyRegistry(db).Status()
				require.NoError(t, err)
				for _, k := range st.Keys {
					require.LessOrEqual(t, k.Reserved, uint64(300), "cycle %d: key %d", cycle, k.ID)
				}
				require.NoError(t, db.Close())
				if cycle == cycles-1 {
					t.Logf("%d cycles, %d acknowledged ops, %d keys, %d data keys", cycles, acked, len(present), len(st.Keys))
				}
			}
		})
	}
}

func runEncChild(t *testing.T, dir, engine string, start int64, after time.Duration) []*encOp {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIGHTNING_ENC_CRASH_CHILD="+dir, "LIGHTNING_ENC_CRASH_ENGINE="+engine,
		"LIGHTNING_ENC_CRASH_START="+strconv.FormatInt(start, 10))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	ops := map[int64]*encOp{}
	var order []*encOp
	lines := bufio.NewScanner(stdout)
	ready := false
	var timer *time.Timer
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch f[0] {
		case "READY":
			ready = true
			timer = time.AfterFunc(after, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		case "S":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			op := &encOp{id: id, kind: f[2]}
			ops[id] = op
			order = append(order, op)
		case "A":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			require.Contains(t, ops, id)
			ops[id].acked = true
		case "E":
			_ = cmd.Process.Kill()
			t.Fatalf("child failed: %s", lines.Text())
		}
	}
	err = cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	require.True(t, ready, "child never got ready: %v", err)
	return order
}

// TestEncryptionBank runs the bank invariant on an encrypted database
// whose data keys rotate every few hundred encryptions: writers move
// money between accounts in transactions while readers sum every account
// in a snapshot; the total never changes, and survives a reopen.
func TestEncryptionBank(t *testing.T) {
	const accounts, initial = 200, 1000
	d := time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	acct := func(i int) []byte { return fmt.Appendf(nil, "acct/%04d", i) }
	amount := func(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
	balance := func(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			enc := lightning.WithEncryption(aesgcm.Options{Master: aesgcm.StaticKey(masterKey(3)), MaxEncryptionsPerKey: 500, ReserveChunk: 50})
			db, err := lightning.Open(dir, lightning.WithEngine(engine), lightning.WithSync(lightning.SyncNone), enc)
			require.NoError(t, err)
			b := db.NewBatch()
			for i := range accounts {
				require.NoError(t, b.Put(acct(i), amount(initial)))
			}
			require.NoError(t, db.Apply(b))
			sum := func() (int64, error) {
				var total int64
				err := db.View(func(tx *lightning.Txn) error {
					it, err := tx.NewIterator(lightning.IterOptions{Prefix: []byte("acct/")})
					if err != nil {
						return err
					}
					for ok := it.First(); ok; ok = it.Next() {
						total += balance(it.Value())
					}
					return it.Close()
				})
				return total, err
			}
			deadline := time.Now().Add(d)
			var wg sync.WaitGroup
			var transfers, sums atomic.Int64
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 9))
					for time.Now().Before(deadline) && !t.Failed() {
						from, to := rng.IntN(accounts), rng.IntN(accounts)
						if from == to {
							continue
						}
						err := db.Update(func(tx *lightning.Txn) error {
							fv, err := tx.Get(acct(from))
							if err != nil {
								return err
							}
							tv, err := tx.Get(acct(to))
							if err != nil {
								return err
							}
							n := rng.Int64N(10)
							if err := tx.Put(acct(from), amount(balance(fv)-n)); err != nil {
								return err
							}
							return tx.Put(acct(to), amount(balance(tv)+n))
						})
						switch {
						case err == nil:
							transfers.Add(1)
						case errors.Is(err, lightning.ErrConflict):
						default:
							t.Errorf("transfer: %v", err)
							return
						}
						if rng.IntN(200) == 0 {
							if err := db.Flush(); err != nil {
								t.Errorf("flush: %v", err)
								return
							}
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && !t.Failed() {
					total, err := sum()
					if err != nil || total != accounts*initial {
						t.Errorf("snapshot sums to %d (%v), want %d", total, err, accounts*initial)
						return
					}
					sums.Add(1)
				}
			}()
			wg.Wait()
			require.Positive(t, transfers.Load())
			require.Positive(t, sums.Load())
			st, err := lightning.KeyRegistry(db).Status()
			require.NoError(t, err)
			require.NoError(t, db.Close())
			t.Logf("%d transfers, %d consistent sums, %d data keys", transfers.Load(), sums.Load(), len(st.Keys))

			db, err = lightning.Open(dir, lightning.WithEngine(engine), enc)
			require.NoError(t, err)
			defer db.Close()
			total, err := sum()
			require.NoError(t, err)
			require.Equal(t, int64(accounts*initial), total)
		})
	}
}
