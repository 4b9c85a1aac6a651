package lsm

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
	"github.com/lightningdb/lightning/vfs"
)

// tableEntry is an open table in the table cache.
type tableEntry struct {
	r    *sstable.Reader
	meta *fileMeta
	// refs counts the cache's own reference (while the entry is in the
	// cache) and one per user. At zero the reader is closed.
	refs atomic.Int32
	// used is the clock bit: set on every hit, cleared as the clock hand
	// passes. An entry the hand finds clear is evicted.
	used atomic.Bool
}

// tryRef adds a user unless the entry is already released.
func (e *tableEntry) tryRef() bool {
	for {
		n := e.refs.Load()
		if n <= 0 {
			return false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref drops a reference; the last one closes the reader.
func (e *tableEntry) unref() {
	if e.refs.Add(-1) == 0 {
		_ = e.r.Close()
	}
}

// tableCache bounds the number of open table files. Entries are found
// through fileMeta.tc without a lock while they stay in the cache; a miss
// opens the table and may evict another entry, chosen by the clock
// algorithm (a cheap approximation of LRU that needs no list update on a
// hit). An evicted entry that is still in use stays open until its last
// user releases it.
type tableCache struct {
	fs       vfs.FS
	dir      string
	opts     sstable.ReaderOptions
	capacity int

	// mu guards entries, ring and hand.
	mu      sync.Mutex
	entries map[uint64]*tableEntry
	ring    []*tableEntry
	hand    int

	hits, misses atomic.Int64
}

func newTableCache(fs vfs.FS, dir string, capacity int, opts sstable.ReaderOptions) *tableCache {
	return &tableCache{fs: fs, dir: dir, capacity: capacity, opts: opts, entries: map[uint64]*tableEntry{}}
}

// get returns the open table of f with a reference the caller releases
// with unref.
func (c *tableCache) get(f *fileMeta) (*tableEntry, error) {
	if e := f.tc.Load(); e != nil && e.tryRef() {
		e.used.Store(true)
		c.hits.Add(1)
		return e, nil
	}
	return c.getSlow(f)
}

func (c *tableCache) getSlow(f *fileMeta) (*tableEntry, error) {
	c.mu.Lock()
	if e, ok := c.entries[f.num]; ok && e.tryRef() {
		f.tc.Store(e)
		c.mu.Unlock()
		e.used.Store(true)
		c.hits.Add(1)
		return e, nil
	}
	c.mu.Unlock()
	c.misses.Add(1)
	// Open outside the lock: it reads the table's metadata blocks. Two
	// goroutines may race to open one table; the loser closes its copy.
	r, err := c.open(f)
	if err != nil {
		return nil, err
	}
	e := &tableEntry{r: r, meta: f}
	e.refs.Store(2) // the cache's and the caller's
	e.used.Store(true)
	c.mu.Lock()
	if old, ok := c.entries[f.num]; ok && old.tryRef() {
		c.mu.Unlock()
		_ = r.Close()
		return old, nil
	}
	c.entries[f.num] = e
	c.ring = append(c.ring, e)
	f.tc.Store(e)
	for len(c.entries) > c.capacity {
		c.evictOneLocked()
	}
	c.mu.Unlock()
	return e, nil
}

// open opens f's table and checks that it is the table the manifest
// describes.
func (c *tableCache) open(f *fileMeta) (*sstable.Reader, error) {
	path := filepath.Join(c.dir, tableName(f.num))
	file, err := c.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lightning/lsm: open table %s: %w", path, err)
	}
	size, err := file.Size()
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("lightning/lsm: size of %s: %w", path, err)
	}
	if uint64(size) != f.size {
		_ = file.Close()
		return nil, interfaces.Corruptf(path, -1, "table of %d bytes, the manifest records %d", size, f.size)
	}
	opts := c.opts
	opts.FileNum, opts.FileName = f.num, path
	r, err := sstable.Open(file, size, opts)
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	if err := checkTableMeta(r, f, path); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// checkTableMeta compares what a table says about itself with what the
// manifest says about it.
func checkTableMeta(r *sstable.Reader, f *fileMeta, path string) error {
	p := r.Properties()
	switch {
	case base.Compare(r.Smallest(), f.smallest) != 0 || base.Compare(r.Largest(), f.largest) != 0:
		return interfaces.Corruptf(path, -1, "table bounds [%s, %s], the manifest records [%s, %s]",
			r.Smallest(), r.Largest(), f.smallest, f.largest)
	case p.MinTs != f.minTs || p.MaxTs != f.maxTs:
		return interfaces.Corruptf(path, -1, "table ts range [%d, %d], the manifest records [%d, %d]", p.MinTs, p.MaxTs, f.minTs, f.maxTs)
	case p.NumEntries != f.entries || p.NumDeletions != f.deletions || p.NumUserKeys != f.userKeys:
		return interfaces.Corruptf(path, -1, "table of %d entries, %d tombstones and %d user keys, the manifest records %d, %d and %d",
			p.NumEntries, p.NumDeletions, p.NumUserKeys, f.entries, f.deletions, f.userKeys)
	}
	return nil
}

// evictOneLocked evicts the entry the clock hand first finds unused.
func (c *tableCache) evictOneLocked() {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		if e.used.Swap(false) {
			c.hand++
			continue
		}
		c.removeLocked(c.hand)
		return
	}
}

// removeLocked takes the entry at ring index i out of the cache and drops
// the cache's reference.
func (c *tableCache) removeLocked(i int) {
	e := c.ring[i]
	last := len(c.ring) - 1
	c.ring[i] = c.ring[last]
	c.ring[last] = nil
	c.ring = c.ring[:last]
	delete(c.entries, e.meta.num)
	e.meta.tc.CompareAndSwap(e, nil)
	e.unref()
}

// evict removes table num from the cache, dropping its blocks from the
// block cache too: the table is being deleted.
func (c *tableCache) evict(num uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[num]
	if !ok {
		return
	}
	e.r.EvictFromCache()
	for i, x := range c.ring {
		if x == e {
			c.removeLocked(i)
			return
		}
	}
}

// open returns the number of tables held open by the cache.
func (c *tableCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// close evicts every entry.
func (c *tableCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.ring) > 0 {
		c.removeLocked(len(c.ring) - 1)
	}
}
