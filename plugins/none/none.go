package none

import (
	"fmt"

	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the codec's name, as Describe reports it.
const Name = "none"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// Codec is the identity codec. The zero value is ready to use.
type Codec struct{}

var _ interfaces.Codec = (*Codec)(nil)

// New returns the identity codec.
func New() *Codec { return &Codec{} }

// Module provides the identity codec to an fx application, in the
// "codecs" value group that every linked-in codec joins.
var Module = fx.Module("lightning-none",
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

// ID returns interfaces.CodecNone.
func (*Codec) ID() interfaces.CodecID { return interfaces.CodecNone }

// Encode appends src to dst. It returns an error matching
// interfaces.ErrInvalidArgument when src is longer than
// interfaces.MaxDecodedLen, because Decode would refuse the result.
func (*Codec) Encode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/none: encode %d bytes, more than the %d-byte limit: %w",
			len(src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument)
	}
	return append(dst, src...), nil
}

// Decode appends src to dst. It returns an error matching
// interfaces.ErrCorrupt when src is longer than interfaces.MaxDecodedLen;
// any shorter input is a valid encoding of itself.
func (*Codec) Decode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/none: decode %d bytes, more than the %d-byte limit: %w",
			len(src), interfaces.MaxDecodedLen, interfaces.ErrCorrupt)
	}
	return append(dst, src...), nil
}
