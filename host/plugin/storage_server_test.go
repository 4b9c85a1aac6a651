package plugin

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/vfs"
)

func newTestServer(t testing.TB) *storageServer {
	fs := vfs.NewMem()
	s := &storageServer{
		open: func(dir string) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
		},
	}
	probe, err := s.open("/probe")
	require.NoError(t, err)
	s.desc = probe.Describe()
	require.NoError(t, probe.Close())
	return s
}

type version struct {
	key  string
	ts   uint64
	kind interfaces.EntryKind
	val  string
}

// walkDirect reads a whole iterator of s in-process.
func walkDirect(t *rapid.T, s interfaces.Storage, opts interfaces.IterOptions) []version {
	it, err := s.NewIterator(opts)
	if err != nil {
		t.Fatalf("NewIterator: %v", err)
	}
	defer it.Close()
	var out []version
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, version{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
	}
	return out
}

func decodeChunk(t *rapid.T, c *pluginv1.IterChunk) []version {
	if err := wire.ErrorFromProto(c.Error); err != nil {
		t.Fatalf("chunk error: %v", err)
	}
	es, err := wire.DecodeEntries(nil, c.Block, c.Count)
	if err != nil {
		t.Fatalf("decode chunk: %v", err)
	}
	out := make([]version, len(es))
	for i, e := range es {
		out[i] = version{string(e.Key), e.Ts, e.Kind, string(e.Value)}
	}
	return out
}

// TestIteratorChunksResume: fetching an iterator in chunks of any size,
// sometimes resuming from an earlier position than where the plugin's
// iterator stands (a host retrying, or out of step), yields exactly the
// versions a direct walk yields, in order, in every direction and mode.
func TestIteratorChunksResume(t *testing.T) {
	srv := newTestServer(t)
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		open, err := srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: fmt.Sprintf("/db%d", rapid.Uint64().Draw(t, "dir"))})
		if err != nil || open.Error != nil {
			t.Fatalf("open: %v %v", err, open.Error)
		}
		defer srv.Close(ctx, &pluginv1.StorageHandle{Handle: open.Handle})
		st, _ := srv.stores.get(open.Handle)

		// Versions of a few keys at increasing ts, tombstones included.
		var ts uint64
		for range rapid.IntRange(1, 8).Draw(t, "batches") {
			var batch []interfaces.Entry
			seen := map[string]bool{}
			ts++
			for range rapid.IntRange(1, 6).Draw(t, "entries") {
				k := rapid.SampledFrom([]string{"", "a", "ab", "b", "c", "d"}).Draw(t, "key")
				if seen[k] {
					continue
				}
				seen[k] = true
				e := interfaces.Entry{Key: []byte(k), Ts: ts, Kind: interfaces.KindSet, Value: []byte(fmt.Sprint(ts))}
				if rapid.Bool().Draw(t, "delete") {
					e.Kind, e.Value = interfaces.KindDelete, nil
				}
				batch = append(batch, e)
			}
			if err := st.s.Apply(batch); err != nil {
				t.Fatalf("apply: %v", err)
			}
		}
		opts := interfaces.IterOptions{
			ReadTs:      rapid.Uint64Range(0, ts+1).Draw(t, "readTs"),
			Reverse:     rapid.Bool().Draw(t, "reverse"),
			AllVersions: rapid.Bool().Draw(t, "all"),
		}
		want := walkDirect(t, st.s, opts)

		ni, err := srv.NewIterator(ctx, &pluginv1.NewIteratorRequest{Handle: open.Handle, ReadTs: opts.ReadTs,
			Reverse: opts.Reverse, AllVersions: opts.AllVersions})
		if err != nil || ni.Error != nil {
			t.Fatalf("NewIterator: %v %v", err, ni.Error)
		}
		limit := func() *pluginv1.ChunkLimits {
			return &pluginv1.ChunkLimits{MaxEntries: uint32(rapid.IntRange(1, 4).Draw(t, "chunk"))}
		}
		chunk, _ := srv.IterSeek(ctx, &pluginv1.IterSeekRequest{Handle: open.Handle, Iterator: ni.Iterator, First: true, Limits: limit()})
		got := decodeChunk(t, chunk)
		for !chunk.Done {
			if len(got) == 0 {
				t.Fatalf("a chunk that is not done is empty")
			}
			// Resume from the last version received, or from an earlier
			// one (the versions after it are then received again).
			back := rapid.IntRange(0, len(got)-1).Draw(t, "back")
			if rapid.IntRange(0, 3).Draw(t, "rewind") != 0 {
				back = 0
			}
			resume := got[len(got)-1-back]
			got = got[:len(got)-back]
			chunk, _ = srv.IterNext(ctx, &pluginv1.IterNextRequest{Handle: open.Handle, Iterator: ni.Iterator,
				ResumeKey: []byte(resume.key), ResumeTs: resume.ts, Limits: limit()})
			got = append(got, decodeChunk(t, chunk)...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunked walk\n got  %v\n want %v", got, want)
		}
		closed, _ := srv.IterClose(ctx, &pluginv1.IterCloseRequest{Handle: open.Handle, Iterator: ni.Iterator})
		if closed.Error != nil {
			t.Fatalf("IterClose: %v", wire.ErrorFromProto(closed.Error))
		}
	})
}

func TestStorageServerHandles(t *testing.T) {
	srv := newTestServer(t)
	ctx := context.Background()
	resp, err := srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: "relative"})
	require.NoError(t, err)
	require.ErrorIs(t, wire.ErrorFromProto(resp.Error), interfaces.ErrInvalidArgument)

	resp, err = srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: "/a"})
	require.NoError(t, err)
	require.Nil(t, resp.Error)
	h := resp.Handle
	closed, _ := srv.Close(ctx, &pluginv1.StorageHandle{Handle: h})
	require.Nil(t, closed.Error)
	// A closed handle answers ErrClosed everywhere, and is never reused.
	get, _ := srv.Get(ctx, &pluginv1.GetRequest{Handle: h, Key: []byte("k"), ReadTs: 1})
	require.ErrorIs(t, wire.ErrorFromProto(get.Error), interfaces.ErrClosed)
	closed, _ = srv.Close(ctx, &pluginv1.StorageHandle{Handle: h})
	require.ErrorIs(t, wire.ErrorFromProto(closed.Error), interfaces.ErrClosed)
	resp, _ = srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: "/a"})
	require.NotEqual(t, h, resp.Handle)

	// A corrupt block is refused before the engine sees it.
	apply, _ := srv.Apply(ctx, &pluginv1.ApplyRequest{Handle: resp.Handle, Count: 1, Block: []byte{1, 1}})
	require.ErrorIs(t, wire.ErrorFromProto(apply.Error), interfaces.ErrCorrupt)

	// An instance whose Describe disagrees with the declared descriptor
	// is closed and refused.
	srv.desc.Version = "9.9.9"
	resp, _ = srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: "/b"})
	require.ErrorIs(t, wire.ErrorFromProto(resp.Error), interfaces.ErrIncompatible)
	srv.closeAll()
}

func TestIsHandshakeLine(t *testing.T) {
	for line, want := range map[string]bool{
		"1|1|unix|/tmp/plugin123|grpc|MIIB...":       true,
		"1|1|tcp|127.0.0.1:1234|grpc|":               true,
		"1|2|unix|/tmp/p|grpc|cert|true":             true,
		"1|1|unix|/tmp/p|netrpc|":                    false,
		"2|1|unix|/tmp/p|grpc|":                      false,
		"1|x|unix|/tmp/p|grpc|":                      false,
		"1|1|pipe|/tmp/p|grpc|":                      false,
		"hello from the plugin":                      false,
		"1|1|unix":                                   false,
		"":                                           false,
		"noise 1|1|unix|/tmp/plugin123|grpc|MIIB...": false,
	} {
		require.Equal(t, want, isHandshakeLine(line), line)
	}
}

func TestPartsValidate(t *testing.T) {
	storage := func(string) (interfaces.Storage, error) { return nil, nil }
	good := interfaces.Descriptor{Kind: interfaces.KindStorage, Name: "x", Version: "1", ContractVersion: 1}
	require.NoError(t, (&Parts{Storage: storage, StorageDescriptor: good}).Validate())
	require.ErrorIs(t, (&Parts{}).Validate(), interfaces.ErrInvalidArgument)
	bad := good
	bad.Kind = interfaces.KindCache
	require.ErrorIs(t, (&Parts{Storage: storage, StorageDescriptor: bad}).Validate(), interfaces.ErrIncompatible)
	bad = good
	bad.ContractVersion = 2
	require.ErrorIs(t, (&Parts{Storage: storage, StorageDescriptor: bad}).Validate(), interfaces.ErrIncompatible)
}

func TestProbeFillsDescriptors(t *testing.T) {
	p := Parts{Storage: func(dir string) (interfaces.Storage, error) {
		return memory.New(memory.Options{Dir: dir}, memory.Deps{})
	}}
	require.NoError(t, p.probe())
	require.Equal(t, memory.Name, p.StorageDescriptor.Name)
	require.NoError(t, p.Validate())
	require.Len(t, p.descriptors(), 1)
}
