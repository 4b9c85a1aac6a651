package plugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// The host asks for wire.Codec by content-subtype on the iterator calls;
// the server finds codecs by that name in gRPC's registry.
func init() { encoding.RegisterCodecV2(wire.Codec{}) }

// iterState is one open iterator. Requests for one iterator come from one
// host goroutine at a time, but a scan stream the host has just cancelled
// may still be finishing a chunk when the host's next request arrives, so
// every request holds mu while it moves the iterator, and checks where the
// iterator stands before continuing from it.
type iterState struct {
	mu      sync.Mutex
	it      interfaces.Iterator
	reverse bool
	all     bool
	closed  bool // set under mu by close
}

// close closes the iterator once; a request that finds it closed answers
// ErrClosed.
func (is *iterState) close() error {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.closed {
		return nil
	}
	is.closed = true
	return is.it.Close()
}

func (s *storageServer) NewIterator(_ context.Context, req *pluginv1.NewIteratorRequest) (*pluginv1.NewIteratorResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.NewIteratorResponse{Error: wire.ErrorToProto(err)}, nil
	}
	opts := interfaces.IterOptions{
		ReadTs:      req.ReadTs,
		LowerBound:  optBytes(req.HasLowerBound, req.LowerBound),
		UpperBound:  optBytes(req.HasUpperBound, req.UpperBound),
		Prefix:      optBytes(req.HasPrefix, req.Prefix),
		Reverse:     req.Reverse,
		AllVersions: req.AllVersions,
	}
	it, err := st.s.NewIterator(opts)
	if err != nil {
		return &pluginv1.NewIteratorResponse{Error: wire.ErrorToProto(err)}, nil
	}
	id := st.iters.add(&iterState{it: it, reverse: opts.Reverse, all: opts.AllVersions})
	return &pluginv1.NewIteratorResponse{Iterator: id}, nil
}

func (s *storageServer) iter(h, id uint64) (*iterState, error) {
	st, err := s.store(h)
	if err != nil {
		return nil, err
	}
	is, ok := st.iters.get(id)
	if !ok {
		return nil, errClosed(fmt.Sprintf("iterator %d", id))
	}
	return is, nil
}

// limits resolves a request's chunk limits against the defaults and caps.
func limits(l *pluginv1.ChunkLimits) (entries int, size int) {
	entries, size = wire.DefaultChunkEntries, wire.DefaultChunkBytes
	if l != nil {
		if l.MaxEntries > 0 {
			entries = int(min(l.MaxEntries, wire.MaxChunkEntries))
		}
		if l.MaxBytes > 0 {
			size = int(min(l.MaxBytes, wire.MaxChunkBytes))
		}
	}
	return entries, size
}

// chunk is one chunk's versions, as fill builds them.
type chunk struct {
	block []byte
	count uint32
	// done says the iterator is exhausted (or failed: err) after block.
	done bool
	err  error
}

// fill appends versions to block from the iterator's current position
// (valid says whether there is one), up to maxEntries versions or until
// the block holds maxBytes, and at least one version when one is left. It
// leaves the iterator on the last version appended, so that the next
// chunk continues with one Next.
func (is *iterState) fill(block []byte, valid bool, maxEntries, maxBytes int) chunk {
	var count uint32
	for valid {
		block = wire.AppendVersion(block, is.it.Kind(), is.it.Ts(), is.it.Key(), is.it.Value())
		count++
		if int(count) >= maxEntries || len(block) >= maxBytes {
			return chunk{block: block, count: count}
		}
		valid = is.it.Next()
	}
	return chunk{block: block, count: count, done: true, err: is.it.Err()}
}

// position moves the iterator to its first version (first) or to key.
func (is *iterState) position(first bool, key []byte) bool {
	if first {
		return is.it.First()
	}
	return is.it.Seek(optBytes(true, key))
}

// after moves the iterator to the first version after (key, ts) in its
// order: one Next when it stands there, as it does after the chunk that
// ended with that version; otherwise a seek (resume).
func (is *iterState) after(key []byte, ts uint64) bool {
	if is.it.Valid() && is.it.Ts() == ts && bytes.Equal(is.it.Key(), key) {
		return is.it.Next()
	}
	return is.resume(key, ts)
}

// resume positions the iterator on the first version after (key, ts) in
// its order, by seeking to key and stepping over the versions of key at
// or before ts in that order.
func (is *iterState) resume(key []byte, ts uint64) bool {
	valid := is.it.Seek(key)
	for valid && bytes.Equal(is.it.Key(), key) {
		if is.all {
			cur := is.it.Ts()
			// Forward, a key's versions come newest first; in reverse,
			// oldest first.
			if (!is.reverse && cur < ts) || (is.reverse && cur > ts) {
				break
			}
		}
		valid = is.it.Next()
	}
	return valid
}

// unaryBlockCap is the initial capacity of a chunk returned by IterSeek
// and IterNext: enough for the small chunks after a seek without growing,
// without allocating a whole default chunk for them.
const unaryBlockCap = 16 << 10

// unaryChunk builds the answer of IterSeek or IterNext: move positions the
// iterator and reports whether it stands on a version.
func (s *storageServer) unaryChunk(h, id uint64, l *pluginv1.ChunkLimits, move func(is *iterState) bool) *pluginv1.IterChunk {
	is, err := s.iter(h, id)
	if err != nil {
		return &pluginv1.IterChunk{Error: wire.ErrorToProto(err), Done: true}
	}
	maxEntries, maxBytes := limits(l)
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.closed {
		return &pluginv1.IterChunk{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("iterator %d", id))), Done: true}
	}
	c := is.fill(make([]byte, 0, min(maxBytes, unaryBlockCap)), move(is), maxEntries, maxBytes)
	return &pluginv1.IterChunk{Count: c.count, Block: c.block, Done: c.done, Error: wire.ErrorToProto(c.err)}
}

func (s *storageServer) IterSeek(_ context.Context, req *pluginv1.IterSeekRequest) (*pluginv1.IterChunk, error) {
	return s.unaryChunk(req.Handle, req.Iterator, req.Limits, func(is *iterState) bool {
		return is.position(req.First, req.Key)
	}), nil
}

func (s *storageServer) IterNext(_ context.Context, req *pluginv1.IterNextRequest) (*pluginv1.IterChunk, error) {
	return s.unaryChunk(req.Handle, req.Iterator, req.Limits, func(is *iterState) bool {
		return is.after(optBytes(true, req.ResumeKey), req.ResumeTs)
	}), nil
}

// scanGrowth is how much larger each chunk of a scan stream may be than
// the one before, from IterScanRequest.first_entries up to the limits.
const scanGrowth = 4

// IterScan streams an iterator's chunks, one per credit the host grants.
// It holds the iterator only while building a chunk, and starts each
// chunk after the first from the last version it sent: when something
// else moved the iterator in between (a request of the host that
// cancelled this stream), it seeks back there, so the stream never skips
// or repeats a version.
func (s *storageServer) IterScan(stream grpc.BidiStreamingServer[pluginv1.IterScanRequest, pluginv1.IterChunk]) error {
	req, err := stream.Recv()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	is, err := s.iter(req.Handle, req.Iterator)
	if err != nil {
		return stream.SendMsg(&wire.OutChunk{Error: wire.ErrorToProto(err), Done: true})
	}
	maxEntries, maxBytes := limits(req.Limits)
	entries := maxEntries
	if req.FirstEntries > 0 {
		entries = min(int(req.FirstEntries), maxEntries)
	}
	credit := uint64(req.Credit)
	var (
		lastKey []byte
		lastTs  uint64
	)
	ctx := stream.Context()
	for n := 0; ; n++ {
		for credit == 0 {
			more, err := stream.Recv()
			if err == io.EOF {
				return nil // the host wants no more chunks
			}
			if err != nil {
				return err
			}
			credit += uint64(more.Credit)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		out := &wire.OutChunk{}
		is.mu.Lock()
		if is.closed {
			out.Error, out.Done = wire.ErrorToProto(errClosed(fmt.Sprintf("iterator %d", req.Iterator))), true
		} else {
			var valid bool
			if n == 0 {
				valid = is.position(req.First, req.Key)
			} else {
				valid = is.after(lastKey, lastTs)
			}
			out.Block = wire.Blocks.Take()
			c := is.fill(*out.Block, valid, entries, maxBytes)
			*out.Block = c.block
			out.Count, out.Done, out.Error = c.count, c.done, wire.ErrorToProto(c.err)
			if !c.done {
				lastKey, lastTs = append(lastKey[:0], is.it.Key()...), is.it.Ts()
			}
		}
		is.mu.Unlock()
		if err := stream.SendMsg(out); err != nil {
			return err
		}
		if out.Done {
			return nil
		}
		credit--
		entries = min(entries*scanGrowth, maxEntries)
	}
}

func (s *storageServer) IterClose(_ context.Context, req *pluginv1.IterCloseRequest) (*pluginv1.IterCloseResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.IterCloseResponse{Error: wire.ErrorToProto(err)}, nil
	}
	is, ok := st.iters.remove(req.Iterator)
	if !ok {
		return &pluginv1.IterCloseResponse{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("iterator %d", req.Iterator)))}, nil
	}
	return &pluginv1.IterCloseResponse{Error: wire.ErrorToProto(is.close())}, nil
}
