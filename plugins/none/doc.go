// Package none is the identity codec: codec ID 0 (interfaces.CodecNone),
// name "none". Engines and the WAL use it for blocks that are not worth
// compressing, and as the codec of record for data written before any
// compression was configured.
//
// # Format
//
// The encoding of a block is the block itself, byte for byte:
//
//	+--------------------------+
//	| data (len(src) bytes)    |
//	+--------------------------+
//
// There is no header, length or checksum, so Decode cannot tell a
// truncated or altered encoding from a valid one: every byte string of at
// most interfaces.MaxDecodedLen bytes is a valid encoding of itself. The
// checksums of the enclosing block or record are what detect damage.
// Decode refuses only input longer than interfaces.MaxDecodedLen.
//
// # Concurrency
//
// A Codec has no state; it is safe for concurrent use.
package none
