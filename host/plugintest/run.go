package plugintest

import (
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/lightningdb/lightning/conformance"
	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/interfaces"
)

// Options configure Run.
type Options struct {
	// Plugin configures every process Run starts (checksum, timeouts,
	// logger).
	Plugin host.PluginOptions
	// Kinds, when not empty, limits the suites to these kinds; a listed
	// kind the plugin does not serve fails the test.
	Kinds []interfaces.Kind
}

// CipherKey returns the key material of the conformance suite's key n.
func CipherKey(n int) []byte {
	sum := sha256.Sum256([]byte("lightning conformance cipher key " + strconv.Itoa(n)))
	return sum[:]
}

// Run starts the plugin binary at path, and runs the conformance suite of
// every part it serves, each as a subtest named for the kind (Storage,
// Cache, Codec, Cipher). It fails t when the plugin cannot start or
// serves nothing Run can test.
func Run(t conformance.T, path string, opts Options) {
	t.Helper()
	p, err := host.StartPlugin(path, opts.Plugin)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	parts := p.Parts()
	if len(parts) == 0 {
		t.Fatalf("plugintest: plugin %s serves no part", path)
	}
	want := map[interfaces.Kind]bool{}
	for _, k := range opts.Kinds {
		want[k] = true
	}
	for _, k := range opts.Kinds {
		if _, ok := p.Part(k); !ok {
			t.Errorf("plugintest: plugin %s serves no %s", path, k)
		}
	}
	for _, d := range parts {
		if len(want) > 0 && !want[d.Kind] {
			continue
		}
		switch d.Kind {
		case interfaces.KindStorage:
			run(t, "Storage", func(t conformance.T) {
				conformance.TestStorage(t, StorageHarness(path, opts.Plugin))
			})
		case interfaces.KindCache:
			run(t, "Cache", func(t conformance.T) {
				conformance.TestCache(t, func(capacity int64) (interfaces.Cache, error) { return p.NewCache(capacity) })
			})
		case interfaces.KindCodec:
			run(t, "Codec", func(t conformance.T) {
				conformance.TestCodec(t, func() (interfaces.Codec, error) { return p.Codec() })
			})
		case interfaces.KindCipher:
			run(t, "Cipher", func(t conformance.T) {
				conformance.TestCipher(t, func(key int) (interfaces.Cipher, error) { return p.NewCipher(CipherKey(key)) })
			})
		default:
			t.Errorf("plugintest: plugin %s serves a %q part, which no suite tests", path, d.Kind)
		}
	}
}

// run runs fn as a subtest of t, as the conformance suites do: through
// (*testing.T).Run, or a conformance.Runner's Run.
func run(t conformance.T, name string, fn func(conformance.T)) {
	switch tt := t.(type) {
	case *testing.T:
		tt.Run(name, func(st *testing.T) { fn(st) })
	case conformance.Runner:
		tt.Run(name, fn)
	default:
		fn(t)
	}
}
