package wal

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/vfs"
)

// Benchmarks run on the operating system's file system (in a temporary
// directory), whose writes do not allocate, so allocs/op are the log's.

func BenchmarkWriteGroup(b *testing.B) {
	for _, tc := range []struct {
		name   string
		n      int
		size   int
		sync   bool
		cipher bool
		codec  interfaces.Codec
	}{
		{name: "16x128B", n: 16, size: 128},
		{name: "1x128KiB", n: 1, size: 128 << 10},
		{name: "16x128B/sealed", n: 16, size: 128, cipher: true},
		{name: "1x128KiB/snappy", n: 1, size: 128 << 10, codec: snappy.New()},
		{name: "16x128B/sync", n: 16, size: 128, sync: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := Options{FS: vfs.Default, Dir: filepath.Join(b.TempDir(), "wal"), Codec: tc.codec}
			if tc.cipher {
				opts.Cipher = newGCMCipher(1)
			}
			l, _, _ := openReplay(b, opts, 0)
			defer l.Close()
			g := makeGroup(1, tc.n, func() int { return tc.size })
			if tc.codec != nil {
				// Half compressible, like typical values.
				for i := range g {
					for j := range g[i].Payload[:tc.size/2] {
						g[i].Payload[j] = byte(j / 64)
					}
				}
			}
			ts := uint64(1)
			b.SetBytes(int64(tc.n * tc.size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range g {
					g[i].Ts = ts
					ts++
				}
				if err := l.WriteGroup(g); err != nil {
					b.Fatal(err)
				}
				if tc.sync {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkReplay(b *testing.B) {
	for _, size := range []int{128, 4 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			opts := Options{FS: vfs.Default, Dir: filepath.Join(b.TempDir(), "wal"), SegmentSize: 16 << 20}
			l, _, _ := openReplay(b, opts, 0)
			const total = 64 << 20
			ts := uint64(1)
			for written := 0; written < total; written += 16 * size {
				g := makeGroup(ts, 16, func() int { return size })
				ts += 16
				if err := l.WriteGroup(g); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l, err := Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				var n int
				if _, err := l.Replay(0, Strict, func(uint64, []byte) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if n != int(ts-1) {
					b.Fatalf("replayed %d records, want %d", n, ts-1)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
