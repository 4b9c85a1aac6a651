//go:build !race

package ordered

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// TestIteratorStepsDoNotAllocate: once its buffers have grown, an iterator
// moves without allocating, in every mode, over keys with and without 0x00
// bytes, several versions and tombstones. (The race detector allocates, so
// this runs without it.)
func TestIteratorStepsDoNotAllocate(t *testing.T) {
	s := open(t, NewMemStore(), Options{})
	for ts := uint64(1); ts <= 3; ts++ {
		var e []interfaces.Entry
		for i := range 200 {
			k := fmt.Sprintf("key%04d", i)
			if i%3 == 0 {
				k += "\x00z"
			}
			if (i+int(ts))%7 == 0 {
				e = append(e, delE(k, ts))
			} else {
				e = append(e, setE(k, ts, fmt.Sprint("value", ts)))
			}
		}
		require.NoError(t, s.Apply(e))
	}
	for _, opts := range []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs},
		{ReadTs: 2},
		{ReadTs: interfaces.MaxTs, Reverse: true},
		{ReadTs: 2, Reverse: true},
		{ReadTs: interfaces.MaxTs, AllVersions: true},
		{ReadTs: 2, AllVersions: true, Reverse: true},
	} {
		it, err := s.NewIterator(opts)
		require.NoError(t, err)
		// Warm the buffers with one full pass.
		for ok := it.First(); ok; ok = it.Next() {
		}
		it.First()
		allocs := testing.AllocsPerRun(1000, func() {
			if !it.Next() {
				it.First()
			}
		})
		require.Zero(t, allocs, "%+v", opts)
		require.NoError(t, it.Close())
	}
}
