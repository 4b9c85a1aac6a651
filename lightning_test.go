package lightning_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/vfs"
)

func TestOpenOptions(t *testing.T) {
	_, err := lightning.Open(t.TempDir(), lightning.WithEngine("nope"))
	require.ErrorIs(t, err, lightning.ErrInvalidArgument)
	require.Contains(t, err.Error(), "memory")

	_, err = lightning.Open(t.TempDir(), lightning.WithCodec("brotli"))
	require.ErrorIs(t, err, lightning.ErrInvalidArgument)

	require.Contains(t, lightning.Engines(), lightning.DefaultEngine)
}

// TestWithLSMOptions: the LSM engine takes the options (a small memtable
// flushes, a bad one is refused), keeps the database's directory whatever
// Dir says, and another engine refuses them.
func TestWithLSMOptions(t *testing.T) {
	fs := vfs.NewMem()
	db, err := lightning.Open("db", lightning.WithFS(fs), lightning.WithSync(lightning.SyncNone),
		lightning.WithLSMOptions(func(o *lsm.Options) {
			o.MemtableSize, o.CompressL0, o.Dir = lsm.MinMemtableSize, true, "elsewhere"
		}))
	require.NoError(t, err)
	value := make([]byte, 1000)
	for i := range 500 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%04d", i), value))
	}
	// 500 KB through 64-KiB memtables flush while the DB is open (with
	// 4-MiB ones nothing would flush before Close).
	require.Eventually(t, func() bool { return db.Stats().Storage.Metrics["lsm.flushes"] >= 5 }, 10*time.Second, time.Millisecond)
	require.NoError(t, db.Close())
	db, err = lightning.Open("db", lightning.WithFS(fs))
	require.NoError(t, err)
	v, err := db.Get([]byte("k0499"))
	require.NoError(t, err)
	require.Equal(t, value, v)
	require.NoError(t, db.Close())
	_, err = fs.Stat("elsewhere")
	require.Error(t, err, "Dir is the database's")

	_, err = lightning.Open(t.TempDir(), lightning.WithLSMOptions(func(o *lsm.Options) { o.MemtableSize = 1 }))
	require.ErrorIs(t, err, lightning.ErrInvalidArgument)
	_, err = lightning.Open(t.TempDir(), lightning.WithEngine("btree"), lightning.WithLSMOptions(func(*lsm.Options) {}))
	require.ErrorIs(t, err, lightning.ErrInvalidArgument)
}

func TestReopenWithOtherCodecReadsOldData(t *testing.T) {
	fs := vfs.NewMem()
	dir := "db"
	big := make([]byte, 64<<10) // above the WAL compression threshold
	for i := range big {
		big[i] = byte(i % 7)
	}
	for _, codec := range []string{"snappy", "zstd", "lz4", "none"} {
		db, err := lightning.Open(dir, lightning.WithFS(fs), lightning.WithCodec(codec))
		require.NoError(t, err, codec)
		require.NoError(t, db.Put([]byte(codec), big))
		for _, earlier := range []string{"snappy", "zstd", "lz4", "none"} {
			if v, err := db.Get([]byte(earlier)); err == nil {
				require.Equal(t, big, v, "%s written earlier, read with %s", earlier, codec)
			}
			if earlier == codec {
				break
			}
		}
		require.NoError(t, db.Close())
	}
}

func TestOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := lightning.Open(dir, lightning.WithSync(lightning.SyncInterval(5e6)))
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	db, err = lightning.Open(dir)
	require.NoError(t, err)
	defer db.Close()
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}
