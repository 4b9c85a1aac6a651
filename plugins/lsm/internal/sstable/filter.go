package sstable

import "encoding/binary"

// The filter block is a blocked Bloom filter over the table's distinct user
// keys: each key sets and probes bits of a single 64-byte line, so a lookup
// costs one cache miss however many probes it makes.
//
//	bits    lines*64 bytes; bit j of a line is bit j%8 of its byte j/8
//	probes  1 byte, 1..30
//	hash    1 byte, filterHashXXH64: the hash and probe scheme below
//	lines   uint32 LE, >= 1
//
// For a key with h = XXH64(key, seed 0):
//
//	line = (h>>32) * lines >> 32        (the high half picks the line)
//	a_0  = uint32(h)                    (the low half places the bits)
//	a_j  = a_(j-1) * 0x9E3779B9 mod 2^32
//	probe j, for j in [0, probes): bit a_j >> 23 of the line (its top 9 bits)
//
// Double hashing (a + j*delta mod 512) was the first design; inside a
// 512-bit line its arithmetic progressions overlap between keys that share
// a delta, which at 20 bits per key made false positives 7 times the
// ideal. Remixing by multiplication, as RocksDB's FastLocalBloom does,
// stays within 10% of the ideal blocked filter (see TestFilter).
const (
	filterLineBytes  = 64
	filterLineBits   = filterLineBytes * 8
	filterTrailerLen = 6
	filterHashXXH64  = 1
	// filterRemix is 2^32 divided by the golden ratio: odd, so each
	// multiplication permutes uint32, and its bits are well spread.
	filterRemix     = 0x9E3779B9
	maxFilterProbes = 30
	// MaxBloomBitsPerKey bounds WriterOptions.BloomBitsPerKey: beyond it
	// the false-positive rate no longer improves measurably.
	MaxBloomBitsPerKey = 64
)

// filterProbes returns the probe count for bitsPerKey. ln 2 * bits per key
// is optimal for a classic Bloom filter; rounding down suits the blocked
// variant, whose lines fill unevenly, and saves a probe.
func filterProbes(bitsPerKey int) int {
	return min(max(bitsPerKey*69/100, 1), maxFilterProbes)
}

// filterLine returns the line a hash selects among n lines.
func filterLine(h uint64, n uint32) uint32 {
	return uint32((h >> 32) * uint64(n) >> 32)
}

// buildFilter appends to dst the filter block for the key hashes.
func buildFilter(dst []byte, hashes []uint64, bitsPerKey int) []byte {
	lines := (len(hashes)*bitsPerKey + filterLineBits - 1) / filterLineBits
	lines = max(lines, 1)
	probes := filterProbes(bitsPerKey)
	start := len(dst)
	dst = append(dst, make([]byte, lines*filterLineBytes)...)
	bits := dst[start:]
	for _, h := range hashes {
		line := bits[int(filterLine(h, uint32(lines)))*filterLineBytes:][:filterLineBytes]
		a := uint32(h)
		for range probes {
			b := a >> 23
			line[b>>3] |= 1 << (b & 7)
			a *= filterRemix
		}
	}
	dst = append(dst, byte(probes), filterHashXXH64)
	return binary.LittleEndian.AppendUint32(dst, uint32(lines))
}

// filter is a decoded filter block.
type filter struct {
	bits   []byte
	lines  uint32
	probes int
}

// decodeFilter checks a filter block, returning a reason when it is
// malformed.
func decodeFilter(b []byte) (filter, string) {
	if len(b) < filterTrailerLen {
		return filter{}, "filter block shorter than its trailer"
	}
	t := b[len(b)-filterTrailerLen:]
	probes, hash, lines := int(t[0]), t[1], binary.LittleEndian.Uint32(t[2:])
	switch {
	case hash != filterHashXXH64:
		return filter{}, "unknown filter hash"
	case probes < 1 || probes > maxFilterProbes:
		return filter{}, "filter probe count out of range"
	case lines == 0 || uint64(lines)*filterLineBytes != uint64(len(b)-filterTrailerLen):
		return filter{}, "filter line count does not match its size"
	}
	return filter{bits: b[: len(b)-filterTrailerLen : len(b)-filterTrailerLen], lines: lines, probes: probes}, ""
}

// mayContain reports whether a key with hash h may be in the set; false is
// certain.
func (f *filter) mayContain(h uint64) bool {
	line := f.bits[int(filterLine(h, f.lines))*filterLineBytes:][:filterLineBytes]
	a := uint32(h)
	for range f.probes {
		b := a >> 23
		if line[b>>3]&(1<<(b&7)) == 0 {
			return false
		}
		a *= filterRemix
	}
	return true
}
