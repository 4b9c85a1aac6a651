package zstd

import (
	"fmt"
	"slices"

	kzstd "github.com/klauspost/compress/zstd"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/interfaces"
)

// Name is the codec's name, as Describe reports it.
const Name = "zstd"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// The compression levels, numbered as in the zstd command line tool.
const (
	MinLevel     = 1
	DefaultLevel = 3
	MaxLevel     = 22
)

const (
	// maxWindow is the encoder's match window: it bounds encoder memory
	// and how far back a match reaches. 8 MiB is the library's default
	// for every level but the fastest, pinned so a library upgrade cannot
	// change the output's shape.
	//
	// Frames are written as single segments, whose window is the whole
	// content, so the decoder's window limit is interfaces.MaxDecodedLen:
	// for DecodeAll the window is the output buffer, which the content
	// size check has already bounded.
	maxWindow = 8 << 20

	// maxExpansion bounds the decoded size per input byte: an RLE block,
	// 4 bytes, decodes to at most 128 KiB.
	maxExpansion = (128 << 10) / 4
)

// Options configure a Codec. A nil *Options means the defaults.
type Options struct {
	// Level is the compression level, MinLevel (fastest) to MaxLevel
	// (smallest), as in the zstd command line tool; 0 means DefaultLevel.
	// klauspost/compress implements four encoders and maps the levels
	// onto them: 1-2 fastest, 3-5 default, 6-9 better, 10-22 best. The
	// level affects only Encode: every level decodes alike.
	Level int
}

// EnsureDefaults fills in the zero fields of o with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
}

// Validate reports whether o is usable, with an error matching
// interfaces.ErrInvalidArgument when it is not. It expects defaults to be
// filled in.
func (o *Options) Validate() error {
	if o.Level < MinLevel || o.Level > MaxLevel {
		return fmt.Errorf("lightning/zstd: level %d is outside [%d, %d]: %w",
			o.Level, MinLevel, MaxLevel, interfaces.ErrInvalidArgument)
	}
	return nil
}

// Codec is the Zstandard codec. Make one with New.
type Codec struct {
	// enc and dec are used only through EncodeAll and DecodeAll, which
	// are safe for concurrent use. Neither starts goroutines, so a Codec
	// needs no Close.
	enc *kzstd.Encoder
	dec *kzstd.Decoder
}

var _ interfaces.Codec = (*Codec)(nil)

// New returns a Zstandard codec configured by opts (nil for the defaults).
// It returns an error matching interfaces.ErrInvalidArgument when opts
// fails Validate.
func New(opts *Options) (*Codec, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	enc, err := kzstd.NewWriter(nil,
		kzstd.WithEncoderLevel(kzstd.EncoderLevelFromZstd(o.Level)),
		kzstd.WithWindowSize(maxWindow),
		kzstd.WithEncoderCRC(true),
		kzstd.WithZeroFrames(true),
		kzstd.WithSingleSegment(true),
		kzstd.WithEncoderConcurrency(0),
	)
	if err != nil {
		return nil, fmt.Errorf("lightning/zstd: new encoder: %w", err)
	}
	dec, err := kzstd.NewReader(nil,
		kzstd.WithDecoderConcurrency(0),
		kzstd.WithDecoderMaxMemory(interfaces.MaxDecodedLen),
		kzstd.WithDecoderMaxWindow(interfaces.MaxDecodedLen),
	)
	if err != nil {
		return nil, fmt.Errorf("lightning/zstd: new decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Module provides the Zstandard codec to an fx application, in the
// "codecs" value group that every linked-in codec joins. It takes an
// optional *Options from the graph (fx.Supply(&zstd.Options{Level: 9}));
// without one it uses the defaults.
var Module = fx.Module("lightning-zstd",
	fx.Provide(
		fx.Annotate(
			New,
			fx.ParamTags(`optional:"true"`),
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

// ID returns interfaces.CodecZstd.
func (*Codec) ID() interfaces.CodecID { return interfaces.CodecZstd }

// Encode appends one Zstandard frame holding src to dst. It allocates
// only when dst lacks room for the frame (about len(src) + 16 bytes for
// incompressible input). It returns an error matching
// interfaces.ErrInvalidArgument when src is longer than
// interfaces.MaxDecodedLen.
func (c *Codec) Encode(dst, src []byte) ([]byte, error) {
	if len(src) > interfaces.MaxDecodedLen {
		return dst, fmt.Errorf("lightning/zstd: encode %d bytes, more than the %d-byte limit: %w",
			len(src), interfaces.MaxDecodedLen, interfaces.ErrInvalidArgument)
	}
	return c.enc.EncodeAll(src, dst), nil
}

// Decode appends the decoding of the Zstandard frame src to dst. Input that
// is not one frame as Encode writes it (see the package documentation),
// fails its checksum, or declares more than interfaces.MaxDecodedLen bytes
// or more than its length can produce, returns an error matching
// interfaces.ErrCorrupt; dst is then returned unextended.
func (c *Codec) Decode(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return dst, corruptf("empty input")
	}
	var h kzstd.Header
	if err := h.Decode(src); err != nil {
		return dst, fmt.Errorf("lightning/zstd: %w: frame header: %w", interfaces.ErrCorrupt, err)
	}
	switch {
	case h.Skippable:
		return dst, corruptf("skippable frame")
	case !h.SingleSegment || !h.HasFCS:
		return dst, corruptf("not a single-segment frame that declares its content size")
	case h.DictionaryID != 0:
		return dst, corruptf("frame needs dictionary %d", h.DictionaryID)
	case h.FrameContentSize > interfaces.MaxDecodedLen:
		return dst, corruptf("content size %d exceeds the %d-byte limit", h.FrameContentSize, interfaces.MaxDecodedLen)
	case h.FrameContentSize > uint64(len(src))*maxExpansion:
		return dst, corruptf("content size %d is more than %d input bytes can encode", h.FrameContentSize, len(src))
	}
	size := int(h.FrameContentSize)
	dst = slices.Grow(dst, size)
	// DecodeAll appends to the zero-length slice at the end of dst, in
	// place because its capacity covers the declared size. It checks the
	// frame's content size and checksum, and decodes any further frames,
	// which the length check below refuses.
	out, err := c.dec.DecodeAll(src, dst[len(dst):len(dst)])
	if err != nil {
		return dst, fmt.Errorf("lightning/zstd: %w: %w", interfaces.ErrCorrupt, err)
	}
	if len(out) != size {
		return dst, corruptf("decoded %d bytes, frame declares %d", len(out), size)
	}
	if size == 0 {
		return dst, nil
	}
	if &out[0] != &dst[:len(dst)+1][len(dst)] {
		// The decoder moved to a buffer of its own; not expected with the
		// capacity given, but correct either way.
		return append(dst, out...), nil
	}
	return dst[:len(dst)+size], nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("lightning/zstd: %w: "+format, append([]any{interfaces.ErrCorrupt}, args...)...)
}
