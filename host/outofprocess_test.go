package host_test

import (
	"testing"

	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
)

// TestInTreePluginsOutOfProcess builds every in-tree plugin binary and runs
// its conformance suite through the plugin protocol, as CI requires of
// every part. Adding a part is adding its cmd/plugins directory here.
func TestInTreePluginsOutOfProcess(t *testing.T) {
	for _, c := range []struct {
		pkg   string
		kinds []interfaces.Kind
	}{
		{"cmd/plugins/lightning-memory", []interfaces.Kind{interfaces.KindStorage}},
		{"cmd/plugins/lightning-lsm", []interfaces.Kind{interfaces.KindStorage}},
		{"cmd/plugins/lightning-arc", []interfaces.Kind{interfaces.KindCache}},
		{"cmd/plugins/lightning-none", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-snappy", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-lz4", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-zstd", []interfaces.Kind{interfaces.KindCodec}},
	} {
		t.Run(c.pkg[len("cmd/plugins/"):], func(t *testing.T) {
			plugintest.Run(shortT{t}, binary(t, c.pkg), plugintest.Options{Kinds: c.kinds})
		})
	}
}

// TestProtocolConformance runs the cache and cipher suites against the test
// plugin: the cipher half of the protocol has no in-tree plugin yet, and
// its cache (which does not claim cache.hotkeys) takes the other branch of
// the cache suite than arc.
func TestProtocolConformance(t *testing.T) {
	plugintest.Run(shortT{t}, testPlugin(t), plugintest.Options{
		Kinds: []interfaces.Kind{interfaces.KindCache, interfaces.KindCipher},
	})
}
