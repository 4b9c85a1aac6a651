package plugin

import (
	"context"
	"fmt"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// cacheServer serves the Cache service: caches by handle. A closed or
// unknown handle behaves as a closed cache.
type cacheServer struct {
	pluginv1.UnimplementedCacheServer
	make   func(capacity int64) (interfaces.Cache, error)
	desc   interfaces.Descriptor
	caches table[interfaces.Cache]
}

func cacheKey(k *pluginv1.CacheKey) interfaces.CacheKey {
	if k == nil {
		return interfaces.CacheKey{}
	}
	return interfaces.CacheKey{Namespace: k.Namespace, File: k.File, Offset: k.Offset}
}

func (s *cacheServer) New(_ context.Context, req *pluginv1.NewCacheRequest) (*pluginv1.NewCacheResponse, error) {
	c, err := s.make(req.Capacity)
	if err != nil {
		return &pluginv1.NewCacheResponse{Error: wire.ErrorToProto(err)}, nil
	}
	d := c.Describe()
	if err := checkInstance(d, s.desc, c.Close); err != nil {
		return &pluginv1.NewCacheResponse{Error: wire.ErrorToProto(err)}, nil
	}
	return &pluginv1.NewCacheResponse{Handle: s.caches.add(c), Desc: wire.DescriptorToProto(d)}, nil
}

func (s *cacheServer) Describe(_ context.Context, req *pluginv1.CacheHandle) (*pluginv1.DescribeCacheResponse, error) {
	c, ok := s.caches.get(req.Handle)
	if !ok {
		return &pluginv1.DescribeCacheResponse{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("cache handle %d", req.Handle)))}, nil
	}
	return &pluginv1.DescribeCacheResponse{Desc: wire.DescriptorToProto(c.Describe())}, nil
}

func (s *cacheServer) Get(_ context.Context, req *pluginv1.CacheKeyRequest) (*pluginv1.CacheGetResponse, error) {
	c, ok := s.caches.get(req.Handle)
	if !ok {
		return &pluginv1.CacheGetResponse{}, nil
	}
	v, found := c.Get(cacheKey(req.Key))
	return &pluginv1.CacheGetResponse{Found: found, Value: v}, nil
}

func (s *cacheServer) Set(_ context.Context, req *pluginv1.CacheSetRequest) (*pluginv1.CacheEmpty, error) {
	if c, ok := s.caches.get(req.Handle); ok {
		// req.Value is this request's own copy: the cache may keep it.
		c.Set(cacheKey(req.Key), req.Value, req.Charge)
	}
	return &pluginv1.CacheEmpty{}, nil
}

func (s *cacheServer) Delete(_ context.Context, req *pluginv1.CacheKeyRequest) (*pluginv1.CacheEmpty, error) {
	if c, ok := s.caches.get(req.Handle); ok {
		c.Delete(cacheKey(req.Key))
	}
	return &pluginv1.CacheEmpty{}, nil
}

func (s *cacheServer) Capacity(_ context.Context, req *pluginv1.CacheHandle) (*pluginv1.CacheCapacityResponse, error) {
	c, ok := s.caches.get(req.Handle)
	if !ok {
		return &pluginv1.CacheCapacityResponse{}, nil
	}
	return &pluginv1.CacheCapacityResponse{Capacity: c.Capacity()}, nil
}

func (s *cacheServer) Stats(_ context.Context, req *pluginv1.CacheHandle) (*pluginv1.CacheStatsResponse, error) {
	c, ok := s.caches.get(req.Handle)
	if !ok {
		return &pluginv1.CacheStatsResponse{}, nil
	}
	st := c.Stats()
	return &pluginv1.CacheStatsResponse{
		Hits: st.Hits, Misses: st.Misses, Inserts: st.Inserts, Evictions: st.Evictions,
		Entries: st.Entries, Bytes: st.Bytes, Capacity: st.Capacity, Metrics: st.Metrics,
	}, nil
}

func (s *cacheServer) HotKeys(_ context.Context, req *pluginv1.HotKeysRequest) (*pluginv1.HotKeysResponse, error) {
	c, ok := s.caches.get(req.Handle)
	if !ok {
		err := errClosed(fmt.Sprintf("cache handle %d", req.Handle))
		if !s.desc.Has(interfaces.CapHotKeys) {
			err = fmt.Errorf("lightning/plugin: HotKeys: %w", interfaces.ErrUnsupported)
		}
		return &pluginv1.HotKeysResponse{Error: wire.ErrorToProto(err)}, nil
	}
	limit := req.Limit
	if limit > int64(^uint(0)>>1) {
		limit = int64(^uint(0) >> 1)
	}
	keys, err := c.HotKeys(req.Namespace, int(limit))
	if err != nil {
		return &pluginv1.HotKeysResponse{Error: wire.ErrorToProto(err)}, nil
	}
	out := &pluginv1.HotKeysResponse{Keys: make([]*pluginv1.CacheKey, len(keys))}
	for i, k := range keys {
		out.Keys[i] = &pluginv1.CacheKey{Namespace: k.Namespace, File: k.File, Offset: k.Offset}
	}
	return out, nil
}

func (s *cacheServer) Close(_ context.Context, req *pluginv1.CacheHandle) (*pluginv1.CacheCloseResponse, error) {
	c, ok := s.caches.remove(req.Handle)
	if !ok {
		return &pluginv1.CacheCloseResponse{Error: wire.ErrorToProto(errClosed(fmt.Sprintf("cache handle %d", req.Handle)))}, nil
	}
	return &pluginv1.CacheCloseResponse{Error: wire.ErrorToProto(c.Close())}, nil
}

func (s *cacheServer) closeAll() {
	for _, c := range s.caches.drain() {
		_ = c.Close()
	}
}
