package wire

import (
	"encoding/binary"

	"github.com/hashicorp/go-plugin"

	"github.com/lightningdb/lightning/interfaces"
)

// ProtocolVersion is the plugin protocol version of package pluginv1. A new
// major protocol gets a new number and a versioned plugin set beside this
// one; go-plugin picks the highest version both ends list.
const ProtocolVersion = 1

// PluginName is the name of the one go-plugin "plugin" in the version-1
// set: it carries every service (Plugin, Storage, Cache, Codec, Cipher) on
// one gRPC connection.
const PluginName = "lightning"

// SDK names this implementation of the protocol in PluginDescription.sdk.
const SDK = "lightning/host/plugin 1"

// Handshake is the go-plugin handshake. The magic cookie keeps a plugin
// binary run by hand from serving (it prints how to use it instead); it is
// not a security measure — the SHA-256 check and AutoMTLS are.
//
// ProtocolVersion here is go-plugin's fallback for hosts that do not send
// versioned sets; Lightning always uses versioned sets.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "LIGHTNING_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7c1f3a9e0b5d4e21a6c8f09d2b4e6a13-lightning-plugin",
}

// Message-size limits, set explicitly on both ends of the connection.
const (
	// MaxMessageSize bounds every gRPC message either way: a codec or
	// cipher call may carry interfaces.MaxDecodedLen (256 MiB) of data,
	// plus framing. Storage traffic stays far below it.
	MaxMessageSize = 272 << 20
	// ApplyBlockSize is the size at which the host splits an Apply batch
	// into a stream of blocks (ApplyStream) instead of one message. A block
	// holds at least one entry, so one entry with a 16 MiB value makes a
	// block of its own.
	ApplyBlockSize = 4 << 20
	// DefaultChunkEntries and DefaultChunkBytes bound an iterator chunk
	// when the host asks for no limit; MaxChunkEntries and MaxChunkBytes
	// cap what it may ask. A chunk always carries at least one version
	// when one is left, however large.
	DefaultChunkEntries = 1024
	DefaultChunkBytes   = 256 << 10
	MaxChunkEntries     = 16 << 10
	MaxChunkBytes       = 4 << 20
	// MaxEntrySize is the largest block encoding of one version within
	// the contract's limits (interfaces.MaxKeySize, MaxValueSize): kind,
	// ts, a 3-byte key length, the key, a 4-byte value length, the value.
	MaxEntrySize = 1 + binary.MaxVarintLen64 + 3 + interfaces.MaxKeySize + 4 + interfaces.MaxValueSize
	// chunkOverhead bounds an IterChunk message's fields besides the
	// block: count, done, the block's length and an error.
	chunkOverhead = 64 << 10
	// WindowSize is the HTTP/2 flow-control window both ends grant per
	// stream and per connection. gRPC's default (64 KiB, grown by probing)
	// makes a 256 KiB iterator chunk or a 4 MiB Apply block wait for
	// window updates several times per message; over a local socket there
	// is no reason to throttle.
	WindowSize = 16 << 20
	// SocketBufferSize is gRPC's read and write buffer on each end: large
	// enough that a chunk's frames go out in a few system calls rather than
	// one per 16 KiB frame.
	SocketBufferSize = 1 << 20
)

// MaxChunkMessage is the largest IterChunk message a plugin that honours
// a chunk bound of maxBytes sends: a chunk stops at the first version
// that takes its block to maxBytes, and that version may be as large as
// MaxEntrySize. The host receives iterator chunks with this limit, so a
// plugin cannot make it buffer more than that for one chunk.
func MaxChunkMessage(maxBytes int) int { return maxBytes + MaxEntrySize + chunkOverhead }
