package arc_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
)

// The benchmarks run Get and Set from b.RunParallel, so `-cpu 1,2` gives
// the figures for one and two goroutines. Each runs on one shard and on
// the automatic shard count of a 64 MiB cache (8 on 2 cores).

// benchKeys blocks of 4 KiB fill half of the 64 MiB cache, so that even
// the fullest shard holds all of its keys and every Get of them hits.
const benchKeys = 1 << 13

func benchKey(i uint64) interfaces.CacheKey {
	return interfaces.CacheKey{Namespace: 0x5eed, File: i >> 8, Offset: (i & 0xff) << 12}
}

func benchCaches(b *testing.B, fn func(b *testing.B, c *arc.Cache)) {
	for _, shards := range []int{1, 0} {
		c, err := arc.New(arc.Options{Capacity: 64 << 20, Shards: shards})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("shards=%d", c.Shards()), func(b *testing.B) { fn(b, c) })
		_ = c.Close()
	}
}

// BenchmarkGetHit: every Get hits.
func BenchmarkGetHit(b *testing.B) {
	benchCaches(b, func(b *testing.B, c *arc.Cache) {
		v := make([]byte, 4096)
		for i := range uint64(benchKeys) {
			c.Set(benchKey(i), v, 4096)
		}
		var seed atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(0x9e3779b97f4a7c15)
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				if _, ok := c.Get(benchKey(i >> 51)); !ok {
					b.Error("miss")
					return
				}
			}
		})
	})
}

// BenchmarkGetMiss: every Get misses.
func BenchmarkGetMiss(b *testing.B) {
	benchCaches(b, func(b *testing.B, c *arc.Cache) {
		var seed atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(0x9e3779b97f4a7c15)
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				c.Get(benchKey(i >> 40))
			}
		})
	})
}

// BenchmarkSet: Sets of 4 KiB blocks over 4x more keys than fit, so most
// Sets evict; the ghost hits among them adapt p.
func BenchmarkSet(b *testing.B) {
	benchCaches(b, func(b *testing.B, c *arc.Cache) {
		v := make([]byte, 4096)
		var seed atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(0x9e3779b97f4a7c15)
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				c.Set(benchKey(i>>48), v, 4096)
			}
		})
	})
}

// BenchmarkReadThrough: the engine's pattern — Get, and on a miss Set —
// over a skewed key set twice the cache's size.
func BenchmarkReadThrough(b *testing.B) {
	benchCaches(b, func(b *testing.B, c *arc.Cache) {
		v := make([]byte, 4096)
		var seed atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(0x9e3779b97f4a7c15)
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				// Half the reads on 1/16 of the keys.
				k := i >> 49
				if i>>20&1 == 0 {
					k >>= 4
				}
				key := benchKey(k)
				if _, ok := c.Get(key); !ok {
					c.Set(key, v, 4096)
				}
			}
		})
	})
}

// BenchmarkHotKeys lists the hot keys of one database among 64 sharing a
// cache of 16,384 entries: each call walks every entry, under each shard's
// lock in turn.
func BenchmarkHotKeys(b *testing.B) {
	benchCaches(b, func(b *testing.B, c *arc.Cache) {
		const entries = 1 << 14
		v := make([]byte, 64)
		for i := range uint64(entries) {
			k := benchKey(i)
			k.Namespace = i % 64
			c.Set(k, v, 2048) // half the capacity: no shard overflows
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			keys, err := c.HotKeys(5, entries)
			if err != nil || len(keys) != entries/64 {
				b.Fatalf("%d keys, %v", len(keys), err)
			}
		}
	})
}
