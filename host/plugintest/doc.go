// Package plugintest runs Lightning's conformance suites against a plugin
// binary, out of process, exactly as `lightning conformance --plugin PATH`
// does. A plugin author calls it from an ordinary go test:
//
//	func TestConformance(t *testing.T) {
//		bin := plugintest.Build(t, ".")            // go build of the plugin's main package
//		plugintest.Run(t, bin, plugintest.Options{})
//	}
//
// Run asks the plugin what it serves (its Describe) and runs the matching
// suites, each as a subtest named for its kind: Storage, Cache, Codec,
// Cipher. A storage instance gets a process of its own, so the suite's
// crash tests kill that process (SIGKILL) and open the storage again on
// the same directory; caches, codecs and ciphers share one process.
//
// Cipher suites need ciphers of two distinct keys: key n is the SHA-256 of
// "lightning conformance cipher key n", 32 bytes.
package plugintest
