package aesgcm_test

import (
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// writeFile puts data at path on fsys, synced.
func writeFile(t *testing.T, fsys vfs.FS, path string, data []byte) {
	t.Helper()
	require.NoError(t, fsys.MkdirAll(filepath.Dir(path), 0o755))
	f, err := fsys.Create(path)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(filepath.Dir(path)))
}

// TestPrune: retired keys that no file uses go; keys used by a file (raw,
// deep in a subdirectory, across a scan chunk boundary, or hex-encoded as
// in the identity file) and the current key stay; blocks of kept keys
// open.
func TestPrune(t *testing.T) {
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.PruneGrace = -1 })
	require.NoError(t, err)
	defer c.Close()
	// Keys 1..6, each sealing one sample; key 6 is current.
	var samples []sample
	for i := range 6 {
		samples = append(samples, sealSample(t, c, i))
		if i < 5 {
			_, err := c.RotateDataKey()
			require.NoError(t, err)
		}
	}
	// Key 1 in the identity file, in hex; key 2 raw in a nested file; key
	// 4 straddling the 1 MiB chunk boundary; key 3 and 5 nowhere; key 6
	// (current) nowhere.
	writeFile(t, mem, "db/LIGHTNING", []byte("keycheck: "+hex.EncodeToString(samples[0].sealed)+"\n"))
	writeFile(t, mem, "db/engine/000007.sst", append([]byte("header"), samples[1].sealed...))
	big := make([]byte, 1<<20+100)
	copy(big[1<<20-2:], samples[3].sealed)
	writeFile(t, mem, "db/wal/0000000000000001.wal", big)

	inUse, err := c.KeysInUse(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{1, 2, 4}, inUse)

	removed, err := c.Prune(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{3, 5}, removed)
	requireOpens(t, c, samples[0], samples[1], samples[3], samples[5])
	for _, i := range []int{2, 4} {
		_, err := c.Open(nil, samples[i].sealed, samples[i].ad)
		require.ErrorIs(t, err, interfaces.ErrKeyMismatch, "sample of pruned key %d", i+1)
	}
	st, err := c.Status()
	require.NoError(t, err)
	var ids []aesgcm.KeyID
	for _, k := range st.Keys {
		ids = append(ids, k.ID)
	}
	require.Equal(t, []aesgcm.KeyID{1, 2, 4, 6}, ids)

	// The pruned registry is what a reopen sees; ids are never reused.
	require.NoError(t, c.Close())
	c, err = openReg(mem, testKey(1), func(o *aesgcm.Options) { o.PruneGrace = -1 })
	require.NoError(t, err)
	requireOpens(t, c, samples[0], samples[1], samples[3], samples[5])
	id, err := c.RotateDataKey()
	require.NoError(t, err)
	require.Equal(t, aesgcm.KeyID(7), id)

	// Once the file goes, so does its key; the current key never does.
	require.NoError(t, mem.Remove("db/engine/000007.sst"))
	removed, err = c.Prune(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{2, 6}, removed)
}

// TestPruneGrace: with the default grace, a key retired just now stays
// even though no file uses it.
func TestPruneGrace(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mem := vfs.NewMem()
	c, err := openReg(mem, testKey(1), func(o *aesgcm.Options) { o.Now = clock })
	require.NoError(t, err)
	defer c.Close()
	sealSample(t, c, 1)
	_, err = c.RotateDataKey()
	require.NoError(t, err)
	removed, err := c.Prune(mem, "db")
	require.NoError(t, err)
	require.Empty(t, removed)
	now = now.Add(aesgcm.DefaultPruneGrace)
	removed, err = c.Prune(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{1}, removed)
}
