package bench

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// MinKeySize is the smallest key size the harness supports: keys carry the
// record index in decimal, and 1e12 records need 12 digits plus headroom.
const MinKeySize = 16

// KeyGen turns a record index into its key. Keys are the index in decimal,
// zero-padded to the key size (LevelDB db_bench's "%016d"), so keys sort in
// index order: fillseq writes ascending keys, and a YCSB insert (index N, N+1,
// ...) lands after every loaded key, like YCSB with orderedinserts.
//
// A KeyGen is a value; Key and AppendKey are safe for concurrent use.
type KeyGen struct {
	size int
}

// NewKeyGen returns a generator of keys of exactly size bytes. It returns an
// error when size is below MinKeySize.
func NewKeyGen(size int) (KeyGen, error) {
	if size < MinKeySize {
		return KeyGen{}, fmt.Errorf("bench: key size %d is below the minimum %d", size, MinKeySize)
	}
	return KeyGen{size: size}, nil
}

// Size returns the key size in bytes.
func (g KeyGen) Size() int { return g.size }

// AppendKey appends the key of record i to dst and returns the result.
func (g KeyGen) AppendKey(dst []byte, i uint64) []byte {
	start := len(dst)
	for range g.size {
		dst = append(dst, '0')
	}
	// Write the digits right to left; the zero padding stays on the left.
	for p := len(dst) - 1; p >= start && i > 0; p-- {
		dst[p] = byte('0' + i%10)
		i /= 10
	}
	return dst
}

// Key returns a new slice holding the key of record i.
func (g KeyGen) Key(i uint64) []byte { return g.AppendKey(make([]byte, 0, g.size), i) }

// Permutation is a seeded bijection of [0, n) onto itself, computed on the
// fly by a four-round Feistel network with cycle walking. It costs O(1)
// memory, so a 1M-key random order does not add a 4-MB table to the RSS that
// the harness attributes to an engine, and the same (n, seed) gives the same
// order in every process.
type Permutation struct {
	n        uint64
	halfBits uint
	mask     uint64
	keys     [4]uint64
}

// NewPermutation returns the permutation of [0, n) for seed.
func NewPermutation(n, seed uint64) Permutation {
	p := Permutation{n: n}
	// The Feistel domain is 2^(2*halfBits) >= n; cycle walking maps the
	// outputs that fall outside [0, n) back in, at most a factor-4 blow-up.
	total := uint(bits.Len64(n))
	if total < 2 {
		total = 2
	}
	p.halfBits = (total + 1) / 2
	p.mask = 1<<p.halfBits - 1
	r := rand.New(rand.NewPCG(seed, 0x6c69676874))
	for i := range p.keys {
		p.keys[i] = r.Uint64()
	}
	return p
}

// Len returns n.
func (p Permutation) Len() uint64 { return p.n }

// At returns the i-th element of the permutation; i must be below n.
func (p Permutation) At(i uint64) uint64 {
	if p.n <= 1 {
		return 0
	}
	x := i
	for {
		x = p.feistel(x)
		if x < p.n {
			return x
		}
	}
}

func (p Permutation) feistel(x uint64) uint64 {
	l, r := x>>p.halfBits, x&p.mask
	for _, k := range p.keys {
		l, r = r, l^(mix64(r^k)&p.mask)
	}
	return l<<p.halfBits | r
}

// mix64 is the SplitMix64 finaliser: a cheap, well-distributed round
// function for the Feistel network.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// NewRand returns the harness's deterministic random source for one stream.
// Workers derive their stream from the config seed and their own index, so
// two engines given the same seed issue exactly the same operations.
func NewRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, mix64(stream+0x9e3779b97f4a7c15)))
}
