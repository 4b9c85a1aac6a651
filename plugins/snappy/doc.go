// Package snappy is the Snappy codec: codec ID 1 (interfaces.CodecSnappy),
// name "snappy", and the default codec of a new database because it costs
// the least CPU for a useful ratio.
//
// It uses github.com/klauspost/compress: s2.EncodeSnappy (the fast,
// Snappy-compatible encoder; its output is plain Snappy, decodable by
// github.com/golang/snappy and the C++ library) and snappy.DecodeStrict
// (a decoder of the standard Snappy block format only, which refuses the S2
// extensions that s2.Decode would accept). Strictness keeps the on-disk
// format exactly Snappy, so any Snappy implementation can read our blocks;
// it costs about 25% of decode speed against s2.Decode.
//
// # Format
//
// An encoding is one Snappy block, exactly as specified in
// https://github.com/google/snappy/blob/main/format_description.txt:
//
//	+----------------------+----------------------------------------+
//	| uvarint decoded len  | elements: literals and copies           |
//	| (1-5 bytes, < 2^32)  | (tag byte: low 2 bits 00 literal,       |
//	|                      |  01 copy/1-byte offset, 10 copy/2-byte, |
//	|                      |  11 copy/4-byte offset)                 |
//	+----------------------+----------------------------------------+
//
// The empty block encodes as the single byte 0x00. Snappy carries no
// checksum: a flipped bit in a literal decodes to different bytes without
// error, which the checksum of the enclosing block or record catches. Any
// truncation is detected, because the elements then fall short of the
// decoded length.
//
// # Limits
//
// Decode refuses, with an error matching interfaces.ErrCorrupt and before
// allocating, a decoded length above interfaces.MaxDecodedLen or above what
// the input can produce: the densest Snappy element is a 3-byte copy of 64
// bytes, so n bytes of elements decode to at most 64n/3 bytes.
//
// # Concurrency
//
// A Codec has no mutable state (the encoder's hash tables are pooled inside
// the library); it is safe for concurrent use.
package snappy
