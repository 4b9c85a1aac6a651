package host

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// RemoteStorage is an interfaces.Storage served by a plugin process. It
// adds MultiGet, which reads many keys in one round trip.
//
// Describe is answered from the descriptor received at open, without a
// call. Every other method is one call (Apply of a batch larger than
// wire.ApplyBlockSize is one stream); iterators receive versions in
// chunks, streamed with a bounded read-ahead (see remoteIterator).
type RemoteStorage struct {
	p      *Plugin
	c      pluginv1.StorageClient
	handle uint64
	dir    string
	desc   interfaces.Descriptor
	closed atomic.Bool
	// iterClosing counts the IterClose calls in flight: Close waits for
	// them, so that the plugin sees every iterator closed before the
	// instance, as the contract promises a part.
	iterClosing sync.WaitGroup
	// onClose runs after Close (stopping a process dedicated to this
	// instance).
	onClose func() error
}

var _ interfaces.Storage = (*RemoteStorage)(nil)

// blockPool recycles Apply's encoding buffers: gRPC has copied a request
// by the time the call returns.
var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// OpenStorage opens the plugin's storage on dir, a directory on the
// plugin's (the local) file system; relative paths are made absolute, since
// the plugin may run elsewhere. The instance's descriptor must pass the
// contract-version check.
func (p *Plugin) OpenStorage(dir string) (*RemoteStorage, error) {
	if _, err := p.part(interfaces.KindStorage); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lightning/host: storage directory %q: %w", dir, err)
	}
	ctx, cancel := p.callCtx()
	defer cancel()
	resp, err := p.storage.Open(ctx, &pluginv1.OpenStorageRequest{Dir: abs})
	if err != nil {
		return nil, p.transportError("Open", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, p.partError("Open "+abs, err)
	}
	s := &RemoteStorage{p: p, c: p.storage, handle: resp.Handle, dir: abs, desc: wire.DescriptorFromProto(resp.Desc)}
	if err := wire.CheckDescriptor(s.desc, interfaces.KindStorage); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("lightning/host: plugin %s: %w", p.name, err)
	}
	return s, nil
}

func (s *RemoteStorage) errClosed(op string) error {
	return fmt.Errorf("lightning/host: plugin %s: %s: %w", s.p.name, op, interfaces.ErrClosed)
}

// writeError is transportError for a write: the part's state is unknown,
// so the error also matches interfaces.ErrFailStopped.
func (s *RemoteStorage) writeError(op string, err error) error {
	return fmt.Errorf("%w: %w", interfaces.ErrFailStopped, s.p.transportError(op, err))
}

// Describe returns the descriptor the instance reported at open.
func (s *RemoteStorage) Describe() interfaces.Descriptor { return s.desc }

// Apply sends entries in one call, or as a stream of blocks when they
// encode to more than wire.ApplyBlockSize; the plugin applies them with one
// Storage.Apply either way.
func (s *RemoteStorage) Apply(entries []interfaces.Entry) error {
	if s.closed.Load() {
		return s.errClosed("Apply")
	}
	count, err := wire.CheckCount(len(entries))
	if err != nil {
		return err
	}
	size := 0
	for i := range entries {
		size += wire.EntrySize(&entries[i])
	}
	if size > wire.ApplyBlockSize {
		return s.applyStream(entries)
	}
	bp := blockPool.Get().(*[]byte)
	block := (*bp)[:0]
	for i := range entries {
		block = wire.AppendEntry(block, &entries[i])
	}
	ctx, cancel := s.p.callCtx()
	resp, err := s.c.Apply(ctx, &pluginv1.ApplyRequest{Handle: s.handle, Count: count, Block: block})
	cancel()
	if cap(block) <= 4*wire.ApplyBlockSize {
		*bp = block[:0]
		blockPool.Put(bp)
	}
	if err != nil {
		return s.writeError("Apply", err)
	}
	return s.p.partError("Apply", wire.ErrorFromProto(resp.Error))
}

func (s *RemoteStorage) applyStream(entries []interfaces.Entry) error {
	ctx, cancel := s.p.callCtx()
	defer cancel()
	stream, err := s.c.ApplyStream(ctx)
	if err != nil {
		return s.writeError("Apply", err)
	}
	block := make([]byte, 0, wire.ApplyBlockSize)
	var n uint32
	send := func() error {
		err := stream.Send(&pluginv1.ApplyRequest{Handle: s.handle, Count: n, Block: block})
		block, n = block[:0], 0
		return err
	}
	for i := range entries {
		if n > 0 && len(block)+wire.EntrySize(&entries[i]) > wire.ApplyBlockSize {
			if err := send(); err != nil {
				break // CloseAndRecv reports the stream's error
			}
		}
		block = wire.AppendEntry(block, &entries[i])
		n++
	}
	if n > 0 {
		_ = send()
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return s.writeError("Apply", err)
	}
	return s.p.partError("Apply", wire.ErrorFromProto(resp.Error))
}

// Get returns the newest version of key at or below readTs.
func (s *RemoteStorage) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if s.closed.Load() {
		return nil, 0, s.errClosed("Get")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.Get(ctx, &pluginv1.GetRequest{Handle: s.handle, Key: key, ReadTs: readTs})
	if err != nil {
		return nil, 0, s.p.transportError("Get", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, 0, s.p.partError("Get", err)
	}
	return resp.Value, resp.Ts, nil
}

// GetResult is one answer of MultiGet.
type GetResult struct {
	Value []byte
	Ts    uint64
	// Err is nil, or matches interfaces.ErrNotFound, or another error of
	// the read.
	Err error
}

// MultiGet reads every key at readTs in one round trip; the results are
// in the order of keys. The error is set when the call as a whole failed.
func (s *RemoteStorage) MultiGet(keys [][]byte, readTs uint64) ([]GetResult, error) {
	if s.closed.Load() {
		return nil, s.errClosed("MultiGet")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.MultiGet(ctx, &pluginv1.MultiGetRequest{Handle: s.handle, Keys: keys, ReadTs: readTs})
	if err != nil {
		return nil, s.p.transportError("MultiGet", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, s.p.partError("MultiGet", err)
	}
	if len(resp.Results) != len(keys) {
		return nil, fmt.Errorf("lightning/host: plugin %s: MultiGet of %d keys returned %d results: %w",
			s.p.name, len(keys), len(resp.Results), interfaces.ErrCorrupt)
	}
	out := make([]GetResult, len(keys))
	for i, r := range resp.Results {
		out[i] = GetResult{Value: r.Value, Ts: r.Ts, Err: s.p.partError("MultiGet", wire.ErrorFromProto(r.Error))}
	}
	return out, nil
}

// NewIterator opens an iterator in the plugin. The plugin holds the
// snapshot; the iterator receives its versions in chunks as it moves, and
// Close releases the plugin's iterator.
func (s *RemoteStorage) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if s.closed.Load() {
		return nil, s.errClosed("NewIterator")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.NewIterator(ctx, &pluginv1.NewIteratorRequest{
		Handle:        s.handle,
		ReadTs:        opts.ReadTs,
		HasLowerBound: opts.LowerBound != nil,
		LowerBound:    opts.LowerBound,
		HasUpperBound: opts.UpperBound != nil,
		UpperBound:    opts.UpperBound,
		HasPrefix:     opts.Prefix != nil,
		Prefix:        opts.Prefix,
		Reverse:       opts.Reverse,
		AllVersions:   opts.AllVersions,
	})
	if err != nil {
		return nil, s.p.transportError("NewIterator", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, s.p.partError("NewIterator", err)
	}
	return &remoteIterator{s: s, id: resp.Iterator}, nil
}

// closeIterator closes the plugin's iterator id in the background. The
// answer carries nothing the caller still needs (see remoteIterator.Close),
// so a failure is only logged; a plugin that died meanwhile has failed
// every other call as well.
func (s *RemoteStorage) closeIterator(id uint64) {
	if s.closed.Load() || s.p.exitErr() != nil {
		return // the plugin released every iterator of the instance with it
	}
	s.iterClosing.Add(1)
	go func() {
		defer s.iterClosing.Done()
		ctx, cancel := s.p.callCtx()
		defer cancel()
		resp, err := s.c.IterClose(ctx, &pluginv1.IterCloseRequest{Handle: s.handle, Iterator: id})
		if err == nil {
			err = wire.ErrorFromProto(resp.Error)
		} else if s.p.exitErr() != nil {
			return
		}
		if err != nil {
			s.p.logger.Debug("plugin iterator close failed", "iterator", id, "err", err)
		}
	}()
}

// Flush makes applied versions durable in the plugin.
func (s *RemoteStorage) Flush() (uint64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("Flush")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.Flush(ctx, &pluginv1.StorageHandle{Handle: s.handle})
	if err != nil {
		return 0, s.writeError("Flush", err)
	}
	return resp.Ts, s.p.partError("Flush", wire.ErrorFromProto(resp.Error))
}

// DurableTs returns the plugin storage's durable ts.
func (s *RemoteStorage) DurableTs() (uint64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("DurableTs")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.DurableTs(ctx, &pluginv1.StorageHandle{Handle: s.handle})
	if err != nil {
		return 0, s.p.transportError("DurableTs", err)
	}
	return resp.Ts, s.p.partError("DurableTs", wire.ErrorFromProto(resp.Error))
}

// SetDiscardTs passes the discard ts to the plugin.
func (s *RemoteStorage) SetDiscardTs(ts uint64) error {
	if s.closed.Load() {
		return s.errClosed("SetDiscardTs")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.SetDiscardTs(ctx, &pluginv1.SetDiscardTsRequest{Handle: s.handle, Ts: ts})
	if err != nil {
		return s.p.transportError("SetDiscardTs", err)
	}
	return s.p.partError("SetDiscardTs", wire.ErrorFromProto(resp.Error))
}

// Compact compacts r in the plugin.
func (s *RemoteStorage) Compact(r interfaces.KeyRange) error {
	if s.closed.Load() {
		return s.errClosed("Compact")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.Compact(ctx, &pluginv1.CompactRequest{
		Handle: s.handle, HasStart: r.Start != nil, Start: r.Start, HasEnd: r.End != nil, End: r.End,
	})
	if err != nil {
		return s.p.transportError("Compact", err)
	}
	return s.p.partError("Compact", wire.ErrorFromProto(resp.Error))
}

// Check runs the plugin storage's Check.
func (s *RemoteStorage) Check() error {
	if s.closed.Load() {
		return s.errClosed("Check")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.Check(ctx, &pluginv1.StorageHandle{Handle: s.handle})
	if err != nil {
		return s.p.transportError("Check", err)
	}
	return s.p.partError("Check", wire.ErrorFromProto(resp.Error))
}

// Stats returns the plugin storage's figures.
func (s *RemoteStorage) Stats() (interfaces.StorageStats, error) {
	if s.closed.Load() {
		return interfaces.StorageStats{}, s.errClosed("Stats")
	}
	ctx, cancel := s.p.callCtx()
	defer cancel()
	resp, err := s.c.Stats(ctx, &pluginv1.StorageHandle{Handle: s.handle})
	if err != nil {
		return interfaces.StorageStats{}, s.p.transportError("Stats", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return interfaces.StorageStats{}, s.p.partError("Stats", err)
	}
	return interfaces.StorageStats{
		DiskBytes: resp.DiskBytes,
		MemBytes:  resp.MemBytes,
		AppliedTs: resp.AppliedTs,
		DurableTs: resp.DurableTs,
		DiscardTs: resp.DiscardTs,
		Metrics:   resp.Metrics,
	}, nil
}

// Close closes the instance in the plugin (and, for a storage with a
// process of its own, stops the process). A second Close returns
// ErrClosed.
func (s *RemoteStorage) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return s.errClosed("Close")
	}
	s.iterClosing.Wait()
	ctx, cancel := s.p.callCtx()
	resp, err := s.c.Close(ctx, &pluginv1.StorageHandle{Handle: s.handle})
	cancel()
	if err != nil {
		err = s.p.transportError("Close", err)
	} else {
		err = s.p.partError("Close", wire.ErrorFromProto(resp.Error))
	}
	if s.onClose != nil {
		if cerr := s.onClose(); err == nil {
			err = cerr
		}
	}
	return err
}

// Dir returns the absolute directory the storage was opened on.
func (s *RemoteStorage) Dir() string { return s.dir }

// Plugin returns the plugin process serving the storage.
func (s *RemoteStorage) Plugin() *Plugin { return s.p }

// OpenStoragePlugin starts the plugin binary at path for one storage
// instance on dir: the process lives as long as the storage, and the
// storage's Close stops it. Crash-testing a storage is then killing its
// process (Plugin().Kill) and opening again on the same dir.
func OpenStoragePlugin(path, dir string, opts PluginOptions) (*RemoteStorage, error) {
	p, err := StartPlugin(path, opts)
	if err != nil {
		return nil, err
	}
	s, err := p.OpenStorage(dir)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	s.onClose = p.Close
	return s, nil
}
