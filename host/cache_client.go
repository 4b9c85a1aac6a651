package host

import (
	"fmt"
	"sync/atomic"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/host/internal/wire"
	"github.com/lightningdb/lightning/interfaces"
)

// RemoteCache is an interfaces.Cache served by a plugin process. A cache
// is an optimisation, so a failing plugin degrades it to one that misses:
// Get misses and Set and Delete do nothing when a call fails, and the
// failure is logged once.
type RemoteCache struct {
	p      *Plugin
	c      pluginv1.CacheClient
	handle uint64
	desc   interfaces.Descriptor
	closed atomic.Bool
	warned atomic.Bool
}

var _ interfaces.Cache = (*RemoteCache)(nil)

// NewCache makes a cache of capacity bytes in the plugin.
func (p *Plugin) NewCache(capacity int64) (*RemoteCache, error) {
	if _, err := p.part(interfaces.KindCache); err != nil {
		return nil, err
	}
	ctx, cancel := p.callCtx()
	defer cancel()
	resp, err := p.cache.New(ctx, &pluginv1.NewCacheRequest{Capacity: capacity})
	if err != nil {
		return nil, p.transportError("NewCache", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, p.partError("NewCache", err)
	}
	c := &RemoteCache{p: p, c: p.cache, handle: resp.Handle, desc: wire.DescriptorFromProto(resp.Desc)}
	if err := wire.CheckDescriptor(c.desc, interfaces.KindCache); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("lightning/host: plugin %s: %w", p.name, err)
	}
	return c, nil
}

// failed logs the first failed call: the cache then silently misses.
func (c *RemoteCache) failed(op string, err error) {
	if c.warned.CompareAndSwap(false, true) {
		c.p.logger.Warn("cache plugin call failed; the cache misses from now on", "op", op, "error", c.p.transportError(op, err))
	}
}

func protoKey(k interfaces.CacheKey) *pluginv1.CacheKey {
	return &pluginv1.CacheKey{Namespace: k.Namespace, File: k.File, Offset: k.Offset}
}

// Describe returns the descriptor the cache reported when made.
func (c *RemoteCache) Describe() interfaces.Descriptor { return c.desc }

// Get returns the value under key; a miss when the plugin fails.
func (c *RemoteCache) Get(key interfaces.CacheKey) ([]byte, bool) {
	if c.closed.Load() {
		return nil, false
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.Get(ctx, &pluginv1.CacheKeyRequest{Handle: c.handle, Key: protoKey(key)})
	if err != nil {
		c.failed("Get", err)
		return nil, false
	}
	if !resp.Found {
		return nil, false
	}
	if resp.Value == nil {
		// A found empty value: keep "found" distinguishable from a miss
		// for callers that test the slice.
		return []byte{}, true
	}
	return resp.Value, true
}

// Set stores value under key in the plugin (a copy crosses the process,
// so the caller's slice is not retained).
func (c *RemoteCache) Set(key interfaces.CacheKey, value []byte, charge int64) {
	if c.closed.Load() {
		return
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	if _, err := c.c.Set(ctx, &pluginv1.CacheSetRequest{Handle: c.handle, Key: protoKey(key), Value: value, Charge: charge}); err != nil {
		c.failed("Set", err)
	}
}

// Delete removes key's entry in the plugin.
func (c *RemoteCache) Delete(key interfaces.CacheKey) {
	if c.closed.Load() {
		return
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	if _, err := c.c.Delete(ctx, &pluginv1.CacheKeyRequest{Handle: c.handle, Key: protoKey(key)}); err != nil {
		c.failed("Delete", err)
	}
}

// Capacity returns the plugin cache's capacity; 1 when the plugin fails
// (the contract requires at least 1).
func (c *RemoteCache) Capacity() int64 {
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.Capacity(ctx, &pluginv1.CacheHandle{Handle: c.handle})
	if err != nil || resp.Capacity < 1 {
		if err != nil {
			c.failed("Capacity", err)
		}
		return 1
	}
	return resp.Capacity
}

// Stats returns the plugin cache's counters; zero when the plugin fails.
func (c *RemoteCache) Stats() interfaces.CacheStats {
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.Stats(ctx, &pluginv1.CacheHandle{Handle: c.handle})
	if err != nil {
		c.failed("Stats", err)
		return interfaces.CacheStats{}
	}
	return interfaces.CacheStats{
		Hits: resp.Hits, Misses: resp.Misses, Inserts: resp.Inserts, Evictions: resp.Evictions,
		Entries: resp.Entries, Bytes: resp.Bytes, Capacity: resp.Capacity, Metrics: resp.Metrics,
	}
}

// HotKeys returns the plugin cache's hot keys of namespace.
func (c *RemoteCache) HotKeys(namespace uint64, limit int) ([]interfaces.CacheKey, error) {
	if c.closed.Load() {
		if !c.desc.Has(interfaces.CapHotKeys) {
			return nil, fmt.Errorf("lightning/host: plugin %s: HotKeys: %w", c.p.name, interfaces.ErrUnsupported)
		}
		return nil, fmt.Errorf("lightning/host: plugin %s: HotKeys: %w", c.p.name, interfaces.ErrClosed)
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.HotKeys(ctx, &pluginv1.HotKeysRequest{Handle: c.handle, Namespace: namespace, Limit: int64(limit)})
	if err != nil {
		return nil, c.p.transportError("HotKeys", err)
	}
	if err := wire.ErrorFromProto(resp.Error); err != nil {
		return nil, c.p.partError("HotKeys", err)
	}
	if len(resp.Keys) == 0 {
		return nil, nil
	}
	out := make([]interfaces.CacheKey, len(resp.Keys))
	for i, k := range resp.Keys {
		out[i] = interfaces.CacheKey{Namespace: k.GetNamespace(), File: k.GetFile(), Offset: k.GetOffset()}
	}
	return out, nil
}

// Close closes the cache in the plugin.
func (c *RemoteCache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := c.p.callCtx()
	defer cancel()
	resp, err := c.c.Close(ctx, &pluginv1.CacheHandle{Handle: c.handle})
	if err != nil {
		return c.p.transportError("Close", err)
	}
	return c.p.partError("Close", wire.ErrorFromProto(resp.Error))
}
