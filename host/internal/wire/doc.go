// Package wire holds what both ends of the plugin protocol share: the
// go-plugin handshake, the message-size limits, the entry-block encoding
// of versions, the gRPC codec of iterator chunks (Codec, OutChunk,
// InChunk), and the mapping of errors and descriptors to and from their
// protobuf form (package pluginv1).
//
// Everything here is pure: no I/O, no goroutines, safe for concurrent use
// (an InChunk or ChunkReader is used by one goroutine at a time).
// Decoders never trust their input: a malformed block is an error matching
// interfaces.ErrCorrupt, never a panic or an outsized allocation.
package wire
