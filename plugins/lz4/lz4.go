package lz4

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/pierrec/lz4/v4"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the codec's name, as Describe reports it.
const Name = "lz4"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// maxExpansion bounds the decoded size per block byte: a match length
// extension byte adds at most 255 bytes of output.
const maxExpansion = 255

// Codec is the LZ4 codec. Make one with New; a Codec must not be copied
// after first use.
type Codec struct {
	// compressors holds *lz4.Compressor values. A compressor is not safe
	// for concurrent use, so each Encode takes one for its duration.
	compressors sync.Pool
}

var _ interfaces.Codec = (*Codec)(nil)

// New returns an LZ4 codec.
func New() *Codec {
	return &Codec{compressors: sync.Pool{New: func() any { return new(lz4.Compressor) }}}
}

// Module provides the LZ4 codec to an fx application, in the "codecs"
// value group that every linked-in codec joins.
var Module = fx.Module("lightning-lz4",
	fx.Provide(
		fx.Annotate(
			New,
			fx.ResultTags(`group:"codecs"`),
			fx.As(new(interfaces.Codec)),
		),
	),
)

// Describe returns the codec's self-description.
func (*Codec) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindCodec,
		Name:            Name,
		Version:         Version,
		ContractVersion: interfaces.CodecContractVersion,
	}
}

// ID returns interfaces.CodecLZ4.
func (*Codec) ID() interfaces.CodecID { return interfaces.CodecLZ4 }

// Encode appends the encoding of src (see the package documentation) to
// dst. It allocates only when dst lacks room for the worst case, about
// len(src)*1.004 + 26 bytes. It returns an error matching
// interfaces.ErrInvalidArgument when src is longer than
// interfaces.MaxDecodedLen.
func (c *Codec) Encode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/lz4: encode %d bytes, more than the %d-byte limit: %w",
			len(src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument)
	}
	bound := lz4.CompressBlockBound(len(src))
	dst = slices.Grow(dst, binary.MaxVarintLen64+bound)
	start := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	if len(src) == 0 {
		return dst, nil
	}
	comp := c.compressors.Get().(*lz4.Compressor)
	// With a destination of CompressBlockBound bytes the compressor always
	// produces a block, falling back to one literal run.
	n, err := comp.CompressBlock(src, dst[len(dst):len(dst)+bound])
	c.compressors.Put(comp)
	if err != nil {
		return dst[:start], fmt.Errorf("lightning/lz4: compress %d bytes: %w", len(src), err)
	}
	if n <= 0 {
		return dst[:start], fmt.Errorf("lightning/lz4: compress %d bytes: no block produced", len(src))
	}
	return dst[:len(dst)+n], nil
}

// Decode appends the decoding of src to dst. Input that is not a canonical
// length header followed by an LZ4 block of exactly that decoded length,
// or that declares more than interfaces.MaxDecodedLen bytes or more than
// its block can produce, returns an error matching interfaces.ErrCorrupt;
// dst is then returned unextended.
func (*Codec) Decode(dst, src []byte) ([]byte, error) {
	n, hdr := binary.Uvarint(src)
	if hdr <= 0 {
		return dst, corruptf("bad length header")
	}
	// A non-canonical uvarint (padded with 0x80 bytes) is not something
	// Encode writes.
	if hdr != uvarintLen(n) {
		return dst, corruptf("non-canonical length header")
	}
	block := src[hdr:]
	switch {
	case n > interfaces.MaxDecodedLen:
		return dst, corruptf("decoded length %d exceeds the %d-byte limit", n, interfaces.MaxDecodedLen)
	case n > uint64(len(block))*maxExpansion:
		return dst, corruptf("decoded length %d is more than a %d-byte block can encode", n, len(block))
	case n == 0:
		// Encode writes no block for empty input; checked here because
		// the library decodes an empty block without complaint.
		if len(block) != 0 {
			return dst, corruptf("%d trailing bytes after an empty block", len(block))
		}
		return dst, nil
	}
	size := int(n)
	dst = slices.Grow(dst, size)
	got, err := lz4.UncompressBlock(block, dst[len(dst):len(dst)+size])
	if err != nil {
		return dst, fmt.Errorf("lightning/lz4: %w: %w", interfaces.ErrCorrupt, err)
	}
	if got != size {
		return dst, corruptf("block decoded to %d bytes, header says %d", got, size)
	}
	return dst[:len(dst)+size], nil
}

// uvarintLen returns the length of the canonical uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("lightning/lz4: %w: "+format, append([]any{interfaces.ErrCorrupt}, args...)...)
}
