// Package plugin turns implementations of Lightning's contracts into a
// plugin binary: a plugin author's main calls Serve with the parts, and
// any Lightning host (package host, the lightning CLI) can then load the
// binary as an interfaces.Storage, Cache, Codec or Cipher.
//
//	func main() {
//		plugin.Serve(plugin.Parts{
//			Storage:           func(dir string) (interfaces.Storage, error) { return mystore.Open(dir) },
//			StorageDescriptor: mystore.Descriptor,
//		})
//	}
//
// # What Serve does
//
// Serve speaks the Lightning plugin protocol (lightning.plugin.v1 over
// gRPC, through hashicorp/go-plugin with automatic mutual TLS) until the
// host is done with the plugin, then exits the process. It never returns.
//
//   - Storage is opened on a directory the host names at run time (the
//     database's engine directory), so the factory takes the directory.
//     One process may serve several instances, each named by a handle.
//   - A Cache is made per capacity asked, a Cipher per key the host reads
//     from its key source; the Codec is one value.
//   - Every part's own Describe must equal the descriptor declared in Parts:
//     an instance that disagrees is closed and its Open fails with
//     interfaces.ErrIncompatible, because the host and the conformance
//     suite decide what to test from the declared one.
//   - Errors cross the process as interfaces.ErrorCode values, so
//     errors.Is(err, interfaces.ErrNotFound) and friends hold on the host.
//
// # Standard output
//
// The host reads the plugin's standard output for go-plugin's handshake
// line, so stray output there would break the start. When the binary runs
// as a plugin, this package's init redirects file descriptor 1 to standard
// error before any code of the plugin author runs (package main's init
// included), and Serve forwards only the handshake line to the real
// standard output. Anything else printed goes to standard error, which the
// host logs. Logs should go through Logger, which the host shows at their
// level in its own slog logger.
//
// # Lifetime
//
// The plugin exits when the host asks (go-plugin's shutdown), when its
// parent process dies, or when the host's connection has been gone for a
// second, so a crashed host never leaves plugins behind. Exiting does not
// close the parts: a Storage must keep the crash contract (after a reopen,
// exactly the versions up to DurableTs), which the host relies on anyway.
package plugin
