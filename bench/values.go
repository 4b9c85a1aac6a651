package bench

import (
	"fmt"
	"math/rand/v2"
)

// valuePoolSize is the size of the shared pool values are cut from, as in
// LevelDB db_bench's RandomGenerator: large enough that a compressor sees no
// cross-value repetition within a block beyond what each value carries.
const valuePoolSize = 1 << 20

// ValueGen produces values of a fixed size that compress to about the given
// ratio, the way LevelDB's db_bench does: each value-sized piece of the pool
// is a run of random printable bytes (ratio × size of them) repeated to fill
// the piece, so a compressor can remove the repetition but not the rest.
//
// A ValueGen is immutable after NewValueGen; Value is safe for concurrent use.
type ValueGen struct {
	size int
	pool []byte
}

// NewValueGen returns a generator of values of size bytes whose compressed
// size is about ratio × size (0 < ratio <= 1), derived from seed.
func NewValueGen(size int, ratio float64, seed uint64) (*ValueGen, error) {
	if size <= 0 || size > valuePoolSize/4 {
		return nil, fmt.Errorf("bench: value size %d out of range (1..%d)", size, valuePoolSize/4)
	}
	if ratio <= 0 || ratio > 1 {
		return nil, fmt.Errorf("bench: compression ratio %v out of range (0, 1]", ratio)
	}
	r := rand.New(rand.NewPCG(seed, 0x76616c756573))
	pool := make([]byte, 0, valuePoolSize+size)
	for len(pool) < valuePoolSize+size {
		raw := max(1, int(float64(size)*ratio))
		piece := make([]byte, raw)
		for i := range piece {
			piece[i] = byte(' ' + r.IntN(95)) // printable, as db_bench's RandomString
		}
		for n := 0; n < size; n += raw {
			pool = append(pool, piece[:min(raw, size-n)]...)
		}
	}
	return &ValueGen{size: size, pool: pool}, nil
}

// Size returns the value size in bytes.
func (g *ValueGen) Size() int { return g.size }

// Value returns the value for sequence number i. The slice aliases the pool:
// callers must not modify it, and engines copy what they store anyway.
func (g *ValueGen) Value(i uint64) []byte {
	// Stepping by one piece keeps each value aligned on one compressible
	// piece; the pool holds valuePoolSize/size of them.
	pieces := uint64(valuePoolSize / g.size)
	off := (i % pieces) * uint64(g.size)
	return g.pool[off : off+uint64(g.size) : off+uint64(g.size)]
}
