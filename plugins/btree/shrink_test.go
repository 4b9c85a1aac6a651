package btree_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// shrinkKey is the 16-byte key of i: a scattered prefix, so keys arrive
// in random order, then i.
func shrinkKey(i uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(k[8:], i)
	return k
}

func shrinkValue(i uint64) []byte {
	v := bytes.Repeat([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'v'}, 25)
	binary.BigEndian.PutUint64(v, i)
	return v
}

// testShrinkOnline loads n keys, deletes three quarters of them, and
// compacts while readers check the survivors and a writer adds keys. The
// file must end up at most half the size it had after the load, with
// every read right throughout.
func testShrinkOnline(t *testing.T, n int) {
	dir := t.TempDir()
	e, err := btree.New(btree.Options{Dir: dir, WriteBufferSize: 16 << 20}, btree.Deps{FS: vfs.Default})
	require.NoError(t, err)
	defer e.Close()
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, btree.DataName))
		require.NoError(t, err)
		return fi.Size()
	}
	ts := uint64(0)
	batch := make([]interfaces.Entry, 0, 1000)
	for i := 0; i < n; i += 1000 {
		ts++
		batch = batch[:0]
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, interfaces.Entry{Key: shrinkKey(uint64(j)), Ts: ts, Kind: interfaces.KindSet, Value: shrinkValue(uint64(j))})
		}
		require.NoError(t, e.Apply(batch))
	}
	_, err = e.Flush()
	require.NoError(t, err)
	loaded := size()
	deleted := func(i uint64) bool { return i%4 != 0 }
	for i := 0; i < n; i += 1000 {
		ts++
		batch = batch[:0]
		for j := i; j < min(i+1000, n); j++ {
			if deleted(uint64(j)) {
				batch = append(batch, interfaces.Entry{Key: shrinkKey(uint64(j)), Ts: ts, Kind: interfaces.KindDelete})
			}
		}
		require.NoError(t, e.Apply(batch))
	}
	_, err = e.Flush()
	require.NoError(t, err)
	withTombstones := size()
	require.NoError(t, e.SetDiscardTs(ts))

	// Readers and a writer run during Compact.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		failure error
		reads   atomic.Int64
		writes  atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(r); !stop.Load(); i = (i*7919 + 13) % uint64(n) {
				v, _, err := e.Get(shrinkKey(i), interfaces.MaxTs)
				switch {
				case deleted(i) && !errors.Is(err, interfaces.ErrNotFound):
					fail(fmt.Errorf("Get of deleted key %d: %q, %v", i, v, err))
				case !deleted(i) && (err != nil || !bytes.Equal(v, shrinkValue(i))):
					fail(fmt.Errorf("Get of key %d: %v", i, err))
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	writeTs := ts
	written := 0
	go func() {
		defer wg.Done()
		for ; !stop.Load() && written < n/10; written++ {
			writeTs++
			k := append([]byte("w"), shrinkKey(uint64(written))...)
			if err := e.Apply([]interfaces.Entry{{Key: k, Ts: writeTs, Kind: interfaces.KindSet, Value: shrinkValue(uint64(written))}}); err != nil {
				fail(err)
				return
			}
			writes.Add(1)
			if written%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	start := time.Now()
	readsBefore, writesBefore := reads.Load(), writes.Load()
	require.NoError(t, e.Compact(interfaces.KeyRange{}))
	readsDuring, writesDuring := reads.Load()-readsBefore, writes.Load()-writesBefore
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	require.NoError(t, failure)
	// The writer's last versions may still be in the write buffer: flush,
	// which may cut the file further.
	_, err = e.Flush()
	require.NoError(t, err)
	compacted := size()
	t.Logf("%d keys: %d MiB loaded, %d MiB with tombstones, %d MiB after Compact (%v, with %d reads and %d writes meanwhile)",
		n, loaded>>20, withTombstones>>20, compacted>>20, took.Round(time.Millisecond), readsDuring, writesDuring)
	require.LessOrEqual(t, compacted, loaded/2, "the file must shrink to at most half")
	// Reads and writes went on while Compact ran, not after it.
	require.Positive(t, readsDuring, "no read ran during Compact")
	require.Positive(t, writesDuring, "no write ran during Compact")
	st, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, compacted, st.DiskBytes)
	require.NoError(t, e.Check())
	for i := uint64(0); i < uint64(n); i += 97 {
		v, _, err := e.Get(shrinkKey(i), interfaces.MaxTs)
		if deleted(i) {
			require.ErrorIs(t, err, interfaces.ErrNotFound)
		} else {
			require.NoError(t, err)
			require.Equal(t, shrinkValue(i), v)
		}
	}
	for i := range written {
		v, _, err := e.Get(append([]byte("w"), shrinkKey(uint64(i))...), interfaces.MaxTs)
		require.NoError(t, err)
		require.Equal(t, shrinkValue(uint64(i)), v)
	}
}
