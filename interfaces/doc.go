// Package interfaces holds the contracts between Lightning's core and its
// swappable parts: Storage (the engine), Cache, Codec (compression) and
// Cipher (encryption at rest), plus the small types they share.
//
// Anyone may implement a part: a storage engine, a cache, a codec, a cipher.
// A part is correct when it passes the matching suite in the conformance
// package (conformance.TestStorage, TestCache, TestCodec, TestCipher), both
// in-process and, once wrapped as a plugin binary, out-of-process.
//
// # Rules every contract follows
//
//   - Every method can be served over gRPC: no Go callbacks, channels or
//     funcs cross a contract, calls are batch-friendly, and iterators can be
//     streamed in chunks. Keep that in mind before reaching for a type
//     assertion: it cannot see through a gRPC stub.
//   - Each part describes itself as data with Describe (see Descriptor):
//     name, version, the contract version it implements, and the optional
//     capabilities it claims. An operation behind a capability the part does
//     not claim must return ErrUnsupported and change nothing.
//   - Errors are the sentinels in errors.go, wrapped with %w. Each sentinel
//     has a stable Code, so errors.Is gives the same answer on either side of
//     a process boundary.
//   - Byte slices passed into a method belong to the caller and may be reused
//     as soon as the method returns; a part keeps copies of what it stores.
//     Slices returned are documented per method.
//
// # Timestamps
//
// Every version of a key carries a ts: the commit sequence number that the
// core assigns, starting at 1. One number is at once the MVCC timestamp, the
// WAL position and the checkpoint watermark. Ts 0 is never assigned; MaxTs
// reads "everything".
//
// This package imports nothing else from Lightning, and only the standard
// library.
package interfaces
