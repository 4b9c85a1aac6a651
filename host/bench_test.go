package host_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
)

// The benchmarks compare the memory engine in-process with the same engine
// behind the plugin protocol (cmd/plugins/lightning-memory), per operation:
// Get, a single-entry Apply, a 1,000-entry Apply, a scan of 10,000 keys
// forward and in reverse, and a 100-key range scan after a Seek. Keys are
// 16 bytes, values 100.
//
//	go test -run '^$' -bench . ./host/

func benchStorages(b *testing.B, fn func(b *testing.B, s interfaces.Storage)) {
	b.Run("in-process", func(b *testing.B) {
		s, err := memory.New(memory.Options{Dir: b.TempDir()}, memory.Deps{})
		require.NoError(b, err)
		defer s.Close()
		fn(b, s)
	})
	b.Run("plugin", func(b *testing.B) {
		s, err := host.OpenStoragePlugin(binary(b, "cmd/plugins/lightning-memory"), b.TempDir(), host.PluginOptions{})
		require.NoError(b, err)
		defer s.Close()
		fn(b, s)
	})
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key-%012d", i) }

var benchValue = make([]byte, 100)

// load applies n keys at ts 1..n in batches of 1,000.
func load(b *testing.B, s interfaces.Storage, n int) {
	batch := make([]interfaces.Entry, 0, 1000)
	for i := range n {
		batch = append(batch, interfaces.Entry{Key: benchKey(i), Ts: uint64(i + 1), Kind: interfaces.KindSet, Value: benchValue})
		if len(batch) == cap(batch) || i == n-1 {
			require.NoError(b, s.Apply(batch))
			batch = batch[:0]
		}
	}
}

func BenchmarkGet(b *testing.B) {
	benchStorages(b, func(b *testing.B, s interfaces.Storage) {
		const n = 10_000
		load(b, s, n)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, _, err := s.Get(benchKey((i*7919)%n), interfaces.MaxTs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApply1(b *testing.B) {
	benchStorages(b, func(b *testing.B, s interfaces.Storage) {
		e := []interfaces.Entry{{Kind: interfaces.KindSet, Value: benchValue}}
		for i := 0; b.Loop(); i++ {
			e[0].Key, e[0].Ts = benchKey(i), uint64(i+1)
			if err := s.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApply1000(b *testing.B) {
	benchStorages(b, func(b *testing.B, s interfaces.Storage) {
		batch := make([]interfaces.Entry, 1000)
		ts := uint64(0)
		for i := 0; b.Loop(); i++ {
			for j := range batch {
				ts++
				batch[j] = interfaces.Entry{Key: benchKey(int(ts)), Ts: ts, Kind: interfaces.KindSet, Value: benchValue}
			}
			if err := s.Apply(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "entries/s")
	})
}

// scan reads the iterator from First or, with from set, from Seek(from),
// for at most limit versions (0: to the end), and returns how many it read.
func scan(b *testing.B, s interfaces.Storage, opts interfaces.IterOptions, from []byte, limit int) int {
	it, err := s.NewIterator(opts)
	if err != nil {
		b.Fatal(err)
	}
	var ok bool
	if from == nil {
		ok = it.First()
	} else {
		ok = it.Seek(from)
	}
	got := 0
	for ; ok; ok = it.Next() {
		got++
		if got == limit {
			break
		}
	}
	if err := it.Close(); err != nil {
		b.Fatal(err)
	}
	return got
}

// BenchmarkScan10k reads all 10,000 keys, forward and in reverse.
func BenchmarkScan10k(b *testing.B) {
	for _, dir := range []struct {
		name    string
		reverse bool
	}{{"forward", false}, {"reverse", true}} {
		b.Run(dir.name, func(b *testing.B) {
			benchStorages(b, func(b *testing.B, s interfaces.Storage) {
				const n = 10_000
				load(b, s, n)
				opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: dir.reverse}
				b.ResetTimer()
				for b.Loop() {
					if got := scan(b, s, opts, nil, 0); got != n {
						b.Fatalf("scanned %d keys of %d", got, n)
					}
				}
				b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "keys/s")
			})
		})
	}
}

// BenchmarkScan100 opens an iterator, seeks to a key and reads 100 keys
// from it: the short range scan, where round trips weigh more than bytes.
func BenchmarkScan100(b *testing.B) {
	benchStorages(b, func(b *testing.B, s interfaces.Storage) {
		const n, span = 10_000, 100
		load(b, s, n)
		opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs}
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if got := scan(b, s, opts, benchKey((i*7919)%(n-span)), span); got != span {
				b.Fatalf("scanned %d keys of %d", got, span)
			}
		}
		b.ReportMetric(float64(b.N)*span/b.Elapsed().Seconds(), "keys/s")
	})
}
