package lightning_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
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
