package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// The tests here put the host's iterator in front of a fake plugin: a gRPC
// server in this process that answers the iterator calls with whatever a
// test scripts, including replies no plugin built on host/plugin sends.

// rawChunk is an IterChunk message as bytes, sent as they are.
type rawChunk []byte

// rawCodec is the fake server's codec: rawChunk goes out untouched,
// everything else as wire.Codec sends it.
type rawCodec struct{ wire.Codec }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(rawChunk); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	return c.Codec.Marshal(v)
}

// chunkBytesOf encodes an IterChunk the way the proto codec would.
func chunkBytesOf(t testing.TB, c *pluginv1.IterChunk) rawChunk {
	b, err := proto.Marshal(c)
	require.NoError(t, err)
	return b
}

// entriesBlock encodes n versions key-00000 ... at ts 1.
func entriesBlock(from, n int) []byte {
	var b []byte
	for i := from; i < from+n; i++ {
		b = wire.AppendVersion(b, interfaces.KindSet, 1, fmt.Appendf(nil, "key-%05d", i), []byte("value"))
	}
	return b
}

// fakeStorage is the Storage service of the fake plugin. scan answers
// IterScan after the stream's first message; nil means UNIMPLEMENTED.
type fakeStorage struct {
	pluginv1.UnimplementedStorageServer
	scan func(req *pluginv1.IterScanRequest, send func(rawChunk) error, recv func() (*pluginv1.IterScanRequest, error)) error
	// keys is what IterSeek and IterNext serve (the fallback without
	// IterScan): versions key-00000 ... at ts 1.
	keys   int
	closed atomic.Int32
	seeks  atomic.Int32
	nexts  atomic.Int32
	// plain serves with gRPC's own codecs only, as a plugin built before
	// wire.Codec does; contentTypes records the content-type of each
	// IterSeek and IterNext.
	plain        bool
	contentTypes sync.Map // string -> struct{}
	// holdClose, when set, holds every IterClose until it is closed.
	holdClose chan struct{}
	mu        sync.Mutex
	calls     []string // IterClose and Close, in order
}

func (f *fakeStorage) recordContentType(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, ct := range md.Get("content-type") {
		f.contentTypes.Store(ct, struct{}{})
	}
}

func (f *fakeStorage) NewIterator(context.Context, *pluginv1.NewIteratorRequest) (*pluginv1.NewIteratorResponse, error) {
	return &pluginv1.NewIteratorResponse{Iterator: 7}, nil
}

func (f *fakeStorage) IterClose(context.Context, *pluginv1.IterCloseRequest) (*pluginv1.IterCloseResponse, error) {
	if f.holdClose != nil {
		<-f.holdClose
	}
	f.closed.Add(1)
	f.record("IterClose")
	return &pluginv1.IterCloseResponse{}, nil
}

func (f *fakeStorage) Close(context.Context, *pluginv1.StorageHandle) (*pluginv1.ErrorResponse, error) {
	f.record("Close")
	return &pluginv1.ErrorResponse{}, nil
}

func (f *fakeStorage) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeStorage) IterScan(stream grpc.BidiStreamingServer[pluginv1.IterScanRequest, pluginv1.IterChunk]) error {
	if f.scan == nil {
		return status.Error(codes.Unimplemented, "no IterScan")
	}
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	return f.scan(req, func(c rawChunk) error { return stream.SendMsg(c) }, stream.Recv)
}

// chunkFrom serves the fallback: up to limit versions from index from.
func (f *fakeStorage) chunkFrom(from int, l *pluginv1.ChunkLimits) *pluginv1.IterChunk {
	n := min(int(l.MaxEntries), f.keys-from)
	return &pluginv1.IterChunk{Count: uint32(n), Block: entriesBlock(from, n), Done: from+n == f.keys}
}

func (f *fakeStorage) IterSeek(ctx context.Context, req *pluginv1.IterSeekRequest) (*pluginv1.IterChunk, error) {
	f.seeks.Add(1)
	f.recordContentType(ctx)
	from := 0
	if !req.First {
		_, _ = fmt.Sscanf(string(req.Key), "key-%05d", &from)
	}
	return f.chunkFrom(from, req.Limits), nil
}

func (f *fakeStorage) IterNext(ctx context.Context, req *pluginv1.IterNextRequest) (*pluginv1.IterChunk, error) {
	f.nexts.Add(1)
	f.recordContentType(ctx)
	var last int
	_, _ = fmt.Sscanf(string(req.ResumeKey), "key-%05d", &last)
	return f.chunkFrom(last+1, req.Limits), nil
}

// fakePlugin serves f and returns a RemoteStorage over it, with the host's
// connection options; callTimeout is PluginOptions.CallTimeout.
func fakePlugin(t *testing.T, f *fakeStorage, callTimeout time.Duration) *RemoteStorage {
	sock := filepath.Join(t.TempDir(), "plugin.sock")
	lis, err := net.Listen("unix", sock)
	require.NoError(t, err)
	opts := []grpc.ServerOption{grpc.MaxSendMsgSize(wire.MaxMessageSize)}
	if !f.plain {
		opts = append(opts, grpc.ForceServerCodecV2(rawCodec{}))
	}
	srv := grpc.NewServer(opts...)
	pluginv1.RegisterStorageServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(wire.MaxMessageSize)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = conn.Close()
		srv.Stop()
	})
	p := &Plugin{
		path: sock, name: "fake", conn: conn, logger: slog.New(slog.DiscardHandler),
		opts: PluginOptions{CallTimeout: callTimeout},
		ctx:  ctx, cancel: cancel, exited: make(chan struct{}), killed: new(atomic.Bool),
		storage: pluginv1.NewStorageClient(conn),
	}
	return &RemoteStorage{p: p, c: p.storage, handle: 1, dir: "/fake"}
}

// scanAll reads an iterator from First and returns the keys read and the
// iteration's error, failing the test if that takes more than 10s.
func scanAll(t *testing.T, s *RemoteStorage) ([]string, error) {
	type result struct {
		keys []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
		if err != nil {
			done <- result{err: err}
			return
		}
		var keys []string
		for ok := it.First(); ok; ok = it.Next() {
			keys = append(keys, string(it.Key()))
		}
		err = it.Err()
		if cerr := it.Close(); cerr != err {
			err = fmt.Errorf("Close returned %v after Err %v", cerr, err)
		}
		done <- result{keys, err}
	}()
	select {
	case r := <-done:
		return r.keys, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("the scan hangs")
		return nil, nil
	}
}

// TestScanRefusesBadChunks: a chunk the plugin got wrong ends the
// iteration with an error matching interfaces.ErrCorrupt — never a panic,
// a hang, or versions that were not sent — and the versions of the good
// chunks before it were read.
func TestScanRefusesBadChunks(t *testing.T) {
	good := func(t *testing.T) rawChunk {
		return chunkBytesOf(t, &pluginv1.IterChunk{Count: 3, Block: entriesBlock(0, 3)})
	}
	cases := []struct {
		name string
		bad  func(t *testing.T) rawChunk
	}{
		{"not protobuf", func(*testing.T) rawChunk { return rawChunk{0x80} }},
		{"truncated message", func(t *testing.T) rawChunk {
			b := chunkBytesOf(t, &pluginv1.IterChunk{Count: 2, Block: entriesBlock(3, 2)})
			return b[:len(b)-4]
		}},
		{"fewer versions than its count", func(t *testing.T) rawChunk {
			return chunkBytesOf(t, &pluginv1.IterChunk{Count: 3, Block: entriesBlock(3, 2), Done: true})
		}},
		{"bytes after its versions", func(t *testing.T) rawChunk {
			return chunkBytesOf(t, &pluginv1.IterChunk{Count: 1, Block: entriesBlock(3, 2), Done: true})
		}},
		{"a length past the block", func(t *testing.T) rawChunk {
			block := wire.AppendVersion(nil, interfaces.KindSet, 1, []byte("key-00003"), []byte("v"))
			block[len(block)-2] = 100 // the value's length
			return chunkBytesOf(t, &pluginv1.IterChunk{Count: 1, Block: block, Done: true})
		}},
		{"more versions than asked for", func(t *testing.T) rawChunk {
			n := maxChunkEntries + 1
			return chunkBytesOf(t, &pluginv1.IterChunk{Count: uint32(n), Block: entriesBlock(3, n), Done: true})
		}},
		{"empty and not the last", func(t *testing.T) rawChunk {
			return chunkBytesOf(t, &pluginv1.IterChunk{})
		}},
		{"above the size bound", func(t *testing.T) rawChunk {
			// One version larger than any the contract allows: the host
			// refuses the message as it arrives.
			value := make([]byte, interfaces.MaxValueSize+2*chunkBytes)
			block := wire.AppendVersion(nil, interfaces.KindSet, 1, []byte("key-00003"), value)
			return chunkBytesOf(t, &pluginv1.IterChunk{Count: 1, Block: block, Done: true})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeStorage{scan: func(_ *pluginv1.IterScanRequest, send func(rawChunk) error,
				recv func() (*pluginv1.IterScanRequest, error)) error {
				if err := send(good(t)); err != nil {
					return err
				}
				if _, err := recv(); err != nil { // the credit of the first chunk
					return err
				}
				if err := send(c.bad(t)); err != nil {
					return err
				}
				_, _ = recv() // until the host ends the stream
				return nil
			}}
			s := fakePlugin(t, f, 0)
			keys, err := scanAll(t, s)
			require.ErrorIs(t, err, interfaces.ErrCorrupt)
			require.NotErrorIs(t, err, ErrPluginFailed)
			require.Equal(t, []string{"key-00000", "key-00001", "key-00002"}, keys[:min(3, len(keys))])
			// A malformed chunk yields nothing; one whose block framing is
			// wrong yields its well-formed versions before the fault.
			for i, k := range keys {
				require.Equal(t, fmt.Sprintf("key-%05d", i), k)
			}
			require.Eventually(t, func() bool { return f.closed.Load() == 1 }, 10*time.Second, time.Millisecond,
				"Close releases the plugin's iterator")
		})
	}
}

// TestIteratorCloseIsAsynchronous: an iterator's Close returns without
// waiting for the plugin, and the storage's Close waits for the plugin's
// iterators to be closed before it closes the instance.
func TestIteratorCloseIsAsynchronous(t *testing.T) {
	f := &fakeStorage{holdClose: make(chan struct{}), scan: func(_ *pluginv1.IterScanRequest, send func(rawChunk) error,
		_ func() (*pluginv1.IterScanRequest, error)) error {
		return send(chunkBytesOf(t, &pluginv1.IterChunk{Count: 1, Block: entriesBlock(0, 1), Done: true}))
	}}
	s := fakePlugin(t, f, 0)
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	require.True(t, it.First())
	require.NoError(t, it.Close(), "returns while the plugin holds IterClose")
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("the storage closed before its iterator: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(f.holdClose)
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, []string{"IterClose", "Close"}, f.calls)
}

// TestScanCarriesPartErrors: an error chunk of the part keeps its
// sentinel across the boundary, after the versions sent with it.
func TestScanCarriesPartErrors(t *testing.T) {
	f := &fakeStorage{scan: func(_ *pluginv1.IterScanRequest, send func(rawChunk) error,
		_ func() (*pluginv1.IterScanRequest, error)) error {
		return send(chunkBytesOf(t, &pluginv1.IterChunk{Count: 2, Block: entriesBlock(0, 2), Done: true,
			Error: wire.ErrorToProto(&interfaces.CorruptionError{File: "000001.sst", Offset: 4096, Reason: "bad checksum"})}))
	}}
	keys, err := scanAll(t, fakePlugin(t, f, 0))
	require.Equal(t, []string{"key-00000", "key-00001"}, keys)
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "000001.sst", ce.File)
	require.ErrorIs(t, err, interfaces.ErrCorrupt)
}

// TestScanStallTimesOut: a plugin that stops sending in the middle of a
// scan turns into context.DeadlineExceeded after the call timeout.
func TestScanStallTimesOut(t *testing.T) {
	f := &fakeStorage{scan: func(_ *pluginv1.IterScanRequest, send func(rawChunk) error,
		recv func() (*pluginv1.IterScanRequest, error)) error {
		if err := send(chunkBytesOf(t, &pluginv1.IterChunk{Count: 2, Block: entriesBlock(0, 2)})); err != nil {
			return err
		}
		for {
			if _, err := recv(); err != nil {
				return err // the host cancelled
			}
		}
	}}
	start := time.Now()
	keys, err := scanAll(t, fakePlugin(t, f, 200*time.Millisecond))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, []string{"key-00000", "key-00001"}, keys)
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestScanFallsBackToUnaryCalls: a plugin that answers IterScan with
// UNIMPLEMENTED (built against an older host/plugin) is read through
// IterSeek and IterNext, with growing chunks, in the proto codec's
// content-type, and is not asked for a stream again.
func TestScanFallsBackToUnaryCalls(t *testing.T) {
	const n = 3000
	f := &fakeStorage{keys: n, plain: true}
	s := fakePlugin(t, f, 0)
	for round := range 2 {
		keys, err := scanAll(t, s)
		require.NoError(t, err)
		require.Len(t, keys, n)
		for i, k := range keys {
			require.Equal(t, fmt.Sprintf("key-%05d", i), k)
		}
		require.Equal(t, int32(round+1), f.seeks.Load())
	}
	// IterSeek brings 64 versions, then IterNext 128, 256, ..., 2048:
	// five calls per scan.
	require.Equal(t, int32(10), f.nexts.Load())
	require.True(t, scanUnsupported(s.p))
	var types []string
	f.contentTypes.Range(func(k, _ any) bool { types = append(types, k.(string)); return true })
	require.Equal(t, []string{"application/grpc+proto"}, types)

	// Seek positions the fallback as First does.
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	require.True(t, it.Seek([]byte("key-02990")))
	require.Equal(t, "key-02990", string(it.Key()))
	got := 1
	for it.Next() {
		got++
	}
	require.NoError(t, it.Close())
	require.Equal(t, 10, got)
}

// TestScanGrantsCredit: the host asks for one chunk when it opens a
// stream, grants one more when the caller has read half of each of the
// first lazyChunks chunks, then keeps scanCredit chunks on their way; a
// Seek ends the stream, and a short read costs no chunk beyond the first.
func TestScanGrantsCredit(t *testing.T) {
	firsts := make(chan *pluginv1.IterScanRequest, 2)
	credits := make(chan uint32, 16)
	f := &fakeStorage{scan: func(req *pluginv1.IterScanRequest, send func(rawChunk) error,
		recv func() (*pluginv1.IterScanRequest, error)) error {
		firsts <- req
		credit := req.Credit
		for i := 0; ; {
			for ; credit > 0; credit-- {
				if err := send(chunkBytesOf(t, &pluginv1.IterChunk{Count: 4, Block: entriesBlock(4*i, 4)})); err != nil {
					return nil
				}
				i++
			}
			more, err := recv()
			if err != nil {
				return nil
			}
			credits <- more.Credit
			credit += more.Credit
		}
	}}
	next := func() uint32 {
		select {
		case c := <-credits:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no credit granted")
			return 0
		}
	}
	s := fakePlugin(t, f, 0)
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	require.True(t, it.First())
	for i := 1; i < 16; i++ {
		require.True(t, it.Next())
		require.Equal(t, fmt.Sprintf("key-%05d", i), string(it.Key()))
	}
	first := <-firsts
	require.True(t, first.First)
	require.Equal(t, uint32(1), first.Credit)
	require.Equal(t, uint32(firstChunkEntries), first.FirstEntries)
	require.Equal(t, uint32(maxChunkEntries), first.Limits.MaxEntries)
	require.Equal(t, uint32(chunkBytes), first.Limits.MaxBytes)
	// Half of chunk 0, half of chunk 1, then on receipt of chunks 2 and 3
	// enough to keep scanCredit chunks coming.
	require.Equal(t, []uint32{1, 1, scanCredit, 1}, []uint32{next(), next(), next(), next()})

	require.True(t, it.Seek([]byte("key-00000")), "a seek opens a new stream")
	second := <-firsts
	require.False(t, second.First)
	require.Equal(t, "key-00000", string(second.Key))
	require.NoError(t, it.Close())
	select {
	case c := <-credits:
		t.Fatalf("one version read, yet %d more chunks asked for", c)
	case <-time.After(50 * time.Millisecond):
	}
}

// FuzzScanChunk: whatever bytes a plugin sends as a chunk, the iterator
// either reads well-formed versions or ends with ErrCorrupt (or the part's
// error the chunk carries); it never panics. It drives load and step
// directly, as a received chunk does.
func FuzzScanChunk(f *testing.F) {
	for _, c := range []*pluginv1.IterChunk{
		{Count: 2, Block: entriesBlock(0, 2), Done: true},
		{Count: 2, Block: entriesBlock(0, 3)},
		{Count: 1, Block: entriesBlock(0, 2)[:5], Done: true},
		{Error: &pluginv1.Error{Code: 5, Message: "closed"}, Done: true},
	} {
		b, err := proto.Marshal(c)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(protowire.AppendTag(nil, 2, protowire.VarintType))
	p := &Plugin{name: "fuzz", ctx: context.Background(), exited: make(chan struct{}), killed: new(atomic.Bool)}
	s := &RemoteStorage{p: p}
	f.Fuzz(func(t *testing.T, msg []byte) {
		it := &remoteIterator{s: s}
		if err := (wire.Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(msg)}, &it.in); err != nil {
			require.ErrorIs(t, it.recvError("iterator scan", err), interfaces.ErrCorrupt)
			return
		}
		for ok := it.load(maxChunkEntries); ok; ok = it.step() {
			_ = it.Key()
		}
		if err := it.Err(); err != nil && !errors.Is(err, interfaces.ErrCorrupt) && it.in.Error == nil {
			t.Fatalf("error %v is neither ErrCorrupt nor the part's", err)
		}
		it.in.Release()
	})
}
