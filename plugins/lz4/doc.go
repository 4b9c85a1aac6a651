// Package lz4 is the LZ4 codec: codec ID 2 (interfaces.CodecLZ4), name
// "lz4". It is the fastest of the compressing codecs to decode, for
// read-heavy databases.
//
// It uses the block API of github.com/pierrec/lz4/v4 (the fast
// compressor, lz4.Compressor). The LZ4 frame format is not used: its
// magic, descriptor and checksums cost 11 to 19 bytes a block and add
// nothing to blocks whose enclosing record is already checksummed.
//
// # Format
//
// The raw LZ4 block format does not record the decoded length, which
// Decode needs to size its output and to detect truncation, so an encoding
// is a uvarint of the decoded length followed by one LZ4 block:
//
//	+------------------------------+---------------------------------+
//	| uvarint decoded length n     | LZ4 block (sequences of token,  |
//	| (canonical: shortest form,   | literals, 2-byte little-endian  |
//	|  n <= MaxDecodedLen)         | offset, match length)           |
//	+------------------------------+---------------------------------+
//
// The block follows https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md
// and decodes to exactly n bytes; the empty input encodes as the single
// byte 0x00 with no block. The block is always a compressed LZ4 block, even
// for incompressible input (then it is one literal run, n + n/255 + 16
// bytes at most).
//
// LZ4 blocks carry no checksum: a flipped bit in a literal decodes to other
// bytes without error; the enclosing block's checksum catches that. Any
// truncation is detected, because the block then decodes to fewer than n
// bytes or fails.
//
// # Limits
//
// Decode refuses, with an error matching interfaces.ErrCorrupt and before
// allocating, a declared length above interfaces.MaxDecodedLen or above
// what the block can produce: each byte of a block decodes to at most 255
// bytes (a match length extension byte), so an m-byte block gives at most
// 255m bytes.
//
// # Concurrency
//
// A Codec is safe for concurrent use. Compressors (each holding a 136 KiB
// hash table) are reused through a sync.Pool, never built per call.
package lz4
