package host_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
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
		{"cmd/plugins/lightning-btree", []interfaces.Kind{interfaces.KindStorage}},
		{"cmd/plugins/lightning-arc", []interfaces.Kind{interfaces.KindCache}},
		{"cmd/plugins/lightning-none", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-snappy", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-lz4", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-zstd", []interfaces.Kind{interfaces.KindCodec}},
		{"cmd/plugins/lightning-aesgcm", []interfaces.Kind{interfaces.KindCipher}},
	} {
		t.Run(c.pkg[len("cmd/plugins/"):], func(t *testing.T) {
			plugintest.Run(shortT{t}, binary(t, c.pkg), plugintest.Options{Kinds: c.kinds})
		})
	}
}

// TestProtocolConformance runs the cache and cipher suites against the test
// plugin: its cache (which does not claim cache.hotkeys) takes the other
// branch of the cache suite than arc, and its cipher is a second, simpler
// implementation of the cipher half of the protocol beside aesgcm's.
func TestProtocolConformance(t *testing.T) {
	plugintest.Run(shortT{t}, testPlugin(t), plugintest.Options{
		Kinds: []interfaces.Kind{interfaces.KindCache, interfaces.KindCipher},
	})
}

// TestRemoteIteratorMatchesInProcess drives a storage plugin's iterators
// and the same engine's in-process iterators through the same random
// moves — First, Seek, long runs of Next across many chunks, Apply of new
// versions while iterators are open — and requires the same versions at
// every step. It checks what the chunked, read-ahead protocol must keep:
// no version skipped or repeated at chunk boundaries or after a Seek that
// drops the read-ahead, chunks bounded by bytes as well as entries (some
// values are 20 KiB), and the iterator's snapshot, which versions applied
// after NewIterator never enter.
func TestRemoteIteratorMatchesInProcess(t *testing.T) {
	remote, err := host.OpenStoragePlugin(binary(t, "cmd/plugins/lightning-memory"), t.TempDir(), host.PluginOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = remote.Close() })
	local, err := memory.New(memory.Options{Dir: t.TempDir()}, memory.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = local.Close() })

	const keys = 3000
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	ts := uint64(0)
	apply := func(t require.TestingT, batch []interfaces.Entry) {
		require.NoError(t, remote.Apply(batch))
		require.NoError(t, local.Apply(batch))
	}
	// Three rounds of versions: every key, then every third (some
	// tombstones), then every seventh.
	for round, step := range []int{1, 3, 7} {
		var batch []interfaces.Entry
		for i := 0; i < keys; i += step {
			ts++
			e := interfaces.Entry{Key: key(i), Ts: ts, Kind: interfaces.KindSet,
				Value: bytes.Repeat([]byte{byte('a' + round)}, 10+i%90)}
			if i%97 == 0 {
				e.Value = bytes.Repeat([]byte{'B'}, 20<<10)
			}
			if round == 1 && i%2 == 0 {
				e.Kind, e.Value = interfaces.KindDelete, nil
			}
			batch = append(batch, e)
		}
		apply(t, batch)
	}

	rapid.Check(t, func(t *rapid.T) {
		opts := interfaces.IterOptions{
			ReadTs:      rapid.SampledFrom([]uint64{interfaces.MaxTs, ts, ts / 2, keys + 5}).Draw(t, "readTs"),
			Reverse:     rapid.Bool().Draw(t, "reverse"),
			AllVersions: rapid.Bool().Draw(t, "all"),
		}
		if rapid.Bool().Draw(t, "bounded") {
			lower := rapid.IntRange(0, keys).Draw(t, "lower")
			opts.LowerBound = key(lower)
			opts.UpperBound = key(rapid.IntRange(lower, keys).Draw(t, "upper"))
		}
		ri, err := remote.NewIterator(opts)
		require.NoError(t, err)
		li, err := local.NewIterator(opts)
		require.NoError(t, err)
		same := func(what string, rok, lok bool) {
			if rok != lok || ri.Valid() != li.Valid() {
				t.Fatalf("%s: remote says %v, in-process %v", what, rok, lok)
			}
			if !rok {
				return
			}
			if !bytes.Equal(ri.Key(), li.Key()) || ri.Ts() != li.Ts() || ri.Kind() != li.Kind() || !bytes.Equal(ri.Value(), li.Value()) {
				t.Fatalf("%s: remote at %q@%d %v (%d bytes), in-process at %q@%d %v (%d bytes)", what,
					ri.Key(), ri.Ts(), ri.Kind(), len(ri.Value()), li.Key(), li.Ts(), li.Kind(), len(li.Value()))
			}
		}
		for range rapid.IntRange(1, 6).Draw(t, "moves") {
			switch rapid.IntRange(0, 3).Draw(t, "move") {
			case 0:
				same("First", ri.First(), li.First())
			case 1:
				k := key(rapid.IntRange(-1, keys+1).Draw(t, "seek"))
				same(fmt.Sprintf("Seek(%s)", k), ri.Seek(k), li.Seek(k))
			case 2:
				for i := range rapid.IntRange(1, 4000).Draw(t, "nexts") {
					if !ri.Valid() && !li.Valid() {
						break
					}
					same(fmt.Sprintf("Next #%d", i), ri.Next(), li.Next())
				}
			case 3:
				// New versions of a few keys: neither iterator may see
				// them, whatever it has read ahead.
				var batch []interfaces.Entry
				for _, i := range rapid.SliceOfNDistinct(rapid.IntRange(0, keys-1), 1, 5, rapid.ID[int]).Draw(t, "write") {
					batch = append(batch, interfaces.Entry{Key: key(i), Kind: interfaces.KindSet, Value: []byte("new")})
				}
				slices.SortFunc(batch, func(a, b interfaces.Entry) int { return bytes.Compare(a.Key, b.Key) })
				for i := range batch {
					ts++
					batch[i].Ts = ts
				}
				apply(t, batch)
			}
		}
		require.NoError(t, ri.Err())
		require.NoError(t, ri.Close())
		require.NoError(t, li.Close())
	})
}
