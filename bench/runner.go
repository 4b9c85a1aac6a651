package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Runner runs the selected workloads of one Config on one engine, in this
// process. cmd/compare starts one child process per engine and runs a Runner
// in each.
type Runner struct {
	Config Config
	Engine Engine
	// Dir is an empty directory the runner owns; every store lives below it.
	Dir string
	// Log receives one progress line per step; nil discards them.
	Log io.Writer

	keys KeyGen
	vals *ValueGen
	perm Permutation
	// next is the next record index a YCSB insert takes; it starts at N.
	next atomic.Uint64
}

// Run executes the workloads and returns what it measured. On error the
// result holds every workload that finished, and Error says what failed.
func (r *Runner) Run(ctx context.Context) (EngineResult, error) {
	res := EngineResult{Engine: r.Engine.Name, Family: r.Engine.Family, Settings: r.Engine.Settings}
	if r.Engine.Unavailable != "" {
		res.Unavailable = r.Engine.Unavailable
		return res, nil
	}
	res.LoadAvg = LoadAvg()
	start := time.Now()
	err := r.run(ctx, &res)
	res.WallSeconds = time.Since(start).Seconds()
	if err != nil {
		err = fmt.Errorf("bench: %s: %w", r.Engine.Name, err)
		res.Error = err.Error()
	}
	return res, err
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, "%s: "+format+"\n", append([]any{r.Engine.Name}, args...)...)
	}
}

func (r *Runner) run(ctx context.Context, res *EngineResult) error {
	if err := r.Config.Validate(); err != nil {
		return err
	}
	var err error
	if r.keys, err = NewKeyGen(r.Config.KeySize); err != nil {
		return err
	}
	if r.vals, err = NewValueGen(r.Config.ValueSize, r.Config.CompressRatio, r.Config.Seed); err != nil {
		return err
	}
	r.perm = NewPermutation(r.Config.N, r.Config.Seed)
	r.next.Store(r.Config.N)

	want := map[string]bool{}
	for _, w := range r.Config.Workloads {
		want[w] = true
	}
	record := func(w WorkloadResult) {
		res.Workloads = append(res.Workloads, w)
		if w.HasLatency() {
			r.logf("%-14s %8s ops/s  p50 %-8s p99 %-8s cpu/op %s", w.Name, FormatRate(w.OpsPerSec),
				FormatLatency(w.P50Ns), FormatLatency(w.P99Ns), FormatLatency(w.CPUPerOpNs()))
		} else {
			r.logf("%-14s %8s ops/s  cpu/op %s", w.Name, FormatRate(w.OpsPerSec), FormatLatency(w.CPUPerOpNs()))
		}
	}

	// The two fills that are not reused each get a fresh store, removed
	// afterwards to keep the disk footprint of a run small.
	for _, f := range []struct {
		name       string
		sequential bool
		batch      int
	}{{WFillSeq, true, r.Config.BatchSize}, {WFillRandomPut, false, 1}} {
		if !want[f.name] {
			continue
		}
		cpu0 := ProcessCPU()
		w, err := r.fillFresh(ctx, f.name, f.sequential, f.batch)
		if err != nil {
			return err
		}
		w.CPUSeconds = (ProcessCPU() - cpu0).Seconds()
		record(w)
	}

	needMain := false
	for _, w := range r.Config.Workloads {
		if w != WFillSeq && w != WFillRandomPut {
			needMain = true
		}
	}
	if !needMain {
		return nil
	}
	return r.runMain(ctx, res, want, record)
}

// runMain loads the shared store, measures its size before and after a full
// compaction, then runs the read, scan, YCSB and synced-write workloads on
// it.
func (r *Runner) runMain(ctx context.Context, res *EngineResult, want map[string]bool, record func(WorkloadResult)) error {
	dir := filepath.Join(r.Dir, "main")
	st, err := r.open(dir, false)
	if err != nil {
		return err
	}
	cpu0 := ProcessCPU()
	w, err := r.fill(ctx, st, WFillRandom, false, r.Config.BatchSize)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	w.CPUSeconds = (ProcessCPU() - cpu0).Seconds()
	if want[WFillRandom] {
		record(w)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close after load: %w", err)
	}
	if res.SizeAfterLoad, err = DiskUsage(dir); err != nil {
		return err
	}
	r.logf("size after load %s", FormatBytes(res.SizeAfterLoad))

	if st, err = r.open(dir, false); err != nil {
		return err
	}
	t0 := time.Now()
	switch err := st.Compact(); {
	case errors.Is(err, ErrNoCompaction):
		res.SizeAfterCompact = -1
	case err != nil:
		return errors.Join(fmt.Errorf("compact: %w", err), st.Close())
	default:
		res.CompactSeconds = time.Since(t0).Seconds()
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close after compaction: %w", err)
	}
	if res.SizeAfterCompact == 0 {
		if res.SizeAfterCompact, err = DiskUsage(dir); err != nil {
			return err
		}
		r.logf("size after compaction %s (%.1f s)", FormatBytes(res.SizeAfterCompact), res.CompactSeconds)
	}

	if st, err = r.open(dir, false); err != nil {
		return err
	}
	warmed := false
	steps := []struct {
		name string
		run  func() (WorkloadResult, error)
	}{
		{WReadRandom1, func() (WorkloadResult, error) { return r.readRandom(ctx, st, WReadRandom1, 1) }},
		{WReadRandom2, func() (WorkloadResult, error) { return r.readRandom(ctx, st, WReadRandom2, 2) }},
		{WScanFull, func() (WorkloadResult, error) { return r.scanFull(ctx, st) }},
		{WScan100, func() (WorkloadResult, error) { return r.scanShort(ctx, st) }},
		{WYCSBA, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBA) }},
		{WYCSBB, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBB) }},
		{WYCSBC, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBC) }},
		{WYCSBF, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBF) }},
		{WYCSBD, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBD) }},
		{WYCSBE, func() (WorkloadResult, error) { return r.ycsb(ctx, st, WYCSBE) }},
	}
	for _, s := range steps {
		if !want[s.name] {
			continue
		}
		if !warmed && (s.name == WReadRandom1 || s.name == WReadRandom2) {
			if err := r.warmUp(ctx, st); err != nil {
				return errors.Join(err, st.Close())
			}
			warmed = true
		}
		cpu0 := ProcessCPU()
		w, err := s.run()
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", s.name, err), st.Close())
		}
		w.CPUSeconds = (ProcessCPU() - cpu0).Seconds()
		record(w)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}

	if want[WWriteSync] {
		// Sync is an open-time option for some engines (Badger, Lightning),
		// so the synced workload reopens the store.
		if st, err = r.open(dir, true); err != nil {
			return err
		}
		cpu0 := ProcessCPU()
		w, err := r.writeSync(ctx, st)
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", WWriteSync, err), st.Close())
		}
		w.CPUSeconds = (ProcessCPU() - cpu0).Seconds()
		record(w)
		if err := st.Close(); err != nil {
			return fmt.Errorf("close after %s: %w", WWriteSync, err)
		}
	}
	return nil
}

func (r *Runner) open(dir string, sync bool) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	st, err := r.Engine.Open(dir, OpenOptions{CacheBytes: r.Config.CacheBytes, Sync: sync})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return st, nil
}

func (r *Runner) fillFresh(ctx context.Context, name string, sequential bool, batch int) (WorkloadResult, error) {
	dir := filepath.Join(r.Dir, name)
	st, err := r.open(dir, false)
	if err != nil {
		return WorkloadResult{}, err
	}
	w, err := r.fill(ctx, st, name, sequential, batch)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close after %s: %w", name, cerr)
	}
	if rerr := os.RemoveAll(dir); err == nil && rerr != nil {
		err = fmt.Errorf("remove %s: %w", dir, rerr)
	}
	return w, err
}

// fill writes all N records, in ascending or permuted order, batch records
// per call (batch 1 uses Put). It is bounded by count, not time, so every
// engine ends with the same contents.
func (r *Runner) fill(ctx context.Context, st Store, name string, sequential bool, batch int) (WorkloadResult, error) {
	var h Histogram
	kb := make([]byte, 0, r.keys.Size())
	n := r.Config.N
	idx := func(j uint64) uint64 {
		if sequential {
			return j
		}
		return r.perm.At(j)
	}
	start := time.Now()
	for i, calls := uint64(0), 0; i < n; calls++ {
		if calls%64 == 0 && ctx.Err() != nil {
			return WorkloadResult{}, ctx.Err()
		}
		t0 := time.Now()
		if batch == 1 {
			kb = r.keys.AppendKey(kb[:0], idx(i))
			if err := st.Put(kb, r.vals.Value(i)); err != nil {
				return WorkloadResult{}, fmt.Errorf("%s put: %w", name, err)
			}
			i++
		} else {
			b := st.NewBatch()
			end := min(i+uint64(batch), n)
			for ; i < end; i++ {
				kb = r.keys.AppendKey(kb[:0], idx(i))
				if err := b.Put(kb, r.vals.Value(i)); err != nil {
					return WorkloadResult{}, fmt.Errorf("%s batch put: %w", name, err)
				}
			}
			if err := b.Commit(); err != nil {
				return WorkloadResult{}, fmt.Errorf("%s commit: %w", name, err)
			}
		}
		h.Record(time.Since(t0))
	}
	return result(name, int64(n), time.Since(start), 1, &h, 0), nil
}

func result(name string, ops int64, d time.Duration, threads int, h *Histogram, notFound int64) WorkloadResult {
	w := WorkloadResult{Name: name, Ops: ops, Seconds: d.Seconds(), Threads: threads, NotFound: notFound}
	if d > 0 {
		w.OpsPerSec = float64(ops) / d.Seconds()
	}
	if h != nil && h.Count() > 0 {
		w.P50Ns = float64(h.Quantile(0.50))
		w.P99Ns = float64(h.Quantile(0.99))
		w.MeanNs = float64(h.Mean())
		w.MaxNs = float64(h.Max())
	}
	return w
}

// opFunc performs one timed call and returns how many ops it counts and
// whether it read an absent key.
type opFunc func() (ops int64, missing bool, err error)

// timed runs threads workers, each calling its op until d has passed, and
// merges their histograms. newOp builds worker w's op (and its private
// random state) before the clock starts.
func (r *Runner) timed(ctx context.Context, name string, threads int, d time.Duration, newOp func(w int) (opFunc, error)) (WorkloadResult, error) {
	ops := make([]opFunc, threads)
	for w := range ops {
		op, err := newOp(w)
		if err != nil {
			return WorkloadResult{}, err
		}
		ops[w] = op
	}
	type tally struct {
		h        Histogram
		ops      int64
		notFound int64
		err      error
	}
	tallies := make([]tally, threads)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[w]
			op := ops[w]
			for k := 0; ; k++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				if k%256 == 0 && ctx.Err() != nil {
					t.err = ctx.Err()
					return
				}
				n, missing, err := op()
				if err != nil {
					t.err = err
					return
				}
				t.h.Record(time.Since(t0))
				t.ops += n
				if missing {
					t.notFound++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var h Histogram
	var total, notFound int64
	for i := range tallies {
		if tallies[i].err != nil {
			return WorkloadResult{}, tallies[i].err
		}
		h.Merge(&tallies[i].h)
		total += tallies[i].ops
		notFound += tallies[i].notFound
	}
	return result(name, total, elapsed, threads, &h, notFound), nil
}

// readOp returns an op reading uniformly random loaded keys; a missing key
// or a value of the wrong size fails the run, since every loaded key must be
// there.
func (r *Runner) readOp(st Store, name string, w int) opFunc {
	rng := NewRand(r.Config.Seed, streamID(name, w))
	kb := make([]byte, 0, r.keys.Size())
	var buf []byte
	return func() (int64, bool, error) {
		i := rng.Uint64N(r.Config.N)
		kb = r.keys.AppendKey(kb[:0], i)
		v, found, err := st.Get(kb, buf[:0])
		if err != nil {
			return 0, false, fmt.Errorf("get %s: %w", kb, err)
		}
		if !found {
			return 0, false, fmt.Errorf("get %s: loaded key not found", kb)
		}
		if len(v) != r.Config.ValueSize {
			return 0, false, fmt.Errorf("get %s: value of %d bytes, want %d", kb, len(v), r.Config.ValueSize)
		}
		buf = v
		return 1, false, nil
	}
}

// warmUp reads random keys untimed so that the random-read workloads run
// with a warm cache, as the issue and db_bench's "readrandom after fill"
// both assume.
func (r *Runner) warmUp(ctx context.Context, st Store) error {
	if r.Config.Warmup <= 0 {
		return nil
	}
	op := r.readOp(st, "warmup", 0)
	deadline := time.Now().Add(r.Config.Warmup)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, _, err := op(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

func (r *Runner) readRandom(ctx context.Context, st Store, name string, threads int) (WorkloadResult, error) {
	return r.timed(ctx, name, threads, r.Config.Duration, func(w int) (opFunc, error) {
		return r.readOp(st, name, w), nil
	})
}

// scanFull scans every key once and checks that exactly N came back: it runs
// before YCSB inserts anything.
func (r *Runner) scanFull(ctx context.Context, st Store) (WorkloadResult, error) {
	if err := ctx.Err(); err != nil {
		return WorkloadResult{}, err
	}
	var bytes int64
	start := time.Now()
	n, err := st.Scan(nil, 0, func(k, v []byte) { bytes += int64(len(k) + len(v)) })
	elapsed := time.Since(start)
	if err != nil {
		return WorkloadResult{}, err
	}
	if uint64(n) != r.Config.N {
		return WorkloadResult{}, fmt.Errorf("full scan saw %d keys, want %d", n, r.Config.N)
	}
	if want := int64(n) * int64(r.Config.KeySize+r.Config.ValueSize); bytes != want {
		return WorkloadResult{}, fmt.Errorf("full scan saw %d bytes, want %d", bytes, want)
	}
	return result(WScanFull, int64(n), elapsed, 1, nil, 0), nil
}

func (r *Runner) scanShort(ctx context.Context, st Store) (WorkloadResult, error) {
	return r.timed(ctx, WScan100, 1, r.Config.Duration, func(w int) (opFunc, error) {
		rng := NewRand(r.Config.Seed, streamID(WScan100, w))
		kb := make([]byte, 0, r.keys.Size())
		limit := r.Config.ScanLength
		return func() (int64, bool, error) {
			i := rng.Uint64N(r.Config.N)
			kb = r.keys.AppendKey(kb[:0], i)
			n, err := st.Scan(kb, limit, func(k, v []byte) {})
			if err != nil {
				return 0, false, fmt.Errorf("scan from %s: %w", kb, err)
			}
			if want := min(uint64(limit), r.Config.N-i); uint64(n) != want {
				return 0, false, fmt.Errorf("scan from %s: %d keys, want %d", kb, n, want)
			}
			return 1, false, nil
		}, nil
	})
}

// ycsb runs one YCSB core workload. Reads of loaded records (index < N) must
// succeed; a read of an inserted record another worker has not finished
// counts as not found, as YCSB itself reports it.
func (r *Runner) ycsb(ctx context.Context, st Store, name string) (WorkloadResult, error) {
	mix := ycsbMixes[name]
	n := r.Config.N
	return r.timed(ctx, name, r.Config.YCSBThreads, r.Config.Duration, func(w int) (opFunc, error) {
		rng := NewRand(r.Config.Seed, streamID(name, w))
		zipf, err := NewScrambledZipfian(n, r.Config.Theta, rng)
		if err != nil {
			return nil, err
		}
		latest, err := NewLatest(r.next.Load(), r.Config.Theta, rng)
		if err != nil {
			return nil, err
		}
		kb := make([]byte, 0, r.keys.Size())
		var buf []byte
		read := func(i uint64) (bool, error) {
			kb = r.keys.AppendKey(kb[:0], i)
			v, found, err := st.Get(kb, buf[:0])
			if err != nil {
				return false, fmt.Errorf("get %s: %w", kb, err)
			}
			if !found {
				if i < n {
					return false, fmt.Errorf("get %s: loaded key not found", kb)
				}
				return true, nil
			}
			buf = v
			return false, nil
		}
		write := func(i uint64) error {
			kb = r.keys.AppendKey(kb[:0], i)
			if err := st.Put(kb, r.vals.Value(rng.Uint64())); err != nil {
				return fmt.Errorf("put %s: %w", kb, err)
			}
			return nil
		}
		return func() (int64, bool, error) {
			switch mix.chooseOp(rng) {
			case 'r':
				var i uint64
				if mix.latest {
					i = latest.Next(r.next.Load())
				} else {
					i = zipf.Next()
				}
				missing, err := read(i)
				return 1, missing, err
			case 'u':
				return 1, false, write(zipf.Next())
			case 'i':
				return 1, false, write(r.next.Add(1) - 1)
			case 's':
				kb = r.keys.AppendKey(kb[:0], zipf.Next())
				if _, err := st.Scan(kb, 1+rng.IntN(r.Config.ScanLength), func(k, v []byte) {}); err != nil {
					return 0, false, fmt.Errorf("scan from %s: %w", kb, err)
				}
				return 1, false, nil
			default: // 'm': read-modify-write, timed as one op as YCSB does
				i := zipf.Next()
				missing, err := read(i)
				if err != nil {
					return 0, false, err
				}
				return 1, missing, write(i)
			}
		}, nil
	})
}

// writeSync runs SyncWriters goroutines doing synced Puts of random loaded
// keys for Duration: the group-commit workload.
func (r *Runner) writeSync(ctx context.Context, st Store) (WorkloadResult, error) {
	return r.timed(ctx, WWriteSync, r.Config.SyncWriters, r.Config.Duration, func(w int) (opFunc, error) {
		rng := NewRand(r.Config.Seed, streamID(WWriteSync, w))
		kb := make([]byte, 0, r.keys.Size())
		return func() (int64, bool, error) {
			kb = r.keys.AppendKey(kb[:0], rng.Uint64N(r.Config.N))
			if err := st.Put(kb, r.vals.Value(rng.Uint64())); err != nil {
				return 0, false, fmt.Errorf("put %s: %w", kb, err)
			}
			return 1, false, nil
		}, nil
	})
}
