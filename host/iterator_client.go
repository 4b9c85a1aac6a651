package host

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/status"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// Chunk sizes and read-ahead of a remote iterator.
//
// After First or Seek the plugin streams chunks (IterScan): the first
// holds firstChunkEntries versions, because many iterators read a handful
// of versions after a Seek, and each later one up to four times as many,
// up to maxChunkEntries or chunkBytes. The plugin sends a chunk per
// credit the host grants, and the host grants as the scan proves long:
//
//   - for the first lazyChunks chunks, one credit when the caller has read
//     half of the current chunk, so that the next one is on its way when
//     needed, while a short scan that stops early leaves at most one small
//     chunk unread;
//   - from then on, on receipt of each chunk, enough to keep scanCredit
//     chunks on their way beyond the one being read, so that a long scan
//     never waits for a round trip, and the read-ahead stays bounded at
//     about scanCredit × chunkBytes per iterator.
//
// A plugin without IterScan gets one IterSeek and then an IterNext per
// chunk, starting at firstChunkEntries and doubling.
const (
	firstChunkEntries = 64
	maxChunkEntries   = 8192
	chunkBytes        = wire.DefaultChunkBytes
	lazyChunks        = 2
	scanCredit        = 2
)

// chunkCallOptions are the call options of every call that returns
// chunks: wire.Codec moves them without the proto codec's copies (the
// bytes on the wire are protobuf either way), and a chunk larger than a
// plugin honouring chunkBytes sends is refused as it arrives, before it
// is buffered whole.
var chunkCallOptions = []grpc.CallOption{
	grpc.ForceCodecV2(wire.Codec{}),
	grpc.MaxCallRecvMsgSize(wire.MaxChunkMessage(chunkBytes)),
}

// unaryChunkCallOptions are chunkCallOptions for IterSeek and IterNext,
// which the host calls only on plugins without IterScan: built with an
// older host/plugin, they may not know wire.Codec's content-subtype, so
// the call names the proto codec, whose bytes wire.Codec reads.
var unaryChunkCallOptions = append([]grpc.CallOption{grpc.CallContentSubtype(grpcproto.Name)}, chunkCallOptions...)

// noScan remembers the plugins that answered IterScan with UNIMPLEMENTED
// (built with an older plugin package), so that their iterators go
// straight to IterSeek/IterNext. It is keyed by weak pointers, and an entry
// goes when its plugin does.
var noScan sync.Map // weak.Pointer[Plugin] -> struct{}

func scanUnsupported(p *Plugin) bool {
	_, ok := noScan.Load(weak.Make(p))
	return ok
}

func setScanUnsupported(p *Plugin) {
	wp := weak.Make(p)
	if _, loaded := noScan.LoadOrStore(wp, struct{}{}); !loaded {
		runtime.AddCleanup(p, func(wp weak.Pointer[Plugin]) { noScan.Delete(wp) }, wp)
	}
}

// remoteIterator is an interfaces.Iterator over a plugin's iterator. It
// holds one chunk, received into a buffer it reuses, and decodes each
// version in place as it moves: Key and Value alias the chunk, which
// stays untouched until the next move, as the contract allows.
//
// A remoteIterator is used by one goroutine at a time (the contract's
// rule); the only concurrency is the call-timeout timer cancelling a
// stream.
type remoteIterator struct {
	s  *RemoteStorage
	id uint64

	in    wire.InChunk     // the current chunk
	rd    wire.ChunkReader // reads in's block
	cur   interfaces.Entry // the version the iterator stands on
	valid bool
	// done says no chunk follows the current one: the plugin's iterator
	// is exhausted or failed, or this iterator failed.
	done   bool
	err    error
	closed bool

	// scan is the open stream of chunks, if any.
	scan *scanStream
	// pos counts the versions of the current chunk read so far; on an
	// open stream, reading the grantAt-th grants one credit (0: none).
	pos, grantAt uint32
	// next is the entry count of the next IterNext chunk (no IterScan).
	next uint32
	// resume holds the resume key of an IterNext request: the last key
	// of the current chunk, copied because the reply overwrites the chunk.
	resume []byte
}

var _ interfaces.Iterator = (*remoteIterator)(nil)

// scanStream is an IterScan stream: the plugin sends a chunk per credit
// granted, and cancel ends the stream (and so the plugin's read-ahead).
type scanStream struct {
	stream grpc.BidiStreamingClient[pluginv1.IterScanRequest, pluginv1.IterChunk]
	cancel context.CancelFunc
	// timeout bounds each wait for a chunk (PluginOptions.CallTimeout);
	// timedOut records that it expired and cancelled the stream.
	timeout  time.Duration
	timedOut atomic.Bool
	// chunks counts the chunks received; credit is what the plugin may
	// still send (granted, not yet received).
	chunks int
	credit uint32
}

// grant gives the plugin n more credit. An error means the stream is
// over; the next receive returns the reason.
func (sc *scanStream) grant(n uint32) {
	sc.credit += n
	_ = sc.stream.Send(&pluginv1.IterScanRequest{Credit: n})
}

// recv receives the next chunk into in.
func (sc *scanStream) recv(in *wire.InChunk) error {
	if sc.timeout > 0 {
		t := time.AfterFunc(sc.timeout, func() {
			sc.timedOut.Store(true)
			sc.cancel()
		})
		defer t.Stop()
	}
	return sc.stream.RecvMsg(in)
}

// stopScan ends the stream, if one is open. The plugin stops sending, and
// its iterator stands at or after the last version sent.
func (it *remoteIterator) stopScan() {
	if it.scan != nil {
		it.scan.cancel()
		it.scan = nil
	}
}

// fail ends the iteration with err.
func (it *remoteIterator) fail(err error) bool {
	it.stopScan()
	it.grantAt = 0
	it.rd.Reset(nil, 0)
	it.valid, it.done, it.err = false, true, err
	return false
}

// load starts reading the chunk just received into it.in; limit is the
// most versions it may hold.
func (it *remoteIterator) load(limit uint32) bool {
	if it.in.Count > limit {
		return it.fail(fmt.Errorf("lightning/host: plugin %s: iterator: a chunk of %d versions, above the %d asked for: %w",
			it.s.p.name, it.in.Count, limit, interfaces.ErrCorrupt))
	}
	it.rd.Reset(it.in.Block, it.in.Count)
	it.pos = 0
	it.done = it.in.Done
	if perr := wire.ErrorFromProto(it.in.Error); perr != nil {
		// The versions before the failure stay readable; Valid goes false
		// at the end of them and Err reports the failure.
		it.err = it.s.p.partError("iterator", perr)
		it.done = true
	}
	if it.done {
		it.stopScan()
	}
	if it.step() {
		return true
	}
	if !it.done && it.err == nil {
		return it.fail(fmt.Errorf("lightning/host: plugin %s: iterator: an empty chunk that is not the last: %w",
			it.s.p.name, interfaces.ErrCorrupt))
	}
	return false
}

// recvError maps the error of a call or stream receive that returns a
// chunk. A reply the plugin got wrong — a message that does not parse, or
// one above the chunk bound — is interfaces.ErrCorrupt; a scan that waited
// longer than the call timeout is context.DeadlineExceeded; the rest is
// transportError's.
func (it *remoteIterator) recvError(op string, err error) error {
	if bad := it.in.TakeMalformed(); bad != nil {
		return fmt.Errorf("lightning/host: plugin %s: %s: %w", it.s.p.name, op, bad)
	}
	if it.s.p.exitErr() == nil {
		if st, _ := status.FromError(err); st.Code() == codes.ResourceExhausted {
			return fmt.Errorf("lightning/host: plugin %s: %s: a chunk above the bound: %s: %w",
				it.s.p.name, op, st.Message(), interfaces.ErrCorrupt)
		}
		if it.scan != nil && it.scan.timedOut.Load() {
			return fmt.Errorf("lightning/host: plugin %s: %s: %w", it.s.p.name, op, context.DeadlineExceeded)
		}
	}
	return it.s.p.transportError(op, err)
}

// step moves to the next version of the current chunk and reports whether
// there is one.
func (it *remoteIterator) step() bool {
	ok, err := it.rd.Next(&it.cur)
	if err != nil {
		return it.fail(it.s.p.partError("iterator", err))
	}
	it.valid = ok
	if ok {
		it.pos++
		if it.pos == it.grantAt {
			it.grantAt = 0
			if it.scan != nil {
				it.scan.grant(1)
			}
		}
	}
	return ok
}

func (it *remoteIterator) seek(first bool, key []byte) bool {
	if it.closed {
		return it.fail(it.s.errClosed("iterator"))
	}
	it.stopScan()
	it.valid, it.done, it.err, it.grantAt = false, false, nil, 0
	if !scanUnsupported(it.s.p) {
		ok, lacksScan := it.startScan(first, key)
		if !lacksScan {
			return ok
		}
		setScanUnsupported(it.s.p)
	}
	it.next = firstChunkEntries
	ctx, cancel := it.s.p.callCtx()
	defer cancel()
	err := it.s.p.conn.Invoke(ctx, pluginv1.Storage_IterSeek_FullMethodName, &pluginv1.IterSeekRequest{
		Handle: it.s.handle, Iterator: it.id, First: first, Key: key,
		Limits: &pluginv1.ChunkLimits{MaxEntries: it.next, MaxBytes: chunkBytes},
	}, &it.in, unaryChunkCallOptions...)
	if err != nil {
		return it.fail(it.recvError("iterator seek", err))
	}
	return it.load(it.next)
}

// startScan opens an IterScan stream positioned by first or key, and
// reads its first chunk. lacksScan reports a plugin built before IterScan
// existed (it answers codes.Unimplemented); nothing else has happened
// then, and the caller falls back to IterSeek and IterNext.
func (it *remoteIterator) startScan(first bool, key []byte) (ok, lacksScan bool) {
	ctx, cancel := context.WithCancel(it.s.p.ctx)
	stream, err := it.s.c.IterScan(ctx, chunkCallOptions...)
	if err != nil {
		cancel()
		return it.fail(it.s.p.transportError("iterator scan", err)), false
	}
	it.scan = &scanStream{stream: stream, cancel: cancel, timeout: it.s.p.opts.CallTimeout, credit: 1}
	// A failed Send (io.EOF) means the stream is over; the next receive
	// returns the reason.
	_ = stream.Send(&pluginv1.IterScanRequest{
		Handle: it.s.handle, Iterator: it.id, First: first, Key: key,
		Limits:       &pluginv1.ChunkLimits{MaxEntries: maxChunkEntries, MaxBytes: chunkBytes},
		FirstEntries: firstChunkEntries,
		Credit:       1,
	})
	if err := it.scan.recv(&it.in); err != nil {
		if status.Code(err) == codes.Unimplemented && it.s.p.exitErr() == nil {
			it.stopScan()
			return false, true
		}
		return it.fail(it.recvError("iterator scan", err)), false
	}
	return it.received(), false
}

// received accounts for the chunk just received, grants credit as the
// read-ahead policy says (see lazyChunks), and loads the chunk.
func (it *remoteIterator) received() bool {
	sc := it.scan
	sc.chunks++
	if sc.credit > 0 {
		sc.credit--
	}
	it.grantAt = 0
	if !it.in.Done {
		switch {
		case sc.chunks > lazyChunks:
			if sc.credit < scanCredit {
				sc.grant(scanCredit - sc.credit)
			}
		case sc.credit == 0:
			it.grantAt = max(1, it.in.Count/2)
		}
	}
	return it.load(maxChunkEntries)
}

// fetch reads the chunk after the current one.
func (it *remoteIterator) fetch() bool {
	if it.scan != nil {
		// A dead plugin fails at once, even if chunks it sent are still
		// buffered: every call on a dead plugin's parts fails.
		if dead := it.s.p.exitErr(); dead != nil {
			return it.fail(it.s.p.transportError("iterator scan", dead))
		}
		if err := it.scan.recv(&it.in); err != nil {
			return it.fail(it.recvError("iterator scan", err))
		}
		return it.received()
	}
	it.resume = append(it.resume[:0], it.cur.Key...)
	it.next = min(2*it.next, maxChunkEntries)
	ctx, cancel := it.s.p.callCtx()
	defer cancel()
	err := it.s.p.conn.Invoke(ctx, pluginv1.Storage_IterNext_FullMethodName, &pluginv1.IterNextRequest{
		Handle: it.s.handle, Iterator: it.id, ResumeKey: it.resume, ResumeTs: it.cur.Ts,
		Limits: &pluginv1.ChunkLimits{MaxEntries: it.next, MaxBytes: chunkBytes},
	}, &it.in, unaryChunkCallOptions...)
	if err != nil {
		return it.fail(it.recvError("iterator next", err))
	}
	return it.load(it.next)
}

// First moves to the first version in the iterator's direction.
func (it *remoteIterator) First() bool { return it.seek(true, nil) }

// Seek moves to key, as interfaces.Iterator.Seek says.
func (it *remoteIterator) Seek(key []byte) bool {
	if key == nil {
		key = []byte{}
	}
	return it.seek(false, key)
}

// Next moves one version on, fetching the next chunk when this one is
// used up.
func (it *remoteIterator) Next() bool {
	if !it.valid {
		return false
	}
	if it.step() {
		return true
	}
	if it.done {
		return false
	}
	return it.fetch()
}

// Valid reports whether the iterator stands on a version.
func (it *remoteIterator) Valid() bool { return it.valid }

// Key returns the current user key.
func (it *remoteIterator) Key() []byte { return it.cur.Key }

// Ts returns the current version's ts.
func (it *remoteIterator) Ts() uint64 { return it.cur.Ts }

// Kind returns the current version's kind.
func (it *remoteIterator) Kind() interfaces.EntryKind { return it.cur.Kind }

// Value returns the current value; nil for a tombstone.
func (it *remoteIterator) Value() []byte { return it.cur.Value }

// Err returns the error that ended the iteration, if any.
func (it *remoteIterator) Err() error { return it.err }

// Close ends the scan stream, releases the chunk, and returns Err. The
// plugin's iterator is closed in the background (RemoteStorage.closeIterator),
// so a short scan pays no round trip for it: its answer is the plugin
// iterator's Err, which the host already holds for every version the caller
// reached, as an in-process iterator's Close would return. A dead plugin
// still turns Close into an error.
func (it *remoteIterator) Close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	it.stopScan()
	it.valid, it.cur, it.resume, it.grantAt = false, interfaces.Entry{}, nil, 0
	it.rd.Reset(nil, 0)
	it.in.Release()
	if dead := it.s.p.exitErr(); dead != nil && it.err == nil {
		it.err = it.s.p.transportError("iterator close", dead)
	}
	it.s.closeIterator(it.id)
	return it.err
}
