package interfaces

// CodecID is the stable one-byte number of a compression format. Every block
// and record on disk stores the ID it was written with, so a database whose
// codec changes keeps reading old blocks; compaction rewrites them.
type CodecID uint8

// The codec IDs. 0 to 127 are Lightning's; 128 to 255 are for third parties,
// who should pick one at random and document it.
const (
	CodecNone   CodecID = 0
	CodecSnappy CodecID = 1
	CodecLZ4    CodecID = 2
	CodecZstd   CodecID = 3
	// CodecThirdParty is the first ID free for third-party codecs.
	CodecThirdParty CodecID = 128
)

// MaxDecodedLen bounds the output of Codec.Decode. A stream that claims to
// decode to more is corrupt: the bound keeps a few hostile bytes from
// allocating gigabytes.
const MaxDecodedLen = 256 << 20

// Codec compresses blocks. Implementations are safe for concurrent use and
// reuse their encoders and decoders across calls rather than building them
// per call.
type Codec interface {
	// Describe returns the part's self-description. Its Kind is KindCodec
	// and its Name the format's name ("snappy", "lz4", "zstd", "none").
	Describe() Descriptor

	// ID returns the codec's stable ID.
	ID() CodecID

	// Encode appends the encoding of src to dst and returns the extended
	// slice. The encoding is self-delimiting: Decode needs nothing but its
	// bytes. len(src) is at most MaxDecodedLen.
	Encode(dst, src []byte) ([]byte, error)

	// Decode appends the decoding of src to dst and returns the extended
	// slice. Input that this codec did not produce, truncated input, and
	// input that would decode to more than MaxDecodedLen bytes return an
	// error matching ErrCorrupt — never a panic, and never more than a
	// bounded allocation. With an error, the returned slice is dst as
	// given (its contents past len(dst) are unspecified).
	Decode(dst, src []byte) ([]byte, error)
}
