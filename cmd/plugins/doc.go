// Package plugins is the home of Lightning's in-tree plugin binaries: one
// small main per part, under cmd/plugins/lightning-NAME, each serving one
// in-tree implementation with host/plugin.Serve. They are what CI tests
// out of process (host's out-of-process tests build every one and run its
// conformance suite through the plugin protocol), and what a user points a
// configuration's `path:` at to run a part in its own process.
//
// Build them all with
//
//	go build -o bin/ ./cmd/plugins/...
package plugins
