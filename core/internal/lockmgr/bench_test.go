package lockmgr

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func benchKeys(prefix string, n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "%s/user/%08d", prefix, i)
	}
	return keys
}

// BenchmarkLockUnlockAll is the uncontended path: one transaction locks n
// free keys and releases them. One op is the whole transaction.
func BenchmarkLockUnlockAll(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			m := New()
			keys := benchKeys("k", n)
			ctx := context.Background()
			b.ReportAllocs()
			txn := TxnID(0)
			for b.Loop() {
				txn++
				for _, k := range keys {
					if err := m.Lock(ctx, txn, k, 0); err != nil {
						b.Fatal(err)
					}
				}
				m.UnlockAll(txn)
			}
		})
	}
}

// BenchmarkReentry is a transaction locking a key it already holds.
func BenchmarkReentry(b *testing.B) {
	m := New()
	key := []byte("k/user/00000001")
	ctx := context.Background()
	if err := m.Lock(ctx, 1, key, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Lock(ctx, 1, key, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParallel runs two goroutines, each one transaction at a time.
// With disjoint keys they share only shard mutexes whose keys happen to
// hash together; with one shared key every transaction waits for the other
// goroutine's, which measures the queue, the graph check and the handoff.
func BenchmarkParallel(b *testing.B) {
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"disjoint-keys", false}, {"one-shared-key", true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := New()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Go(func() {
					prefix := fmt.Sprint(g)
					if tc.shared {
						prefix = "shared"
					}
					key := benchKeys(prefix, 1)[0]
					txn := TxnID(g) << 40
					for range b.N / 2 {
						txn++
						if err := m.Lock(ctx, txn, key, 0); err != nil {
							b.Error(err)
							return
						}
						m.UnlockAll(txn)
					}
				})
			}
			wg.Wait()
		})
	}
}
