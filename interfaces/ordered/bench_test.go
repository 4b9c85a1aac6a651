package ordered

import (
	"fmt"
	"testing"

	"github.com/lightningdb/lightning/interfaces"
)

// benchStorage returns a Storage over a MemStore holding n keys with
// versions versions each.
func benchStorage(b *testing.B, n, versions int) *Storage {
	b.Helper()
	s, err := New(NewMemStore(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ts := uint64(0)
	for range versions {
		ts++
		e := make([]interfaces.Entry, 0, n)
		for i := range n {
			e = append(e, setE(fmt.Sprintf("key%08d", i), ts, "value-of-some-length"))
		}
		if err := s.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkApply(b *testing.B) {
	s, err := New(NewMemStore(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const group = 16
	e := make([]interfaces.Entry, group)
	ts := uint64(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range e {
			ts++
			e[j] = setE(fmt.Sprintf("key%08d", (i*group+j)%100000), ts, "value-of-some-length")
		}
		if err := s.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*group)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkGet(b *testing.B) {
	s := benchStorage(b, 100000, 3)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%08d", i*97)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Get(keys[i%len(keys)], 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIterate(b *testing.B) {
	s := benchStorage(b, 100000, 3)
	for _, opts := range []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs},
		{ReadTs: 2},
		{ReadTs: interfaces.MaxTs, Reverse: true},
		{ReadTs: interfaces.MaxTs, AllVersions: true},
	} {
		b.Run(fmt.Sprintf("reverse=%v/all=%v/readTs=%d", opts.Reverse, opts.AllVersions, min(opts.ReadTs, 9)), func(b *testing.B) {
			it, err := s.NewIterator(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer it.Close()
			it.First()
			b.ReportAllocs()
			for b.Loop() {
				if !it.Next() {
					it.First()
				}
			}
		})
	}
}
