package arc_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/cachewarm"
	"github.com/lightningdb/lightning/plugins/arc"
	"github.com/lightningdb/lightning/vfs"
)

// TestWarmRestart plays two databases sharing one sharded cache through a
// restart, the way engines use package cachewarm: each saves its own hot
// keys at Close, and after reopening under a new namespace warms a new
// cache from them, hottest last.
func TestWarmRestart(t *testing.T) {
	const blocks, hot, charge = 400, 40, 4096
	c, err := arc.New(arc.Options{Capacity: 256 * charge, Shards: 4})
	require.NoError(t, err)
	blockKey := func(ns, i uint64) interfaces.CacheKey {
		return interfaces.CacheKey{Namespace: ns, File: 1 + i/50, Offset: (i % 50) * charge}
	}
	// Databases A (namespace 11) and B (namespace 22) read their blocks
	// through the cache; each has hot blocks it reads again and again.
	read := func(c *arc.Cache, ns, i uint64) bool {
		k := blockKey(ns, i)
		if _, ok := c.Get(k); ok {
			return true
		}
		c.Set(k, make([]byte, 16), charge)
		return false
	}
	for round := range 20 {
		for _, ns := range []uint64{11, 22} {
			for i := range uint64(hot) {
				read(c, ns, i)
			}
			for i := range uint64(10) {
				read(c, ns, hot+uint64(round*10)+i) // cold traffic
			}
		}
	}

	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("a", 0o755))
	require.NoError(t, mem.MkdirAll("b", 0o755))
	require.NoError(t, cachewarm.Save(mem, "a/HOTKEYS", c, 11, hot))
	require.NoError(t, cachewarm.Save(mem, "b/HOTKEYS", c, 22, hot))
	require.NoError(t, c.Close())

	// The process restarts: a new cache, new namespaces.
	warm, err := arc.New(arc.Options{Capacity: 256 * charge, Shards: 4})
	require.NoError(t, err)
	defer warm.Close()
	for _, db := range []struct {
		dir      string
		old, new uint64
	}{{"a", 11, 33}, {"b", 22, 44}} {
		keys, err := cachewarm.Load(mem, db.dir+"/HOTKEYS")
		require.NoError(t, err)
		require.Len(t, keys, hot)
		for i := len(keys) - 1; i >= 0; i-- {
			k := keys[i]
			require.Equal(t, db.old, k.Namespace, "%s saved only its own keys", db.dir)
			k.Namespace = db.new
			warm.Set(k, make([]byte, 16), charge)
		}
		// Every hot block now hits on its first read.
		for i := range uint64(hot) {
			require.True(t, read(warm, db.new, i), "%s: hot block %d was not warmed", db.dir, i)
		}
	}
}
