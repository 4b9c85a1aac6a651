package engines

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightning/bench"
	"github.com/stretchr/testify/require"
)

func available(t *testing.T) []bench.Engine {
	reg, err := Registry()
	require.NoError(t, err)
	all, err := reg.Select("available")
	require.NoError(t, err)
	return all
}

func TestRegistryListsEveryPeer(t *testing.T) {
	reg, err := Registry()
	require.NoError(t, err)
	for _, name := range []string{"pebble", "badger", "bbolt", "goleveldb"} {
		e, ok := reg.Lookup(name)
		require.True(t, ok, name)
		require.Empty(t, e.Unavailable, name)
		require.True(t, e.Default, name)
		require.NotEmpty(t, e.Settings, name)
	}
	// Every engine and option set this tree ships is available,
	// encryption included.
	for _, eng := range []string{"lsm", "btree", "memory"} {
		for _, suffix := range []string{"", "-none", "-lz4", "-zstd", "-aes"} {
			e, ok := reg.Lookup("lightning-" + eng + suffix)
			require.True(t, ok, eng+suffix)
			require.Empty(t, e.Unavailable, eng+suffix)
		}
	}
	// Every Lightning entry either opens or says why it cannot.
	for _, e := range Lightning() {
		require.Equal(t, "lightning", e.Family)
		if e.Unavailable != "" {
			require.Contains(t, e.Unavailable, "not available in this build", e.Name)
			continue
		}
		require.NotNil(t, e.Open, e.Name)
		require.NotEmpty(t, e.Settings, e.Name)
	}
}

func key(i int) []byte   { return []byte(fmt.Sprintf("%016d", i)) }
func value(i int) []byte { return []byte(fmt.Sprintf("value-%08d", i)) }

// TestStoreContract checks every available adapter against the behaviour
// the harness relies on: reads see writes, batches are applied whole,
// scans are ordered and bounded, data survives close and reopen, and the
// batch copies the key buffer the caller reuses.
func TestStoreContract(t *testing.T) {
	for _, e := range available(t) {
		t.Run(e.Name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := e.Open(dir, bench.OpenOptions{CacheBytes: 8 << 20})
			require.NoError(t, err)

			_, found, err := st.Get(key(1), nil)
			require.NoError(t, err)
			require.False(t, found)

			// A batch of even keys through one reused key buffer.
			b := st.NewBatch()
			buf := make([]byte, 0, 16)
			for i := 0; i < 200; i += 2 {
				buf = append(buf[:0], key(i)...)
				require.NoError(t, b.Put(buf, value(i)))
			}
			require.NoError(t, b.Commit())
			// Odd keys with Put, one overwrite.
			for i := 1; i < 200; i += 2 {
				require.NoError(t, st.Put(key(i), value(i)))
			}
			require.NoError(t, st.Put(key(10), []byte("new")))

			v, found, err := st.Get(key(10), []byte("prefix:"))
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, "prefix:new", string(v), "Get appends to dst")
			v, found, err = st.Get(key(199), nil)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, value(199), v)

			var got []string
			n, err := st.Scan(key(50), 5, func(k, v []byte) { got = append(got, string(k)) })
			require.NoError(t, err)
			require.Equal(t, 5, n)
			require.Equal(t, []string{string(key(50)), string(key(51)), string(key(52)), string(key(53)), string(key(54))}, got)

			n, err = st.Scan(key(198), 10, func(k, v []byte) {})
			require.NoError(t, err)
			require.Equal(t, 2, n, "a scan stops at the end")

			var prev string
			total := 0
			n, err = st.Scan(nil, 0, func(k, v []byte) {
				require.Greater(t, string(k), prev)
				prev = string(k)
				total += len(v)
			})
			require.NoError(t, err)
			require.Equal(t, 200, n)

			err = st.Compact()
			if !errors.Is(err, bench.ErrNoCompaction) {
				require.NoError(t, err)
			}
			require.NoError(t, st.Close())

			// Reopen: everything is still there.
			st, err = e.Open(dir, bench.OpenOptions{CacheBytes: 8 << 20, Sync: true})
			require.NoError(t, err)
			n, err = st.Scan(nil, 0, func(k, v []byte) {})
			require.NoError(t, err)
			require.Equal(t, 200, n)
			v, found, err = st.Get(key(10), nil)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, "new", string(v))

			// Synced concurrent writers, as writesync-16 drives them.
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 10 {
						if err := st.Put(key(1000+w*100+i), value(i)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			n, err = st.Scan(key(1000), 0, func(k, v []byte) {})
			require.NoError(t, err)
			require.Equal(t, 40, n)
			require.NoError(t, st.Close())
		})
	}
}

// TestEnginesRunTheHarness drives every available engine through every
// workload at a tiny size: the same path cmd/compare's children take.
func TestEnginesRunTheHarness(t *testing.T) {
	cfg := bench.DefaultConfig()
	cfg.N = 2000
	cfg.BatchSize = 100
	cfg.CacheBytes = 8 << 20
	cfg.Duration = 20 * time.Millisecond
	cfg.Warmup = 5 * time.Millisecond
	cfg.SyncWriters = 4
	if testing.Short() {
		cfg.Workloads = []string{bench.WFillRandom, bench.WReadRandom1, bench.WYCSBE}
	}
	for _, e := range available(t) {
		t.Run(e.Name, func(t *testing.T) {
			r := &bench.Runner{Config: cfg, Engine: e, Dir: t.TempDir()}
			res, err := r.Run(context.Background())
			require.NoError(t, err)
			require.Len(t, res.Workloads, len(cfg.Workloads))
			require.Positive(t, res.SizeAfterLoad)
			for _, w := range res.Workloads {
				require.Positive(t, w.OpsPerSec, w.Name)
			}
		})
	}
}
