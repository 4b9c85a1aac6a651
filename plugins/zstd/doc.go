// Package zstd is the Zstandard codec: codec ID 3 (interfaces.CodecZstd),
// name "zstd". It gives the best ratio of the in-tree codecs, for
// databases that are larger than they are busy, and for cold levels of
// an LSM tree.
//
// It uses github.com/klauspost/compress/zstd: one Encoder and one Decoder
// per Codec, used only through EncodeAll and DecodeAll, which are safe for
// concurrent use and keep a pool of GOMAXPROCS block encoders and decoders
// inside. Options.Level picks the compression level.
//
// A single-segment frame of more than 8 MiB asks a streaming decoder for a
// window as large as its content; the zstd command line tool then needs
// --memory=256MB (or the size) to read a block extracted by hand.
//
// # Format
//
// An encoding is exactly one Zstandard frame, as specified in RFC 8878
// (https://www.rfc-editor.org/rfc/rfc8878), written as a single segment:
//
//	+-------------+-----+-----------------+-----------+----------+
//	| magic       | FHD | content size    | blocks    | checksum |
//	| 28 B5 2F FD | 1 B | 1, 2, 4 or 8 B  | 3 B hdr + | 4 B      |
//	|             |     | little-endian   | data each |          |
//	+-------------+-----+-----------------+-----------+----------+
//
// FHD (the frame header descriptor) has the Single_Segment flag set, so
// there is no window descriptor and the content size (the decoded length)
// is always present: 1 byte for sizes below 256, 2 bytes holding size-256
// below 65792, then 4 or 8 bytes. There is no dictionary id. The frame
// ends with the content checksum, the low 32 bits of XXH64 of the decoded
// bytes. Blocks are at most 128 KiB of content, and matches reach back at
// most 8 MiB (the encoder's window), though a single-segment frame allows
// a decoder to reach back to the start of the content. The empty input is
// encoded as a full frame (28 B5 2F FD 20 00 01 00 00: content size 0, one
// empty raw last block, no checksum), never as zero bytes, so a block
// truncated to nothing is detected.
//
// Decode accepts only such frames: it refuses, with an error matching
// interfaces.ErrCorrupt, empty input, a skippable frame, a frame that is
// not single-segment or has a dictionary id, a content size above
// interfaces.MaxDecodedLen, bytes after the frame, and a content size above
// what the input can produce. The densest zstd block is an RLE block: 4
// bytes (3 of header, 1 of value) for up to 128 KiB of output, so n input
// bytes decode to at most n * 32 KiB. These checks run on the frame header,
// before any allocation.
//
// Bit flips are detected by the structure or the content checksum;
// truncations always are, because the frame then ends early.
//
// # Concurrency
//
// A Codec is safe for concurrent use. At most GOMAXPROCS (at New) Encode
// calls, and as many Decode calls, run at once; more wait their turn.
package zstd
