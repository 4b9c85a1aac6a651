package btree

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// BenchmarkMemtableInsert inserts random 16-byte keys, 1,000 a batch, as
// Apply does: in arrival order, or sorted with a finger.
func BenchmarkMemtableInsert(b *testing.B) {
	for _, sorted := range []bool{false, true} {
		name := "arrival-order"
		if sorted {
			name = "sorted-finger"
		}
		b.Run(name, func(b *testing.B) {
			m := newMemtable()
			value := make([]byte, 100)
			keys := make([][]byte, 1000)
			for i := range keys {
				keys[i] = make([]byte, 16)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += 1000 {
				if i > 0 && i%300_000 == 0 {
					m = newMemtable() // a flush
				}
				n := min(1000, b.N-i)
				for j := range n {
					binary.BigEndian.PutUint64(keys[j], uint64(i+j)*0x9e3779b97f4a7c15)
					binary.BigEndian.PutUint64(keys[j][8:], uint64(i+j))
				}
				batch := keys[:n]
				if sorted {
					slices.SortFunc(batch, func(a, b []byte) int { return page.Compare(a, 1, b, 1) })
					var f finger
					for _, k := range batch {
						m.insert(k, uint64(i+1), interfaces.KindSet, value, &f)
					}
				} else {
					for _, k := range batch {
						m.insert(k, uint64(i+1), interfaces.KindSet, value, nil)
					}
				}
			}
		})
	}
}
