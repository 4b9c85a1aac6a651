// Package host is Lightning's composition root: it builds a database from a
// configuration, with parts in-process (linked-in Go packages, by name) or
// out-of-process (plugin binaries, by path), and it is the host side of the
// plugin protocol.
//
// # Composition
//
// LoadConfig reads a YAML configuration (docs/PLUGINS.md documents every
// field); Open turns it into an fx application that yields the *core.DB,
// and App.Close stops it: the DB closes first, then the cache and cipher,
// then the plugin processes. Module is the same composition as an fx.Option
// for applications with their own graph. In-process parts come from a
// registry (Engines, Caches, Codecs, Ciphers; RegisterEngine and friends
// add more); every linked-in codec joins fx's "codecs" group so old blocks
// stay readable whichever codec writes.
//
// # Plugins
//
// StartPlugin starts a plugin binary with hashicorp/go-plugin over gRPC:
// SHA-256 verification before the binary runs (ErrChecksumMismatch),
// automatic mutual TLS, protocol version negotiation, a start timeout, and
// the plugin's logs bridged into the host's *slog.Logger. The Plugin then
// hands out RemoteStorage, RemoteCache, RemoteCodec and RemoteCipher, each
// implementing its interfaces contract over the wire protocol
// (lightning.plugin.v1; see host/proto).
//
// A plugin that dies turns into errors, never a hang or a panic: the host
// notices the exit, cancels the calls in flight, and every later call fails
// with ErrPluginFailed — storage writes also with interfaces.ErrFailStopped,
// so a core.DB over a dead engine fail-stops. A dead cache misses.
//
// # Concurrency and lifetimes
//
// Everything here is safe for concurrent use, as the contracts require.
// A Plugin outlives the parts it served: close the parts (the DB), then the
// Plugin. Values returned by a remote part belong to the caller, except an
// iterator's Key and Value, which are valid until it moves.
package host
