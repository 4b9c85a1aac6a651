package aesgcm_test

import (
	"fmt"
	"testing"

	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// BenchmarkSeal and BenchmarkOpen measure the envelope on block sizes the
// engines use: a small WAL record, a 4 KiB block or page, a 64 KiB block.
func BenchmarkSeal(b *testing.B) {
	c, err := aesgcm.Open(aesgcm.Options{FS: vfs.NewMem(), Path: "KEYS", Master: aesgcm.StaticKey(testKey(1))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ad := blockAD(12, 4096)
	for _, n := range []int{128, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			p := make([]byte, n)
			dst := make([]byte, 0, n+aesgcm.Overhead)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Seal(dst[:0], p, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	c, err := aesgcm.Open(aesgcm.Options{FS: vfs.NewMem(), Path: "KEYS", Master: aesgcm.StaticKey(testKey(1))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ad := blockAD(12, 4096)
	for _, n := range []int{128, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			sealed, err := c.Seal(nil, make([]byte, n), ad)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Open(dst[:0], sealed, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealParallel measures the ticket counter under contention.
func BenchmarkSealParallel(b *testing.B) {
	c, err := aesgcm.Open(aesgcm.Options{FS: vfs.NewMem(), Path: "KEYS", Master: aesgcm.StaticKey(testKey(1))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(128)
	b.RunParallel(func(pb *testing.PB) {
		p, dst := make([]byte, 128), make([]byte, 0, 256)
		for pb.Next() {
			if _, err := c.Seal(dst[:0], p, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
