package plugin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// storageServer serves the Storage service: instances by handle, each
// with its iterators.
type storageServer struct {
	pluginv1.UnimplementedStorageServer
	open   func(dir string) (interfaces.Storage, error)
	desc   interfaces.Descriptor
	stores table[*store]
}

// store is one open Storage instance.
type store struct {
	s     interfaces.Storage
	iters table[*iterState]
}

func errClosed(what string) error {
	return fmt.Errorf("lightning/plugin: %s: %w", what, interfaces.ErrClosed)
}

func (s *storageServer) store(h uint64) (*store, error) {
	st, ok := s.stores.get(h)
	if !ok {
		return nil, errClosed(fmt.Sprintf("storage handle %d", h))
	}
	return st, nil
}

func (s *storageServer) Open(_ context.Context, req *pluginv1.OpenStorageRequest) (*pluginv1.OpenStorageResponse, error) {
	if !filepath.IsAbs(req.Dir) {
		return &pluginv1.OpenStorageResponse{Error: wire.ErrorToProto(fmt.Errorf(
			"lightning/plugin: storage directory %q is not absolute: %w", req.Dir, interfaces.ErrInvalidArgument))}, nil
	}
	inst, err := s.open(req.Dir)
	if err != nil {
		return &pluginv1.OpenStorageResponse{Error: wire.ErrorToProto(err)}, nil
	}
	d := inst.Describe()
	if err := checkInstance(d, s.desc, inst.Close); err != nil {
		return &pluginv1.OpenStorageResponse{Error: wire.ErrorToProto(err)}, nil
	}
	h := s.stores.add(&store{s: inst})
	return &pluginv1.OpenStorageResponse{Handle: h, Desc: wire.DescriptorToProto(d)}, nil
}

func (s *storageServer) Describe(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.DescribeStorageResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.DescribeStorageResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.DescribeStorageResponse{Desc: wire.DescriptorToProto(st.s.Describe())}, nil
}

func (s *storageServer) Apply(_ context.Context, req *pluginv1.ApplyRequest) (*pluginv1.ApplyResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.ApplyResponse{Error: wire.ErrorToProto(err)}, nil
	}
	entries, err := wire.DecodeEntries(nil, req.Block, req.Count)
	if err != nil {
		return &pluginv1.ApplyResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.ApplyResponse{Error: wire.ErrorToProto(st.s.Apply(entries))}, nil
}

func (s *storageServer) ApplyStream(stream grpc.ClientStreamingServer[pluginv1.ApplyRequest, pluginv1.ApplyResponse]) error {
	var (
		st      *store
		entries []interfaces.Entry
		failed  error
	)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if failed != nil {
			continue // drain the stream, then report the first failure
		}
		if st == nil {
			if st, failed = s.store(req.Handle); failed != nil {
				continue
			}
		}
		// Entries alias req.Block, which stays alive through entries.
		entries, failed = wire.DecodeEntries(entries, req.Block, req.Count)
	}
	if failed == nil && st == nil {
		failed = fmt.Errorf("lightning/plugin: empty ApplyStream: %w", interfaces.ErrInvalidArgument)
	}
	if failed == nil {
		failed = st.s.Apply(entries)
	}
	return stream.SendAndClose(&pluginv1.ApplyResponse{Error: wire.ErrorToProto(failed)})
}

func (s *storageServer) Get(_ context.Context, req *pluginv1.GetRequest) (*pluginv1.GetResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.GetResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return get(st.s, req.Key, req.ReadTs), nil
}

func get(s interfaces.Storage, key []byte, readTs uint64) *pluginv1.GetResponse {
	v, ts, err := s.Get(key, readTs)
	if err != nil {
		return &pluginv1.GetResponse{Error: wire.ErrorToProto(err)}
	}
	return &pluginv1.GetResponse{Value: v, Ts: ts}
}

func (s *storageServer) MultiGet(_ context.Context, req *pluginv1.MultiGetRequest) (*pluginv1.MultiGetResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.MultiGetResponse{Error: wire.ErrorToProto(err)}, nil
	}
	out := &pluginv1.MultiGetResponse{Results: make([]*pluginv1.GetResponse, len(req.Keys))}
	for i, k := range req.Keys {
		out.Results[i] = get(st.s, k, req.ReadTs)
	}
	return out, nil
}

func optBytes(has bool, b []byte) []byte {
	if !has {
		return nil
	}
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *storageServer) Flush(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.TsResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.TsResponse{Error: wire.ErrorToProto(err)}, nil
	}
	ts, err := st.s.Flush()
	return &pluginv1.TsResponse{Ts: ts, Error: wire.ErrorToProto(err)}, nil
}

func (s *storageServer) DurableTs(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.TsResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.TsResponse{Error: wire.ErrorToProto(err)}, nil
	}
	ts, err := st.s.DurableTs()
	return &pluginv1.TsResponse{Ts: ts, Error: wire.ErrorToProto(err)}, nil
}

func (s *storageServer) SetDiscardTs(_ context.Context, req *pluginv1.SetDiscardTsRequest) (*pluginv1.ErrorResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(st.s.SetDiscardTs(req.Ts))}, nil
}

func (s *storageServer) Compact(_ context.Context, req *pluginv1.CompactRequest) (*pluginv1.ErrorResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(err)}, nil
	}
	r := interfaces.KeyRange{Start: optBytes(req.HasStart, req.Start), End: optBytes(req.HasEnd, req.End)}
	return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(st.s.Compact(r))}, nil
}

func (s *storageServer) Check(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.ErrorResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(st.s.Check())}, nil
}

func (s *storageServer) Stats(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.StorageStatsResponse, error) {
	st, err := s.store(req.Handle)
	if err != nil {
		return &pluginv1.StorageStatsResponse{Error: wire.ErrorToProto(err)}, nil
	}
	ss, err := st.s.Stats()
	if err != nil {
		return &pluginv1.StorageStatsResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.StorageStatsResponse{
		DiskBytes: ss.DiskBytes,
		MemBytes:  ss.MemBytes,
		AppliedTs: ss.AppliedTs,
		DurableTs: ss.DurableTs,
		DiscardTs: ss.DiscardTs,
		Metrics:   ss.Metrics,
	}, nil
}

func (s *storageServer) Close(_ context.Context, req *pluginv1.StorageHandle) (*pluginv1.ErrorResponse, error) {
	st, ok := s.stores.remove(req.Handle)
	if !ok {
		return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("storage handle %d", req.Handle)))}, nil
	}
	return &pluginv1.ErrorResponse{Error: wire.ErrorToProto(st.close())}, nil
}

// close closes the iterators the host left open, then the instance.
func (st *store) close() error {
	for _, is := range st.iters.drain() {
		_ = is.close()
	}
	return st.s.Close()
}

func (s *storageServer) closeAll() {
	for _, st := range s.stores.drain() {
		_ = st.close()
	}
}
