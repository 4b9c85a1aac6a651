package plugin

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// fakeScan is the server side of an IterScan stream without a network:
// Recv takes the host's messages from reqs (closed: the host half-closed),
// and SendMsg passes each chunk through wire.Codec, as gRPC would, onto
// chunks.
type fakeScan struct {
	grpc.ServerStream // not used by IterScan beyond what is overridden
	ctx               context.Context
	reqs              chan *pluginv1.IterScanRequest
	chunks            chan *pluginv1.IterChunk
}

func newFakeScan(ctx context.Context) *fakeScan {
	return &fakeScan{ctx: ctx, reqs: make(chan *pluginv1.IterScanRequest, 16), chunks: make(chan *pluginv1.IterChunk, 16)}
}

func (f *fakeScan) Context() context.Context { return f.ctx }

func (f *fakeScan) Recv() (*pluginv1.IterScanRequest, error) {
	select {
	case r, ok := <-f.reqs:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
}

func (f *fakeScan) Send(c *pluginv1.IterChunk) error { return f.SendMsg(c) }

func (f *fakeScan) SendMsg(m any) error {
	data, err := wire.Codec{}.Marshal(m)
	if err != nil {
		return err
	}
	defer data.Free()
	var in wire.InChunk
	if err := (wire.Codec{}).Unmarshal(data, &in); err != nil {
		return err
	}
	out := &pluginv1.IterChunk{Error: in.Error, Count: in.Count, Done: in.Done, Block: append([]byte(nil), in.Block...)}
	in.Release()
	select {
	case f.chunks <- out:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

// scanServer runs IterScan on a fake stream; its error arrives on the
// returned channel.
func scanServer(srv *storageServer, f *fakeScan) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.IterScan(f) }()
	return done
}

func (f *fakeScan) next(t require.TestingT) *pluginv1.IterChunk {
	select {
	case c := <-f.chunks:
		return c
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no chunk within 10s")
		return nil
	}
}

func openWith(t *rapid.T, srv *storageServer, batches [][]interfaces.Entry) uint64 {
	ctx := context.Background()
	open, err := srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: fmt.Sprintf("/scan%d", rapid.Uint64().Draw(t, "dir"))})
	if err != nil || open.Error != nil {
		t.Fatalf("open: %v %v", err, open.Error)
	}
	st, _ := srv.stores.get(open.Handle)
	for _, b := range batches {
		if err := st.s.Apply(b); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	return open.Handle
}

// drawBatches draws versions of a few keys at increasing ts, tombstones
// included.
func drawBatches(t *rapid.T) ([][]interfaces.Entry, uint64) {
	var (
		out [][]interfaces.Entry
		ts  uint64
	)
	for range rapid.IntRange(1, 8).Draw(t, "batches") {
		var batch []interfaces.Entry
		seen := map[string]bool{}
		ts++
		for range rapid.IntRange(1, 12).Draw(t, "entries") {
			k := rapid.SampledFrom([]string{"", "a", "ab", "b", "c", "d", "e", "f", "g"}).Draw(t, "key")
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
		out = append(out, batch)
	}
	return out, ts
}

// TestIterScanMatchesDirectWalk: a scan stream yields exactly the versions
// a direct walk yields, in order, in every direction and mode, whatever
// the chunk limits and the pace of credit — and even when other requests
// move the iterator between chunks (a host that cancelled a stream and
// went on with IterNext or another stream), since each chunk starts after
// the last version sent.
func TestIterScanMatchesDirectWalk(t *testing.T) {
	srv := newTestServer(t)
	rapid.Check(t, func(t *rapid.T) {
		batches, ts := drawBatches(t)
		h := openWith(t, srv, batches)
		ctx := context.Background()
		defer srv.Close(ctx, &pluginv1.StorageHandle{Handle: h})
		st, _ := srv.stores.get(h)
		opts := interfaces.IterOptions{
			ReadTs:      rapid.Uint64Range(0, ts+1).Draw(t, "readTs"),
			Reverse:     rapid.Bool().Draw(t, "reverse"),
			AllVersions: rapid.Bool().Draw(t, "all"),
		}
		ni, err := srv.NewIterator(ctx, &pluginv1.NewIteratorRequest{Handle: h, ReadTs: opts.ReadTs,
			Reverse: opts.Reverse, AllVersions: opts.AllVersions})
		if err != nil || ni.Error != nil {
			t.Fatalf("NewIterator: %v %v", err, ni.Error)
		}
		first := rapid.Bool().Draw(t, "first")
		var seek []byte
		if !first {
			seek = []byte(rapid.SampledFrom([]string{"", "a", "b", "bb", "z"}).Draw(t, "seek"))
		}
		want := walkFrom(t, st.s, opts, first, seek)

		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f := newFakeScan(sctx)
		f.reqs <- &pluginv1.IterScanRequest{Handle: h, Iterator: ni.Iterator, First: first, Key: seek,
			Limits:       &pluginv1.ChunkLimits{MaxEntries: uint32(rapid.IntRange(1, 6).Draw(t, "max"))},
			FirstEntries: uint32(rapid.IntRange(0, 3).Draw(t, "firstEntries")),
			Credit:       uint32(rapid.IntRange(1, 3).Draw(t, "credit"))}
		done := scanServer(srv, f)
		var got []version
		for {
			c := f.next(t)
			if c.Count == 0 && !c.Done {
				t.Fatalf("a chunk that is not done is empty")
			}
			got = append(got, decodeChunk(t, c)...)
			if c.Done {
				break
			}
			if rapid.Bool().Draw(t, "interfere") {
				// Another request moves the iterator elsewhere.
				is, _ := srv.iter(h, ni.Iterator)
				is.mu.Lock()
				is.it.First()
				is.mu.Unlock()
			}
			f.reqs <- &pluginv1.IterScanRequest{Credit: 1}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("IterScan: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("IterScan did not end after its last chunk")
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("scan\n got  %v\n want %v", got, want)
		}
		closed, _ := srv.IterClose(ctx, &pluginv1.IterCloseRequest{Handle: h, Iterator: ni.Iterator})
		if closed.Error != nil {
			t.Fatalf("IterClose: %v", wire.ErrorFromProto(closed.Error))
		}
	})
}

// walkFrom reads an iterator of s in-process from First or Seek(key).
func walkFrom(t *rapid.T, s interfaces.Storage, opts interfaces.IterOptions, first bool, key []byte) []version {
	it, err := s.NewIterator(opts)
	if err != nil {
		t.Fatalf("NewIterator: %v", err)
	}
	defer it.Close()
	var out []version
	ok := it.First()
	if !first {
		ok = it.Seek(key)
	}
	for ; ok; ok = it.Next() {
		out = append(out, version{string(it.Key()), it.Ts(), it.Kind(), string(it.Value())})
	}
	return out
}

// scanFixture opens a storage of n keys and an iterator over it.
func scanFixture(t *testing.T, n int) (srv *storageServer, h, id uint64) {
	srv = newTestServer(t)
	ctx := context.Background()
	open, err := srv.Open(ctx, &pluginv1.OpenStorageRequest{Dir: "/fixture"})
	require.NoError(t, err)
	require.Nil(t, open.Error)
	st, _ := srv.stores.get(open.Handle)
	var batch []interfaces.Entry
	for i := range n {
		batch = append(batch, interfaces.Entry{Key: fmt.Appendf(nil, "k%05d", i), Ts: uint64(i + 1), Kind: interfaces.KindSet, Value: []byte("v")})
	}
	require.NoError(t, st.s.Apply(batch))
	ni, err := srv.NewIterator(ctx, &pluginv1.NewIteratorRequest{Handle: open.Handle, ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	require.Nil(t, ni.Error)
	t.Cleanup(srv.closeAll)
	return srv, open.Handle, ni.Iterator
}

// TestIterScanCredit: the plugin sends no chunk beyond the credit granted,
// grows chunks from first_entries by scanGrowth up to the limit, and ends
// the stream when the host half-closes it.
func TestIterScanCredit(t *testing.T) {
	srv, h, id := scanFixture(t, 1000)
	f := newFakeScan(context.Background())
	f.reqs <- &pluginv1.IterScanRequest{Handle: h, Iterator: id, First: true,
		Limits: &pluginv1.ChunkLimits{MaxEntries: 100}, FirstEntries: 3, Credit: 2}
	done := scanServer(srv, f)
	require.Equal(t, uint32(3), f.next(t).Count)
	require.Equal(t, uint32(3*scanGrowth), f.next(t).Count)
	select {
	case c := <-f.chunks:
		t.Fatalf("a chunk beyond the credit: %d versions", c.Count)
	case <-time.After(100 * time.Millisecond):
	}
	f.reqs <- &pluginv1.IterScanRequest{Credit: 2}
	require.Equal(t, uint32(3*scanGrowth*scanGrowth), f.next(t).Count)
	require.Equal(t, uint32(100), f.next(t).Count, "capped at the limit")
	close(f.reqs)
	require.NoError(t, <-done)
}

// TestIterScanEnds: a stream ends with an error chunk for an unknown or
// closed iterator, and with the context's error when the host cancels.
func TestIterScanEnds(t *testing.T) {
	srv, h, id := scanFixture(t, 100)

	f := newFakeScan(context.Background())
	f.reqs <- &pluginv1.IterScanRequest{Handle: h, Iterator: id + 1, First: true, Credit: 1}
	done := scanServer(srv, f)
	c := f.next(t)
	require.True(t, c.Done)
	require.ErrorIs(t, wire.ErrorFromProto(c.Error), interfaces.ErrClosed)
	require.NoError(t, <-done)

	// Closed between two chunks: the next one says so.
	f = newFakeScan(context.Background())
	f.reqs <- &pluginv1.IterScanRequest{Handle: h, Iterator: id, First: true, Limits: &pluginv1.ChunkLimits{MaxEntries: 10}, Credit: 1}
	done = scanServer(srv, f)
	require.Equal(t, uint32(10), f.next(t).Count)
	closed, _ := srv.IterClose(context.Background(), &pluginv1.IterCloseRequest{Handle: h, Iterator: id})
	require.Nil(t, closed.Error)
	f.reqs <- &pluginv1.IterScanRequest{Credit: 1}
	c = f.next(t)
	require.True(t, c.Done)
	require.ErrorIs(t, wire.ErrorFromProto(c.Error), interfaces.ErrClosed)
	require.NoError(t, <-done)
	// IterClose released the plugin's handle.
	st, _ := srv.stores.get(h)
	_, open := st.iters.get(id)
	require.False(t, open)
	// The unary calls refuse a closed iterator too.
	seek, _ := srv.IterSeek(context.Background(), &pluginv1.IterSeekRequest{Handle: h, Iterator: id, First: true})
	require.ErrorIs(t, wire.ErrorFromProto(seek.Error), interfaces.ErrClosed)

	// Cancelled while waiting for credit.
	ni, err := srv.NewIterator(context.Background(), &pluginv1.NewIteratorRequest{Handle: h, ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f = newFakeScan(ctx)
	f.reqs <- &pluginv1.IterScanRequest{Handle: h, Iterator: ni.Iterator, First: true, Limits: &pluginv1.ChunkLimits{MaxEntries: 10}, Credit: 1}
	done = scanServer(srv, f)
	require.Equal(t, uint32(10), f.next(t).Count)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("IterScan did not notice the cancellation")
	}
	// The iterator survives the stream: IterNext resumes after the last
	// version sent.
	next, _ := srv.IterNext(context.Background(), &pluginv1.IterNextRequest{Handle: h, Iterator: ni.Iterator,
		ResumeKey: []byte("k00009"), ResumeTs: 10, Limits: &pluginv1.ChunkLimits{MaxEntries: 1}})
	require.Nil(t, next.Error)
	es, err := wire.DecodeEntries(nil, next.Block, next.Count)
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, "k00010", string(es[0].Key))
}
