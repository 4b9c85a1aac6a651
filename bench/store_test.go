package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func testRegistry(t *testing.T) *Registry {
	open := func(string, OpenOptions) (Store, error) { return nil, nil }
	r, err := NewRegistry(
		Engine{Name: "pebble", Family: "pebble", Default: true, Open: open},
		Engine{Name: "lightning-memory", Family: "lightning", Default: true, Open: open},
		Engine{Name: "lightning-memory-zstd", Family: "lightning", Open: open},
		Engine{Name: "lightning-lsm", Family: "lightning", Default: true, Unavailable: "not available in this build: x"},
		Engine{Name: "badger", Family: "badger", Default: true, Open: open},
	)
	require.NoError(t, err)
	return r
}

func names(es []Engine) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func TestRegistryNamesPutLightningFirst(t *testing.T) {
	require.Equal(t, []string{"lightning-lsm", "lightning-memory", "lightning-memory-zstd", "badger", "pebble"},
		testRegistry(t).Names())
}

func TestRegistrySelect(t *testing.T) {
	r := testRegistry(t)
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"default", []string{"lightning-lsm", "lightning-memory", "badger", "pebble"}},
		{"all", []string{"lightning-lsm", "lightning-memory", "lightning-memory-zstd", "badger", "pebble"}},
		{"available", []string{"lightning-memory", "lightning-memory-zstd", "badger", "pebble"}},
		{"lightning", []string{"lightning-lsm", "lightning-memory", "lightning-memory-zstd"}},
		{"pebble, badger,pebble", []string{"pebble", "badger"}},
	} {
		got, err := r.Select(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, names(got), tc.in)
	}
	for _, bad := range []string{"", "rocksdb", "pebble,rocksdb"} {
		_, err := r.Select(bad)
		require.Error(t, err, bad)
	}
	e, ok := r.Lookup("lightning-lsm")
	require.True(t, ok)
	require.Contains(t, e.Unavailable, "not available in this build")
}

func TestNewRegistryRejects(t *testing.T) {
	open := func(string, OpenOptions) (Store, error) { return nil, nil }
	for name, es := range map[string][]Engine{
		"empty name":  {{Name: "", Open: open}},
		"comma":       {{Name: "a,b", Open: open}},
		"duplicate":   {{Name: "a", Open: open}, {Name: "a", Open: open}},
		"no open":     {{Name: "a"}},
		"space in it": {{Name: "a b", Open: open}},
	} {
		_, err := NewRegistry(es...)
		require.Error(t, err, name)
	}
	_, err := NewRegistry(Engine{Name: "x", Unavailable: "not available"})
	require.NoError(t, err, "an unavailable engine needs no Open")
}
