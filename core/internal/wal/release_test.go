package wal

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/vfs"
)

func TestSealLetsReleaseFreeTheActiveSegment(t *testing.T) {
	fs := vfs.NewMem()
	l, _, _ := openReplay(t, memOpts(fs), 0)
	require.NoError(t, l.WriteGroup([]Record{{Ts: 1, Payload: []byte("a")}, {Ts: 2, Payload: []byte("b")}}))
	require.NoError(t, l.Seal(1), "a newer record keeps the segment")
	require.Equal(t, 1, l.Stats().Segments)
	require.NoError(t, l.Seal(2))
	require.Equal(t, 2, l.Stats().Segments)
	require.NoError(t, l.Seal(2), "an empty active segment is left alone")
	require.Equal(t, 2, l.Stats().Segments)
	require.NoError(t, l.Release(2))
	require.Equal(t, 1, l.Stats().Segments)
	require.NoError(t, l.WriteGroup([]Record{{Ts: 3, Payload: []byte("c")}}))
	require.NoError(t, l.Close())

	// The engine holds everything up to 2, so replay starts above it.
	l, _, recs := openReplay(t, memOpts(fs), 2)
	defer l.Close()
	require.Equal(t, uint64(3), l.LastTs())
	require.Len(t, recs, 1, "only the record after the release is replayed")
}
