package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// YCSBTheta is YCSB's default Zipfian constant (ZipfianGenerator.ZIPFIAN_CONSTANT).
const YCSBTheta = 0.99

// Zipfian draws ranks in [0, n) with P(rank k) proportional to 1/(k+1)^theta,
// using the algorithm of Gray et al., "Quickly Generating Billion-Record
// Synthetic Databases" (SIGMOD 1994), exactly as YCSB's ZipfianGenerator does:
// rank 0 is the most popular. The item count may grow (YCSB D and E insert):
// NextN extends the zeta sum incrementally, O(1) per inserted item.
//
// A Zipfian is not safe for concurrent use: give each worker its own.
type Zipfian struct {
	theta, alpha, zeta2 float64
	n                   uint64
	zetan, eta          float64
	rng                 *rand.Rand
}

// NewZipfian returns a Zipfian over [0, n) with constant theta (0 < theta < 1)
// drawing from rng.
func NewZipfian(n uint64, theta float64, rng *rand.Rand) (*Zipfian, error) {
	if n == 0 {
		return nil, fmt.Errorf("bench: zipfian over zero items")
	}
	if theta <= 0 || theta >= 1 {
		return nil, fmt.Errorf("bench: zipfian theta %v out of range (0, 1)", theta)
	}
	z := &Zipfian{theta: theta, alpha: 1 / (1 - theta), rng: rng}
	z.zeta2 = zetaRange(0, 2, theta)
	z.n = n
	z.zetan = zetaRange(0, n, theta)
	z.eta = z.etaFor(n)
	return z, nil
}

// zetaRange returns sum over i in (from, to] of 1/i^theta.
func zetaRange(from, to uint64, theta float64) float64 {
	var sum float64
	for i := from + 1; i <= to; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

func (z *Zipfian) etaFor(n uint64) float64 {
	return (1 - math.Pow(2/float64(n), 1-z.theta)) / (1 - z.zeta2/z.zetan)
}

// N returns the current item count.
func (z *Zipfian) N() uint64 { return z.n }

// Next returns a rank in [0, N()).
func (z *Zipfian) Next() uint64 {
	u := z.rng.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return 1
	}
	r := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if r >= z.n { // guard the float edge at u → 1
		r = z.n - 1
	}
	return r
}

// NextN grows the item count to n when n is larger (shrinking is ignored, as
// in YCSB) and returns a rank in [0, n).
func (z *Zipfian) NextN(n uint64) uint64 {
	if n > z.n {
		z.zetan += zetaRange(z.n, n, z.theta)
		z.n = n
		z.eta = z.etaFor(n)
	}
	return z.Next()
}

// ScrambledZipfian is YCSB's "zipfian" request distribution: a Zipfian rank
// hashed (FNV-1a 64) onto [0, n), so the popular items are spread over the key
// space instead of clustering at its start.
type ScrambledZipfian struct {
	z *Zipfian
	n uint64
}

// NewScrambledZipfian returns a ScrambledZipfian over [0, n).
func NewScrambledZipfian(n uint64, theta float64, rng *rand.Rand) (*ScrambledZipfian, error) {
	z, err := NewZipfian(n, theta, rng)
	if err != nil {
		return nil, err
	}
	return &ScrambledZipfian{z: z, n: n}, nil
}

// Next returns an item in [0, n).
func (s *ScrambledZipfian) Next() uint64 { return fnv64(s.z.Next()) % s.n }

// fnv64 is YCSB's Utils.fnvhash64: FNV-1a over the eight bytes of v, low
// byte first, then Java's Math.abs of the signed result, so that the
// scrambled order matches YCSB's for the same ranks.
func fnv64(v uint64) uint64 {
	const offset, prime = 0xcbf29ce484222325, 1099511628211
	h := uint64(offset)
	for range 8 {
		h ^= v & 0xff
		h *= prime
		v >>= 8
	}
	if s := int64(h); s < 0 {
		// Math.abs(Long.MIN_VALUE) is Long.MIN_VALUE; negation in two's
		// complement gives the same bits.
		return uint64(-s)
	}
	return h
}

// Latest is YCSB's "latest" distribution (workload D): the most recently
// inserted item is the most popular, popularity falling off Zipfian with age.
type Latest struct {
	z *Zipfian
}

// NewLatest returns a Latest generator sized for n items; the current item
// count is passed per draw and may grow. Sizing it up front keeps the zeta
// sum, O(n) once, out of the timed loop.
func NewLatest(n uint64, theta float64, rng *rand.Rand) (*Latest, error) {
	z, err := NewZipfian(max(n, 1), theta, rng)
	if err != nil {
		return nil, err
	}
	return &Latest{z: z}, nil
}

// Next returns an item in [0, count) given that count items exist now,
// item count-1 being the newest.
func (l *Latest) Next(count uint64) uint64 {
	if count == 0 {
		return 0
	}
	return count - 1 - l.z.NextN(count)
}
