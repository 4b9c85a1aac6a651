package lsm

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
)

// TestInsertOrder checks insertOrder against a plain sort by internal key
// (user key ascending, ts descending) on batches built to defeat its
// 16-byte prefix shortcut: keys shorter than 8 and 16 bytes, keys equal in
// their first 8 or 16 bytes, a key and its zero-extended twin, the empty
// key, and one key at several ts.
func TestInsertOrder(t *testing.T) {
	pools := map[string][]string{
		"short":         {"", "a", "a\x00", "a\x00\x00", "ab", "b", "\x00", "\xff"},
		"shared prefix": {"prefix00", "prefix00a", "prefix00\x00", "prefix00b\x00", "prefix01", "prefix0", "prefix00\xff"},
		"shared 16":     {"0000000000000001", "0000000000000002", "00000000000000010", "0000000000000001\x00", "000000000000000", "0000000000000000", "00000000\xff"},
		"mixed":         {"", "k", "key-0001", "key-0001-x", "key-0002", "key-00", "\xff\xff\xff\xff\xff\xff\xff\xff\x00", "\xff\xff\xff\xff\xff\xff\xff\xff"},
	}
	for name, pool := range pools {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(pool))))
			e := &Engine{}
			for round := 0; round < 50; round++ {
				n := sortedInsertMin + rng.IntN(200)
				entries := make([]interfaces.Entry, n)
				for i := range entries {
					entries[i] = interfaces.Entry{Key: []byte(pool[rng.IntN(len(pool))]), Ts: 1 + rng.Uint64N(4)}
				}
				order := e.insertOrder(entries)
				want := make([]int32, n)
				for i := range want {
					want[i] = int32(i)
				}
				cmp := func(a, b int32) int {
					if c := bytes.Compare(entries[a].Key, entries[b].Key); c != 0 {
						return c
					}
					return cmpTsDesc(entries[a].Ts, entries[b].Ts)
				}
				slices.SortStableFunc(want, cmp)
				if order == nil {
					require.True(t, slices.IsSortedFunc(want, func(a, b int32) int { return int(a - b) }), "nil order for an unsorted batch")
					continue
				}
				require.Len(t, order, n)
				for i := 1; i < n; i++ {
					require.LessOrEqual(t, cmp(order[i-1], order[i]), 0, "round %d: %q@%d before %q@%d", round,
						entries[order[i-1]].Key, entries[order[i-1]].Ts, entries[order[i]].Key, entries[order[i]].Ts)
				}
				seen := make([]bool, n)
				for _, i := range order {
					require.False(t, seen[i], "index %d twice", i)
					seen[i] = true
				}
			}
		})
	}
}
