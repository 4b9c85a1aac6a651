package lightning_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

// The encrypted-versus-plain benchmarks, db_bench style, through
// lightning.Open on every engine: fillrandom puts 16-byte random keys
// with 100-byte values (half compressible, as db_bench writes them);
// readrandom gets random keys of a 100,000-key database whose data is in
// the engine's files (flushed and compacted), with the default 64 MiB block cache and
// with a 1 MiB one, which misses and so opens blocks from disk. Compare
// the plain and aesgcm sub-benchmarks of one name, e.g. with benchstat:
//
//	go test -run '^$' -bench 'FillRandom|ReadRandom' -count 6 . | tee out.txt
//
// SyncNone throughout: an fsync per commit would hide the cipher's cost.

// benchEncryptions are the two sides of every comparison.
var benchEncryptions = []struct {
	name string
	opts func() []lightning.Option
}{
	{"plain", func() []lightning.Option { return nil }},
	{"aesgcm", func() []lightning.Option {
		return []lightning.Option{lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1)))}
	}},
}

const (
	benchKeyLen   = 16
	benchValueLen = 100
	benchReadKeys = 100_000
)

// benchValue is a db_bench-like value: half random bytes, half zeros.
func benchValue(r *rand.Rand) []byte {
	v := make([]byte, benchValueLen)
	for i := 0; i < benchValueLen/2; i += 8 {
		binary.LittleEndian.PutUint64(v[i:], r.Uint64())
	}
	return v
}

// benchKey is key i of the readrandom database: a hash of i, so keys
// arrive in random order.
func benchKey(dst []byte, i uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], i*0x9e3779b97f4a7c15)
	return binary.BigEndian.AppendUint64(dst, i)
}

func openBench(b *testing.B, engine string, extra ...lightning.Option) *lightning.DB {
	b.Helper()
	opts := append([]lightning.Option{lightning.WithEngine(engine), lightning.WithSync(lightning.SyncNone)}, extra...)
	db, err := lightning.Open(b.TempDir(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkFillRandom(b *testing.B) {
	for _, engine := range lightning.Engines() {
		for _, enc := range benchEncryptions {
			b.Run(engine+"/"+enc.name, func(b *testing.B) {
				db := openBench(b, engine, enc.opts()...)
				defer func() {
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
				}()
				r := rand.New(rand.NewPCG(1, 2))
				value := benchValue(r)
				key := make([]byte, benchKeyLen)
				b.SetBytes(benchKeyLen + benchValueLen)
				b.ReportAllocs()
				for b.Loop() {
					binary.LittleEndian.PutUint64(key, r.Uint64())
					binary.LittleEndian.PutUint64(key[8:], r.Uint64())
					if err := db.Put(key, value); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkReadRandom(b *testing.B) {
	for _, engine := range lightning.Engines() {
		for _, cache := range []struct {
			name string
			size int64
		}{{"cache64MiB", lightning.DefaultCacheSize}, {"cache1MiB", 1 << 20}} {
			for _, enc := range benchEncryptions {
				b.Run(fmt.Sprintf("%s/%s/%s", engine, cache.name, enc.name), func(b *testing.B) {
					db := openBench(b, engine, append(enc.opts(), lightning.WithCacheSize(cache.size))...)
					defer func() {
						if err := db.Close(); err != nil {
							b.Fatal(err)
						}
					}()
					r := rand.New(rand.NewPCG(3, 4))
					key := make([]byte, 0, benchKeyLen)
					for i := uint64(0); i < benchReadKeys; {
						batch := db.NewBatch()
						for end := i + 1000; i < end; i++ {
							if err := batch.Put(benchKey(key, i), benchValue(r)); err != nil {
								b.Fatal(err)
							}
						}
						if err := db.Apply(batch); err != nil {
							b.Fatal(err)
						}
					}
					if err := db.Flush(); err != nil {
						b.Fatal(err)
					}
					// Settle the LSM's levels so no compaction runs while
					// reads are timed.
					if err := db.Compact(nil, nil); err != nil && !errors.Is(err, interfaces.ErrUnsupported) {
						b.Fatal(err)
					}
					b.SetBytes(benchKeyLen + benchValueLen)
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if _, err := db.Get(benchKey(key, r.Uint64N(benchReadKeys))); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
