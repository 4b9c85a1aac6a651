package main

import (
	"testing"

	"github.com/lightningdb/lightning/host/plugintest"
)

// TestConformance builds this plugin and runs Lightning's conformance
// suites against the binary, out of process — what
// `lightning conformance --plugin` does.
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, ".")
	plugintest.Run(t, bin, plugintest.Options{})
}
