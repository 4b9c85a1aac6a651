package core_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

// A damaged WAL record followed by good ones is corruption: Open names the
// segment and offset and refuses; TruncateCorruptWAL salvages the prefix.
func TestCorruptWALRecord(t *testing.T) {
	fs := vfs.NewMem()
	db, err := core.Open(testDir, memOptions(fs))
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		require.NoError(t, db.Put(key(i), []byte(fmt.Sprintf("value-%d", i))))
	}
	// A crash, not a Close: Close flushes the engine and releases the log.
	live := fs
	fs = live.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, db.Close())

	walDir := filepath.Join(testDir, "wal")
	names, err := fs.List(walDir)
	require.NoError(t, err)
	require.NotEmpty(t, names)
	seg := filepath.Join(walDir, names[0])
	f, err := fs.OpenReadWrite(seg)
	require.NoError(t, err)
	// Flip a byte in the middle of the records: some record there, with
	// good records after it. The segment's file runs on past the records
	// in preallocated zeros.
	off := recordsEnd(t, f) / 2
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())

	_, err = core.Open(testDir, memOptions(fs))
	require.Error(t, err)
	require.True(t, core.IsCorruption(err), "%v", err)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.File, names[0])
	require.Greater(t, ce.Offset, int64(0))
	require.LessOrEqual(t, ce.Offset, off)

	opts := memOptions(fs)
	opts.TruncateCorruptWAL = true
	db, err = core.Open(testDir, opts)
	require.NoError(t, err)
	defer db.Close()
	got := dump(t, db)
	require.NotEmpty(t, got, "the records before the damage survive")
	require.Less(t, len(got), 20, "the damaged record and those after it are gone")
	for i := 0; i < len(got); i++ {
		require.Equal(t, fmt.Sprintf("value-%d", i), got[string(key(i))], "a prefix survives")
	}
	require.NoError(t, db.Put([]byte("after"), []byte("salvage")), "the salvaged database takes writes")
}

// recordsEnd returns the end of a WAL segment's records, the last
// nonzero byte: the file runs on in the zeros that preallocation wrote
// past them, and this test's records end in nonzero value bytes.
func recordsEnd(t *testing.T, f vfs.File) int64 {
	t.Helper()
	size, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return int64(len(bytes.TrimRight(b, "\x00")))
}
