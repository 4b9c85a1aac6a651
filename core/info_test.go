package core_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/vfs"
)

func TestReadInfo(t *testing.T) {
	mfs := vfs.NewMem()
	db, err := core.Open(testDir, lsmOptions(mfs))
	require.NoError(t, err)

	// The identity is readable while the database is open: ReadInfo
	// takes no lock.
	info, err := core.ReadInfo(mfs, testDir)
	require.NoError(t, err)
	require.Equal(t, 1, info.Format)
	require.Equal(t, "lsm", info.Engine)
	require.Equal(t, "snappy", info.Codec)
	require.Equal(t, "none", info.Cipher)
	require.False(t, info.Encrypted())
	created, err := time.Parse(time.RFC3339, info.Created)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), created, time.Hour)
	require.NoError(t, db.Close())

	_, err = core.ReadInfo(mfs, "nowhere")
	require.ErrorIs(t, err, fs.ErrNotExist)

	f, err := mfs.OpenReadWrite(testDir + "/LIGHTNING")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("X"), 70)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = core.ReadInfo(mfs, testDir)
	require.True(t, core.IsCorruption(err), "%v", err)
}
