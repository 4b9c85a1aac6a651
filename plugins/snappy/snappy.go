package snappy

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
	ksnappy "github.com/klauspost/compress/snappy"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the codec's name, as Describe reports it.
const Name = "snappy"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// maxExpansionNum / maxExpansionDen bound the decoded size per encoded byte:
// the densest element, a copy with a 2-byte offset, spends 3 bytes on 64
// output bytes.
const (
	maxExpansionNum = 64
	maxExpansionDen = 3
)

// Codec is the Snappy codec. The zero value is ready to use.
type Codec struct{}

var _ interfaces.Codec = (*Codec)(nil)

// New returns the Snappy codec.
func New() *Codec { return &Codec{} }

// Module provides the Snappy codec to an fx application, in the "codecs"
// value group that every linked-in codec joins.
var Module = fx.Module("lightning-snappy",
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

// ID returns interfaces.CodecSnappy.
func (*Codec) ID() interfaces.CodecID { return interfaces.CodecSnappy }

// Encode appends the Snappy block of src to dst. It allocates only when dst
// lacks room for the worst case, s2.MaxEncodedLen(len(src)) bytes. It
// returns an error matching interfaces.ErrInvalidArgument when src is
// longer than interfaces.MaxDecodedLen.
func (*Codec) Encode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/snappy: encode %d bytes, more than the %d-byte limit: %w",
			len(src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument)
	}
	bound := s2.MaxEncodedLen(len(src))
	dst = slices.Grow(dst, bound)
	// EncodeSnappy writes from the start of the slice it is given and uses
	// it in place when its capacity covers bound, which Grow ensured.
	out := s2.EncodeSnappy(dst[len(dst):len(dst)+bound], src)
	return dst[:len(dst)+len(out)], nil
}

// Decode appends the decoding of the Snappy block src to dst. Input that is
// not a whole, standard Snappy block, or that declares more than
// interfaces.MaxDecodedLen bytes or more than its length can encode,
// returns an error matching interfaces.ErrCorrupt; dst is then returned
// unextended.
func (*Codec) Decode(dst, src []byte) ([]byte, error) {
	n, hdr := binary.Uvarint(src)
	switch {
	case hdr <= 0:
		return dst, corruptf("bad length header")
	case n > interfaces.MaxDecodedLen:
		return dst, corruptf("decoded length %d exceeds the %d-byte limit", n, interfaces.MaxDecodedLen)
	case n*maxExpansionDen > uint64(len(src)-hdr)*maxExpansionNum:
		return dst, corruptf("decoded length %d is more than %d input bytes can encode", n, len(src)-hdr)
	}
	size := int(n)
	dst = slices.Grow(dst, size)
	// DecodeStrict decodes into the slice it is given when its capacity
	// covers the decoded length, which Grow ensured.
	out, err := ksnappy.DecodeStrict(dst[len(dst):len(dst)+size], src)
	if err != nil {
		return dst, fmt.Errorf("lightning/snappy: %w: %w", interfaces.ErrCorrupt, err)
	}
	if len(out) != size {
		return dst, corruptf("decoded %d bytes, header says %d", len(out), size)
	}
	return dst[:len(dst)+size], nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("lightning/snappy: %w: "+format, append([]any{interfaces.ErrCorrupt}, args...)...)
}
