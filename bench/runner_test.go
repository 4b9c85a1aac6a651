package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// refStore is a reference Store for testing the harness: a sorted slice
// under a mutex, "persisted" across Close/Open in a per-directory table, with
// a file whose size is the data's so DiskUsage has something to measure.
type refStore struct {
	dir  string
	disk *refDisk
	// dropEvery, when positive, silently loses every dropEvery-th Put: a
	// broken engine the harness must catch.
	dropEvery int
	puts      int
}

type refDisk struct {
	mu        sync.Mutex
	keys      [][]byte
	vals      [][]byte
	opens     int
	syncs     int
	compacted bool
}

type refEngine struct {
	mu        sync.Mutex
	disks     map[string]*refDisk
	dropEvery int
	noCompact bool
}

func (e *refEngine) engine(name string) Engine {
	return Engine{Name: name, Family: "ref", Settings: "reference", Default: true,
		Open: func(dir string, o OpenOptions) (Store, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.disks == nil {
				e.disks = map[string]*refDisk{}
			}
			d := e.disks[dir]
			if d == nil {
				d = &refDisk{}
				e.disks[dir] = d
			}
			d.opens++
			if o.Sync {
				d.syncs++
			}
			if e.noCompact {
				d.compacted = true // marks "Compact never ran" checks below
			}
			return &refStore{dir: dir, disk: d, dropEvery: e.dropEvery}, nil
		}}
}

func (s *refStore) put(k, v []byte) {
	d := s.disk
	i := sort.Search(len(d.keys), func(i int) bool { return bytes.Compare(d.keys[i], k) >= 0 })
	if i < len(d.keys) && bytes.Equal(d.keys[i], k) {
		d.vals[i] = append([]byte(nil), v...)
		return
	}
	d.keys = append(d.keys, nil)
	d.vals = append(d.vals, nil)
	copy(d.keys[i+1:], d.keys[i:])
	copy(d.vals[i+1:], d.vals[i:])
	d.keys[i], d.vals[i] = append([]byte(nil), k...), append([]byte(nil), v...)
}

func (s *refStore) Put(k, v []byte) error {
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	s.puts++
	if s.dropEvery > 0 && s.puts%s.dropEvery == 0 {
		return nil
	}
	s.put(k, v)
	return nil
}

func (s *refStore) Get(k, dst []byte) ([]byte, bool, error) {
	d := s.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.keys), func(i int) bool { return bytes.Compare(d.keys[i], k) >= 0 })
	if i < len(d.keys) && bytes.Equal(d.keys[i], k) {
		return append(dst, d.vals[i]...), true, nil
	}
	return dst, false, nil
}

type refBatch struct {
	s  *refStore
	kv [][2][]byte
}

func (b *refBatch) Put(k, v []byte) error {
	b.kv = append(b.kv, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
	return nil
}

func (b *refBatch) Commit() error {
	for _, kv := range b.kv {
		if err := b.s.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func (s *refStore) NewBatch() Batch { return &refBatch{s: s} }

func (s *refStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	d := s.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.keys), func(i int) bool { return bytes.Compare(d.keys[i], start) >= 0 })
	n := 0
	for ; i < len(d.keys) && (limit <= 0 || n < limit); i++ {
		fn(d.keys[i], d.vals[i])
		n++
	}
	return n, nil
}

func (s *refStore) Compact() error {
	if s.disk.compacted {
		return ErrNoCompaction
	}
	return nil
}

func (s *refStore) Close() error {
	d := s.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	size := 0
	for i := range d.keys {
		size += len(d.keys[i]) + len(d.vals[i])
	}
	return os.WriteFile(filepath.Join(s.dir, "data"), bytes.Repeat([]byte{1}, size), 0o644)
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.N = 3000
	c.BatchSize = 100
	c.Duration = 30 * time.Millisecond
	c.Warmup = 5 * time.Millisecond
	c.SyncWriters = 4
	return c
}

func TestRunnerRunsEveryWorkload(t *testing.T) {
	eng := &refEngine{}
	r := &Runner{Config: tinyConfig(), Engine: eng.engine("ref"), Dir: t.TempDir()}
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Empty(t, res.Error)
	require.Equal(t, "ref", res.Engine)
	var names []string
	for _, w := range res.Workloads {
		names = append(names, w.Name)
		require.Positive(t, w.Ops, w.Name)
		require.Positive(t, w.OpsPerSec, w.Name)
		require.Zero(t, w.NotFound, w.Name)
		if runtime.GOOS == "linux" {
			require.Positive(t, w.CPUSeconds, w.Name)
		}
		if w.Name != WScanFull {
			require.True(t, w.HasLatency(), w.Name)
			require.LessOrEqual(t, w.P50Ns, w.P99Ns, w.Name)
		}
	}
	require.Equal(t, WorkloadNames(), names, "every workload, in canonical order")

	fill, _ := res.Workload(WFillRandom)
	require.Equal(t, int64(3000), fill.Ops, "fills are count-bound")
	scan, _ := res.Workload(WScanFull)
	require.Equal(t, int64(3000), scan.Ops, "the full scan sees exactly the loaded keys")
	sync, _ := res.Workload(WWriteSync)
	require.Equal(t, 4, sync.Threads)
	rr2, _ := res.Workload(WReadRandom2)
	require.Equal(t, 2, rr2.Threads)

	// Sizes come from the files the store wrote on close.
	const data = 3000 * (16 + 100)
	for _, size := range []int64{res.SizeAfterLoad, res.SizeAfterCompact} {
		require.GreaterOrEqual(t, size, int64(data))
		require.Less(t, size, int64(data+1<<20), "allocated blocks, not more")
	}
	// The fresh-store fills were removed; the synced workload reopened with Sync.
	_, err = os.Stat(filepath.Join(r.Dir, WFillSeq))
	require.True(t, os.IsNotExist(err))
	d := eng.disks[filepath.Join(r.Dir, "main")]
	require.Equal(t, 1, d.syncs)
	require.Equal(t, 4, d.opens, "load, compact, read, synced write")
}

func TestRunnerSelectedWorkloadsOnly(t *testing.T) {
	cfg := tinyConfig()
	cfg.Workloads = []string{WFillSeq, WYCSBC}
	eng := &refEngine{noCompact: true}
	r := &Runner{Config: cfg, Engine: eng.engine("ref"), Dir: t.TempDir()}
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Workloads, 2)
	require.Equal(t, WFillSeq, res.Workloads[0].Name)
	require.Equal(t, WYCSBC, res.Workloads[1].Name)
	require.Equal(t, int64(-1), res.SizeAfterCompact, "no compaction reads as -1")
	require.Zero(t, res.CompactSeconds)
}

func TestRunnerCatchesLostWrites(t *testing.T) {
	eng := &refEngine{dropEvery: 97}
	r := &Runner{Config: tinyConfig(), Engine: eng.engine("lossy"), Dir: t.TempDir()}
	res, err := r.Run(context.Background())
	require.Error(t, err)
	require.Contains(t, res.Error, "not found")
	require.Contains(t, err.Error(), "lossy")
}

func TestRunnerUnavailableEngine(t *testing.T) {
	r := &Runner{Config: tinyConfig(), Engine: Engine{Name: "x", Family: "lightning", Unavailable: "not available in this build: no x"}, Dir: t.TempDir()}
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, "not available in this build: no x", res.Unavailable)
	require.Empty(t, res.Workloads)
	require.False(t, res.Ran())
}

func TestRunnerStopsOnCancel(t *testing.T) {
	cfg := tinyConfig()
	cfg.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	eng := &refEngine{}
	r := &Runner{Config: cfg, Engine: eng.engine("ref"), Dir: t.TempDir()}
	start := time.Now()
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestRunnerRejectsBadConfig(t *testing.T) {
	cfg := tinyConfig()
	cfg.N = 1
	eng := &refEngine{}
	r := &Runner{Config: cfg, Engine: eng.engine("ref"), Dir: t.TempDir()}
	_, err := r.Run(context.Background())
	require.Error(t, err)
}
