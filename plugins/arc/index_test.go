package arc

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// TestIndexModel runs random inserts, removes and finds on an index and on
// a map. Hashes are drawn from a few bits, so probe runs collide, wrap
// around the table's end and are cut by removals; the table grows and
// shrinks on the way. After every step each key of the map is found with
// its entry, a removed key is not, and check() holds.
func TestIndexModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		hashBits := rapid.UintRange(0, 8).Draw(rt, "hashBits")
		var x index
		model := map[interfaces.CacheKey]*entry{}
		hashOf := func(k interfaces.CacheKey) uint64 {
			// The high bits vary so that only the low ones, which the
			// table uses, collide.
			return (hashKey(k) & (1<<hashBits - 1)) | hashKey(k)<<32
		}
		keys := rapid.IntRange(1, 300).Draw(rt, "keys")
		n := rapid.IntRange(1, 600).Draw(rt, "steps")
		for step := range n {
			// The zero key is a valid key and looks like an empty slot's.
			k := interfaces.CacheKey{Offset: uint64(rapid.IntRange(0, keys-1).Draw(rt, "key"))}
			h := hashOf(k)
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0, 1:
				if model[k] == nil {
					e := &entry{key: k, value: []byte{byte(step)}, list: listT1}
					sl := x.insert(k, h, e)
					sl.value, sl.resident = e.value, true
					model[k] = e
				}
			default:
				x.remove(k, h)
				delete(model, k)
			}
			require.NoError(rt, x.check(), "step %d", step)
			require.Equal(rt, len(model), x.n)
			require.LessOrEqual(rt, len(x.slots), max(minIndexSlots, 16*x.n+16), "step %d: the table did not shrink", step)
			for j := range keys {
				k := interfaces.CacheKey{Offset: uint64(j)}
				sl := x.find(k, hashOf(k))
				if e := model[k]; e == nil {
					require.Nil(rt, sl, "step %d: removed key %d found", step, j)
				} else {
					require.NotNil(rt, sl, "step %d: key %d lost", step, j)
					require.Same(rt, e, sl.e)
					require.Equal(rt, e.value, sl.value)
				}
			}
		}
	})
}

// TestIndexSlotSize: a slot is one cache line, which is what lets a hit
// read a single line.
func TestIndexSlotSize(t *testing.T) {
	var s slot
	require.Equal(t, 64, int(unsafe.Sizeof(s)))
}
