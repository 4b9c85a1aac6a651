package btree

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
	"github.com/lightningdb/lightning/plugins/btree/internal/pagecache"
	"github.com/lightningdb/lightning/vfs"
)

// Name is the engine's name, as Describe reports it and as the core
// records it in a database.
const Name = "btree"

// Version is the implementation's version, as Describe reports it.
const Version = "1.0.0"

// File names inside Options.Dir.
const (
	// DataName is the data file: every page of the tree.
	DataName = "btree.db"
	// dataTmpName is where a new data file is made before it is renamed
	// into place, so the data file always starts with two valid metas.
	dataTmpName = "btree.db.tmp"
	// LockName is the file locked while an Engine has the directory open.
	LockName = "LOCK"
)

// Engine is the B+tree Storage. See the package documentation.
type Engine struct {
	dir    string
	opts   Options
	fs     vfs.FS
	log    *slog.Logger
	lock   io.Closer
	p      *pager
	cache  interfaces.Cache // the private cache, closed with the engine; nil when injected
	mapper vfs.Mapper

	// state is the current read state. Readers load it without locks
	// (acquire); it is replaced under stateMu.
	state atomic.Pointer[readState]
	// stateMu serialises replacing the read state (write-buffer rotation
	// and commits). frozenCond, on it, wakes an Apply waiting for a
	// frozen buffer to be flushed. Lock order: writeMu, commitMu, stateMu.
	stateMu    sync.Mutex
	frozenCond *sync.Cond

	// writeMu serialises Apply and write-buffer rotation.
	writeMu sync.Mutex
	// appliedTs is the highest ts applied (or loaded).
	// INVARIANT: never decreases; every version in a write buffer has ts
	// <= appliedTs.
	appliedTs atomic.Uint64
	dupSeen   map[uint64]int // Apply's scratch; guarded by writeMu
	dupSeed   maphash.Seed
	order     []applyOrder // Apply's scratch; guarded by writeMu

	// commitMu serialises transactions and Check. fl, meta, leafRatio and
	// the registry of versions (under versionsMu too) belong to it.
	commitMu  sync.Mutex
	fl        freeList
	meta      page.Meta
	leafRatio float64
	inlineMax int

	versionsMu sync.Mutex
	versions   []*treeVersion

	// curMap is the newest memory map, reused by new versions while it
	// covers their page count. Guarded by commitMu.
	curMap *mapping

	durableTs atomic.Uint64
	// discardTs is the highest ts passed to SetDiscardTs (or recorded in
	// the meta). INVARIANT: never decreases.
	discardTs atomic.Uint64

	// failed holds the error that fail-stopped the engine.
	failed  atomic.Pointer[error]
	closed  atomic.Bool
	closing atomic.Bool // set by Close to stop background work early

	flushCh chan struct{}
	quit    chan struct{}
	bg      sync.WaitGroup

	// freePages and pendingPages mirror the free list's counts for Stats,
	// which must not wait for a transaction to end.
	freePages, pendingPages atomic.Int64

	commits, flushes, compactions, shrinks, relocated atomic.Int64
	pagesWritten, gcDropped, stalls, iterOpened       atomic.Int64
}

var _ interfaces.Storage = (*Engine)(nil)

// New opens the engine stored in opts.Dir on deps.FS, creating the
// directory and the data file when they do not exist. It holds a lock on
// the directory's LOCK file until Close: a second New on the same
// directory (and file system) fails with an error matching vfs.ErrLocked.
func New(opts Options, deps Deps) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	codecs, err := deps.codecMap()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		dir:       opts.Dir,
		opts:      opts,
		fs:        deps.FS,
		log:       deps.Logger.With("engine", Name, "dir", opts.Dir),
		leafRatio: 1.5,
		dupSeen:   make(map[uint64]int),
		dupSeed:   maphash.MakeSeed(),
		flushCh:   make(chan struct{}, 1),
		quit:      make(chan struct{}),
	}
	e.frozenCond = sync.NewCond(&e.stateMu)
	if err := vfs.MkdirAllDurable(e.fs, e.dir); err != nil {
		return nil, err
	}
	lock, err := e.fs.Lock(filepath.Join(e.dir, LockName))
	if err != nil {
		return nil, fmt.Errorf("lightning/btree: lock %s: %w", e.dir, err)
	}
	e.lock = lock
	cache := deps.Cache
	if cache == nil && opts.CacheSize > 0 {
		pc, err := pagecache.New(opts.CacheSize)
		if err != nil {
			_ = lock.Close()
			return nil, err
		}
		cache, e.cache = pc, pc
	}
	codec := deps.Codec
	if codec != nil && codec.ID() == interfaces.CodecNone {
		codec = nil
	}
	e.p = &pager{
		path:   filepath.Join(e.dir, DataName),
		cipher: deps.Cipher,
		codec:  codec,
		codecs: codecs,
		cache:  cache,
		ns:     rand.Uint64(),
	}
	if m, ok := e.fs.(vfs.Mapper); ok && !opts.DisableMMap && deps.Cipher == nil {
		e.mapper = m
		e.p.mapper = m
	}
	if err := e.open(); err != nil {
		e.closeFiles()
		return nil, err
	}
	e.bg.Add(1)
	go e.flushLoop()
	e.log.Debug("opened", "pages", e.meta.PageCount, "height", e.meta.Height, "durable_ts", e.meta.DurableTs,
		"page_size", e.p.pageSize, "mmap", e.mapper != nil)
	return e, nil
}

// open reads (or creates) the data file and builds the first read state.
func (e *Engine) open() error {
	tmp := filepath.Join(e.dir, dataTmpName)
	if err := e.fs.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lightning/btree: remove %s: %w", tmp, err)
	}
	if _, err := e.fs.Stat(e.p.path); errors.Is(err, fs.ErrNotExist) {
		if err := e.create(tmp); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("lightning/btree: stat %s: %w", e.p.path, err)
	}
	f, err := e.fs.OpenReadWrite(e.p.path)
	if err != nil {
		return fmt.Errorf("lightning/btree: open %s: %w", e.p.path, err)
	}
	e.p.f = f
	m, err := e.readMeta()
	if err != nil {
		return err
	}
	sealed := m.Flags&page.MetaFlagSealed != 0
	switch {
	case sealed && e.p.cipher == nil:
		return fmt.Errorf("lightning/btree: %s is encrypted and no cipher is configured: %w", e.p.path, interfaces.ErrIncompatible)
	case !sealed && e.p.cipher != nil:
		return fmt.Errorf("lightning/btree: %s is not encrypted and a cipher is configured: %w", e.p.path, interfaces.ErrIncompatible)
	}
	e.p.pageSize = int(m.PageSize)
	e.p.capacity = e.p.pageSize - page.HeaderSize - e.p.overhead()
	if e.p.capacity < e.p.pageSize/2 {
		return fmt.Errorf("lightning/btree: the cipher's overhead of %d bytes leaves too little of a %d-byte page: %w",
			e.p.overhead(), e.p.pageSize, interfaces.ErrInvalidArgument)
	}
	e.inlineMax = e.p.capacity / 4
	e.meta = m
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("lightning/btree: size of %s: %w", e.p.path, err)
	}
	if want := int64(m.PageCount) * int64(e.p.pageSize); size > want {
		// Pages a crashed transaction added, or a cut that did not reach
		// the disk: nothing the meta reaches.
		if err := f.Truncate(want); err != nil {
			return fmt.Errorf("lightning/btree: truncate %s: %w", e.p.path, err)
		}
	} else if size < want {
		return interfaces.Corruptf(e.p.path, size, "lightning/btree: file of %d bytes, its meta counts %d pages of %d", size, m.PageCount, e.p.pageSize)
	}
	v := &treeVersion{
		gen:       m.Gen,
		root:      m.Root,
		rootGen:   m.RootGen,
		height:    int(m.Height),
		pageCount: m.PageCount,
		versions:  m.Versions,
		durableTs: m.DurableTs,
	}
	e.p.fileSize.Store(int64(m.PageCount) * int64(e.p.pageSize))
	v.mapping = e.mappingFor(m.PageCount)
	if err := e.loadFreeList(v); err != nil {
		_ = v.mapping.unref()
		return err
	}
	e.registerVersion(v)
	e.noteFreeCounts()
	e.durableTs.Store(m.DurableTs)
	e.discardTs.Store(m.DiscardTs)
	e.appliedTs.Store(m.DurableTs)
	e.stateMu.Lock()
	e.publishLocked(&readState{mem: newMemtable(), big: newMemtable(), tree: v})
	e.stateMu.Unlock()
	return nil
}

// create makes a new data file with two empty metas, through a temporary
// file renamed into place, so a crash never leaves a data file without a
// valid meta.
func (e *Engine) create(tmp string) error {
	ps := e.opts.PageSize
	f, err := e.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("lightning/btree: create %s: %w", tmp, err)
	}
	buf := make([]byte, 2*ps)
	m := page.Meta{PageSize: uint32(ps), PageCount: 2}
	if e.p.cipher != nil {
		m.Flags |= page.MetaFlagSealed
	}
	page.PutMeta(buf[:ps], &m, 0)
	page.PutMeta(buf[ps:], &m, 1)
	_, err = f.WriteAt(buf, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lightning/btree: write %s: %w", tmp, err)
	}
	if err := e.fs.Rename(tmp, e.p.path); err != nil {
		return fmt.Errorf("lightning/btree: rename %s: %w", tmp, err)
	}
	if err := e.fs.SyncDir(e.dir); err != nil {
		return fmt.Errorf("lightning/btree: sync %s: %w", e.dir, err)
	}
	return nil
}

// readMeta reads both meta slots and returns the valid one with the highest
// generation. The page size is not known before a meta is read, so every
// valid size is tried.
func (e *Engine) readMeta() (page.Meta, error) {
	var best page.Meta
	found := false
	var problems []error
	for ps := page.MinPageSize; ps <= page.MaxPageSize; ps *= 2 {
		buf := make([]byte, ps)
		for slot := uint64(0); slot < 2; slot++ {
			n, err := e.p.f.ReadAt(buf, int64(slot)*int64(ps))
			if n < ps {
				if err != nil && !errors.Is(err, io.EOF) {
					return page.Meta{}, fmt.Errorf("lightning/btree: read meta of %s: %w", e.p.path, err)
				}
				continue
			}
			m, err := page.DecodeMeta(buf, slot)
			if err != nil {
				if errors.Is(err, page.ErrIncompatibleMeta) {
					return page.Meta{}, fmt.Errorf("lightning/btree: %s: %w: %w", e.p.path, interfaces.ErrIncompatible, err)
				}
				if ps == page.DefaultPageSize {
					problems = append(problems, fmt.Errorf("slot %d: %w", slot, err))
				}
				continue
			}
			if !found || m.Gen > best.Gen {
				best, found = m, true
			}
		}
	}
	if !found {
		return page.Meta{}, interfaces.Corruptf(e.p.path, 0, "lightning/btree: no valid meta page: %w", errors.Join(problems...))
	}
	return best, nil
}

// loadFreeList reads the free-list chain of the meta and builds the free
// set: the replay of its records, less the chain's own pages.
func (e *Engine) loadFreeList(v *treeVersion) error {
	m := e.meta
	var refs []freeRecordRef
	var recs []page.FreeRecord
	for id, gen := m.FreeHead, m.FreeHeadGen; id != 0; {
		if len(recs) >= int(m.FreeRecords) {
			return e.p.corrupt(id, "free-list chain is longer than the %d records its meta counts", m.FreeRecords)
		}
		data, more, err := e.p.readBlob(v, id, gen, page.TypeFreelist)
		if err != nil {
			return err
		}
		r, err := page.DecodeFreeRecord(data)
		if err != nil {
			return e.p.corrupt(id, "free-list record: %w", err)
		}
		refs = append(refs, freeRecordRef{page: id, gen: gen, pages: append([]uint64{id}, more...), snapshot: r.Kind == page.FreeSnapshot})
		recs = append(recs, r)
		if r.Kind == page.FreeSnapshot {
			if r.Prev != 0 {
				return e.p.corrupt(id, "free-list snapshot has a previous record")
			}
			break
		}
		if r.Prev == 0 {
			return e.p.corrupt(id, "free-list chain ends without a snapshot")
		}
		id, gen = r.Prev, r.PrevGen
	}
	if len(recs) != int(m.FreeRecords) {
		return interfaces.Corruptf(e.p.path, 0, "lightning/btree: free-list chain of %d records, meta counts %d", len(recs), m.FreeRecords)
	}
	var fl freeList
	for i := len(recs) - 1; i >= 0; i-- {
		r := &recs[i]
		for _, id := range r.Removes {
			fl.free.remove(id)
		}
		for _, id := range r.Adds {
			fl.free.add(id)
		}
		if r.TruncateTo != 0 {
			fl.free.truncate(r.TruncateTo)
		}
		fl.chain = append(fl.chain, refs[i])
	}
	if len(fl.chain) > 0 {
		fl.snapPages = len(fl.chain[0].pages)
	}
	for _, id := range fl.chainPages() {
		fl.free.remove(id)
	}
	for _, id := range fl.free.appendIDs(nil) {
		if id < 2 || id >= m.PageCount {
			return interfaces.Corruptf(e.p.path, 0, "lightning/btree: free list holds page %d, outside [2, %d)", id, m.PageCount)
		}
	}
	e.fl = fl
	return nil
}

// noteFreeCounts publishes the free list's counts for Stats. e.commitMu is
// held (or the engine is opening).
func (e *Engine) noteFreeCounts() {
	e.freePages.Store(int64(e.fl.free.count))
	e.pendingPages.Store(int64(e.fl.pendingCount()))
}

// mappingFor returns (with a reference) a memory map covering pageCount
// pages, or nil when the mmap path is off or mapping fails. e.commitMu is
// held (or the engine is opening).
func (e *Engine) mappingFor(pageCount uint64) *mapping {
	if e.mapper == nil {
		return nil
	}
	need := int64(pageCount) * int64(e.p.pageSize)
	if e.curMap != nil && int64(len(e.curMap.data)) >= need {
		return e.curMap.ref()
	}
	data, unmap, err := e.mapper.Map(e.p.f)
	if err != nil {
		e.log.Warn("mmap failed; reading with ReadAt", "err", err)
		e.dropMapping()
		return nil
	}
	if int64(len(data)) < need {
		_ = unmap()
		e.dropMapping()
		return nil
	}
	m := &mapping{data: data, unmap: unmap}
	m.refs.Store(1) // the engine's, as curMap
	e.dropMapping()
	e.curMap = m
	return m.ref()
}

// dropMapping stops new versions from using the current map (after the
// file was cut, or when it no longer covers the file). Versions that use it
// keep it until they are dropped.
func (e *Engine) dropMapping() {
	if e.curMap != nil {
		if err := e.curMap.unref(); err != nil {
			e.log.Warn("unmap", "err", err)
		}
		e.curMap = nil
	}
}

// Describe returns the engine's self-description.
func (e *Engine) Describe() interfaces.Descriptor {
	return interfaces.Descriptor{
		Kind:            interfaces.KindStorage,
		Name:            Name,
		Version:         Version,
		ContractVersion: interfaces.StorageContractVersion,
		Capabilities: []interfaces.Capability{
			interfaces.CapDurable,
			interfaces.CapDiscard,
			interfaces.CapCompact,
			interfaces.CapCheck,
		},
	}
}

func (e *Engine) checkOpen(op string) error {
	if e.closed.Load() {
		return fmt.Errorf("lightning/btree: %s: %w", op, interfaces.ErrClosed)
	}
	return nil
}

// checkWritable is checkOpen for the calls that write, which also refuse to
// run on a fail-stopped engine.
func (e *Engine) checkWritable(op string) error {
	if err := e.checkOpen(op); err != nil {
		return err
	}
	if p := e.failed.Load(); p != nil {
		return fmt.Errorf("lightning/btree: %s: %w (after: %w)", op, interfaces.ErrFailStopped, *p)
	}
	return nil
}

// Apply adds entries to the write buffer, as interfaces.Storage.Apply says.
// It checks the contract's preconditions and returns an error matching
// interfaces.ErrInvalidArgument, having changed nothing, when one fails.
// When the write buffer is full it is frozen and flushed in the
// background; when MaxFrozenBuffers are already waiting, Apply waits for a
// flush.
func (e *Engine) Apply(entries []interfaces.Entry) error {
	if err := e.checkWritable("apply"); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	for i := range entries {
		if err := interfaces.ValidateEntry(entries, i); err != nil {
			return fmt.Errorf("lightning/btree: apply: %w", err)
		}
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.checkWritable("apply"); err != nil {
		return err
	}
	if applied := e.appliedTs.Load(); entries[0].Ts <= applied {
		return fmt.Errorf("lightning/btree: apply: ts %d is not above the applied ts %d: %w",
			entries[0].Ts, applied, interfaces.ErrInvalidArgument)
	}
	if err := e.checkDuplicates(entries); err != nil {
		return err
	}
	s := e.state.Load()
	if s.mem.size.Load()+s.big.size.Load() >= e.opts.WriteBufferSize {
		if err := e.rotate(true); err != nil {
			return err
		}
		s = e.state.Load()
	}
	if len(entries) < sortedInsertMin {
		for i := range entries {
			en := &entries[i]
			s.mem.insert(en.Key, en.Ts, en.Kind, en.Value, nil)
		}
	} else {
		// A large batch goes in in key order, each search starting where
		// the previous one ended.
		// The sort compares the keys' 16-byte heads (as the memtable
		// does; see keyHeads) and reads the keys only on a tie.
		order := e.order[:0]
		for i := range entries {
			order = append(order, applyOrder{h: keyHeadsOf(entries[i].Key), i: int32(i)})
		}
		slices.SortFunc(order, func(a, b applyOrder) int {
			if c := cmp.Compare(a.h.a, b.h.a); c != 0 {
				return c
			}
			if c := cmp.Compare(a.h.b, b.h.b); c != 0 {
				return c
			}
			ea, eb := &entries[a.i], &entries[b.i]
			return page.Compare(ea.Key, ea.Ts, eb.Key, eb.Ts)
		})
		var f finger
		for _, o := range order {
			en := &entries[o.i]
			s.mem.insert(en.Key, en.Ts, en.Kind, en.Value, &f)
		}
		e.order = order
	}
	e.appliedTs.Store(entries[len(entries)-1].Ts)
	if s.mem.size.Load() >= e.youngLimit() {
		e.moveYoung()
	}
	return nil
}

// youngBufferSize is the size at which the small memtable of the active
// write buffer moves into the big one (at most an eighth of
// Options.WriteBufferSize).
const youngBufferSize = 8 << 20

func (e *Engine) youngLimit() int64 {
	return min(youngBufferSize, e.opts.WriteBufferSize/8)
}

// moveYoung moves the small memtable of the active write buffer into the
// big one and starts a new small one. e.writeMu is held.
//
// Why two memtables: under random keys, an insert into a skiplist of half
// a million versions spends its time on cache misses, about two per level
// below the distance to the previous insert. Batches of a thousand keys
// land some five hundred versions apart in such a buffer; moved as one
// sorted run of some thirty thousand versions, consecutive inserts land a
// few dozen apart, and the path of one is mostly in the cache for the
// next. The small memtable is small enough to stay mostly in the cache
// itself. Each version is inserted twice, and still costs about half as
// much (8 MiB measured best among 1, 4, 8 and 16).
func (e *Engine) moveYoung() {
	s := e.state.Load()
	if s.mem.empty() {
		return
	}
	s.mem.moveTo(s.big)
	e.stateMu.Lock()
	// Only a holder of writeMu replaces mem and big; a flush may have
	// replaced the frozen buffers and the tree meanwhile.
	cur := e.state.Load()
	e.publishLocked(&readState{mem: newMemtable(), big: cur.big, frozen: cur.frozen, tree: cur.tree})
	e.stateMu.Unlock()
}

// applyOrder is an entry of a batch being sorted: its key's heads and its
// index.
type applyOrder struct {
	h keyHeads
	i int32
}

// sortedInsertMin is the batch size from which Apply sorts a batch and
// inserts it in key order.
const sortedInsertMin = 64

// checkDuplicates reports a (key, ts) pair that appears twice in entries.
// Only entries of one ts can collide (earlier calls have lower ts), so
// only runs of equal ts are hashed. e.writeMu is held.
func (e *Engine) checkDuplicates(entries []interfaces.Entry) error {
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].Ts == entries[i].Ts {
			j++
		}
		if j-i > 1 {
			clear(e.dupSeen)
			for k := i; k < j; k++ {
				h := maphash.Bytes(e.dupSeed, entries[k].Key)
				if prev, ok := e.dupSeen[h]; ok && bytes.Equal(entries[prev].Key, entries[k].Key) {
					return fmt.Errorf("lightning/btree: apply: entry %d: (%q, %d) appears twice: %w",
						k, entries[k].Key, entries[k].Ts, interfaces.ErrInvalidArgument)
				} else if ok {
					// A hash collision: compare with every earlier key
					// of the run (rare enough to be quadratic).
					for p := i; p < k; p++ {
						if bytes.Equal(entries[p].Key, entries[k].Key) {
							return fmt.Errorf("lightning/btree: apply: entry %d: (%q, %d) appears twice: %w",
								k, entries[k].Key, entries[k].Ts, interfaces.ErrInvalidArgument)
						}
					}
				}
				e.dupSeen[h] = k
			}
		}
		i = j
	}
	return nil
}

// rotate freezes the write buffer and starts a new one, and asks the
// background flusher to flush. With wait, it first waits while
// MaxFrozenBuffers are frozen already. e.writeMu is held.
func (e *Engine) rotate(wait bool) error {
	// One frozen buffer per rotation: the small memtable joins the big
	// one first (outside stateMu, which a finishing flush needs).
	e.moveYoung()
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if wait && len(e.state.Load().frozen) >= e.opts.MaxFrozenBuffers {
		e.stalls.Add(1)
		for len(e.state.Load().frozen) >= e.opts.MaxFrozenBuffers {
			if err := e.checkWritable("apply"); err != nil {
				return err
			}
			e.signalFlush()
			e.frozenCond.Wait()
		}
	}
	s := e.state.Load()
	if s.big.empty() {
		return nil
	}
	frozen := make([]*memtable, 0, len(s.frozen)+1)
	frozen = append(frozen, s.big)
	frozen = append(frozen, s.frozen...)
	e.publishLocked(&readState{mem: newMemtable(), big: newMemtable(), frozen: frozen, tree: s.tree})
	e.signalFlush()
	return nil
}

func (e *Engine) signalFlush() {
	select {
	case e.flushCh <- struct{}{}:
	default:
	}
}

// flushLoop flushes frozen write buffers in the background.
func (e *Engine) flushLoop() {
	defer e.bg.Done()
	for {
		select {
		case <-e.quit:
			return
		case <-e.flushCh:
			if e.failed.Load() != nil {
				continue
			}
			if _, err := e.flushFrozen(); err != nil && !errors.Is(err, errClosing) {
				e.log.Error("background flush", "err", err)
			}
		}
	}
}

// Get returns a copy of the value of key's newest version with ts <=
// readTs, and that version's ts.
func (e *Engine) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if err := e.checkOpen("get"); err != nil {
		return nil, 0, err
	}
	s := e.acquire()
	defer e.release(s)
	if n := s.mem.get(key, readTs); n != nil {
		return memValue(n)
	}
	if n := s.big.get(key, readTs); n != nil {
		return memValue(n)
	}
	for _, m := range s.frozen {
		if n := m.get(key, readTs); n != nil {
			return memValue(n)
		}
	}
	return e.treeGet(s.tree, key, readTs)
}

func memValue(n *memNode) ([]byte, uint64, error) {
	if n.kind != interfaces.KindSet {
		// The sentinel itself: not finding a key is an answer, and
		// wrapping it would cost an allocation per miss.
		return nil, 0, interfaces.ErrNotFound
	}
	return append(make([]byte, 0, len(n.value)), n.value...), n.ts, nil
}

// treeGet looks key up in a tree version. It descends without a cursor:
// the version sought is in the leaf the branches lead to, or is the first
// of the next leaf — which can only hold key when the separator after the
// leaf has key's user key (then it takes the cursor's slower path).
func (e *Engine) treeGet(v *treeVersion, key []byte, readTs uint64) ([]byte, uint64, error) {
	if v.root == 0 {
		return nil, 0, interfaces.ErrNotFound
	}
	id, gen := v.root, v.rootGen
	hiSameKey := false
	for level := v.height - 1; level > 0; level-- {
		n, err := e.p.readNode(v, id, gen, page.TypeBranch)
		if err != nil {
			return nil, 0, err
		}
		b, err := page.ParseBranch(n.img)
		if err != nil {
			return nil, 0, e.p.corrupt(id, "%w", err)
		}
		i := b.Search(key, readTs)
		if i+1 < b.Len() {
			hiSameKey = b.SeparatorKeyIs(i+1, key)
		}
		ch := b.Child(i)
		id, gen = ch.Page, ch.Gen
	}
	n, err := e.p.readNode(v, id, gen, page.TypeLeaf)
	if err != nil {
		return nil, 0, err
	}
	l, err := page.ParseLeaf(n.img)
	if err != nil {
		return nil, 0, e.p.corrupt(id, "%w", err)
	}
	idx := l.SearchGE(key, readTs)
	if idx == l.Len() {
		if !hiSameKey {
			return nil, 0, interfaces.ErrNotFound
		}
		return e.treeGetNext(v, key, readTs)
	}
	return e.leafValue(v, &l, idx, key)
}

// treeGetNext is treeGet's path for a version that starts the next leaf.
func (e *Engine) treeGetNext(v *treeVersion, key []byte, readTs uint64) ([]byte, uint64, error) {
	var c cursor
	c.init(e.p, v)
	ok, err := c.seekGE(key, readTs)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, interfaces.ErrNotFound
	}
	return e.leafValue(v, c.leaf(), c.idx(), key)
}

// leafValue returns the value of entry idx of l if it is a value version
// of key.
func (e *Engine) leafValue(v *treeVersion, l *page.Leaf, idx int, key []byte) ([]byte, uint64, error) {
	en := l.Entry(idx)
	if !keyEquals(l.Prefix(), en.Key, key) || en.Kind != interfaces.KindSet {
		return nil, 0, interfaces.ErrNotFound
	}
	if en.Overflow() {
		val, err := e.p.readValue(v, en.Ovf)
		if err != nil {
			return nil, 0, err
		}
		return val, en.Ts, nil
	}
	return append(make([]byte, 0, len(en.Value)), en.Value...), en.Ts, nil
}

// keyEquals reports whether prefix+suffix equals key.
func keyEquals(prefix, suffix, key []byte) bool {
	return len(prefix)+len(suffix) == len(key) && bytes.HasPrefix(key, prefix) && bytes.Equal(key[len(prefix):], suffix)
}

// Flush merges every write buffer into the tree and commits it, as
// interfaces.Storage.Flush says, and returns the durable ts. Afterwards,
// when enough of the file is reusable, it moves pages down and truncates
// the file (see shrink.go).
func (e *Engine) Flush() (uint64, error) {
	if err := e.checkWritable("flush"); err != nil {
		return 0, err
	}
	e.writeMu.Lock()
	err := e.rotate(false)
	e.writeMu.Unlock()
	if err != nil {
		return 0, err
	}
	return e.flushFrozen()
}

// DurableTs returns the highest ts made durable; 0 when nothing is.
func (e *Engine) DurableTs() (uint64, error) {
	if err := e.checkOpen("durable ts"); err != nil {
		return 0, err
	}
	return e.durableTs.Load(), nil
}

// SetDiscardTs raises the discard ts; a lower ts is ignored. Flushes drop
// what it allows from the nodes they rewrite; Compact drops all of it.
func (e *Engine) SetDiscardTs(ts uint64) error {
	if err := e.checkOpen("set discard ts"); err != nil {
		return err
	}
	for {
		cur := e.discardTs.Load()
		if ts <= cur || e.discardTs.CompareAndSwap(cur, ts) {
			return nil
		}
	}
}

// Stats returns figures about the engine.
func (e *Engine) Stats() (interfaces.StorageStats, error) {
	if err := e.checkOpen("stats"); err != nil {
		return interfaces.StorageStats{}, err
	}
	s := e.acquire()
	mem := s.mem.size.Load() + s.big.size.Load()
	for _, m := range s.frozen {
		mem += m.size.Load()
	}
	tv := s.tree
	frozen := len(s.frozen)
	e.release(s)
	free, pending := e.freePages.Load(), e.pendingPages.Load()
	return interfaces.StorageStats{
		DiskBytes: int64(tv.pageCount) * int64(e.p.pageSize),
		MemBytes:  mem,
		AppliedTs: e.appliedTs.Load(),
		DurableTs: e.durableTs.Load(),
		DiscardTs: e.discardTs.Load(),
		Metrics: map[string]int64{
			"btree.pages":            int64(tv.pageCount),
			"btree.free_pages":       int64(free),
			"btree.pending_pages":    int64(pending),
			"btree.height":           int64(tv.height),
			"btree.versions":         int64(tv.versions),
			"btree.generation":       int64(tv.gen),
			"btree.frozen_buffers":   int64(frozen),
			"btree.commits":          e.commits.Load(),
			"btree.flushes":          e.flushes.Load(),
			"btree.compactions":      e.compactions.Load(),
			"btree.shrinks":          e.shrinks.Load(),
			"btree.relocated_nodes":  e.relocated.Load(),
			"btree.pages_written":    e.pagesWritten.Load(),
			"btree.gc_dropped":       e.gcDropped.Load(),
			"btree.write_stalls":     e.stalls.Load(),
			"btree.iterators_opened": e.iterOpened.Load(),
			"btree.cache_hits":       e.p.cacheHits.Load(),
			"btree.cache_misses":     e.p.cacheMisses.Load(),
			"btree.page_reads":       e.p.pageReads.Load(),
			"btree.map_reads":        e.p.mapReads.Load(),
		},
	}, nil
}

// Close stops background work, releases the files, the maps and the
// directory lock. It does not flush: the write buffers are dropped.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("lightning/btree: close: %w", interfaces.ErrClosed)
	}
	e.closing.Store(true)
	close(e.quit)
	// Wake an Apply waiting for a flush that will not come.
	e.stateMu.Lock()
	e.frozenCond.Broadcast()
	e.stateMu.Unlock()
	e.bg.Wait()
	// Wait for a Flush or Compact that raced with Close.
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	e.cutUncommittedTail()
	return e.closeFiles()
}

// cutUncommittedTail truncates the data file to the page count of the last
// committed meta. A flush that Close interrupted (or that failed) may have
// written pages past it; no meta reaches them, and open would cut them
// anyway, but until then they would count in the directory's size. Only a
// healthy engine cuts: a fail-stopped one leaves the file as the failure
// left it, for open to judge. A failed cut is logged, not returned: the
// file is as valid with the tail as without. e.commitMu is held, so no
// transaction is writing.
func (e *Engine) cutUncommittedTail() {
	if e.p.f == nil || e.failed.Load() != nil {
		return
	}
	want := int64(e.meta.PageCount) * int64(e.p.pageSize)
	size, err := e.p.f.Size()
	if err != nil || size <= want {
		return
	}
	if err := e.p.f.Truncate(want); err != nil {
		e.log.Warn("cut the uncommitted tail at close", "err", err)
	}
}

// closeFiles releases what open acquired.
func (e *Engine) closeFiles() error {
	var errs []error
	e.versionsMu.Lock()
	for _, v := range e.versions {
		if err := v.mapping.unref(); err != nil {
			errs = append(errs, err)
		}
	}
	e.versions = nil
	e.versionsMu.Unlock()
	e.dropMapping()
	if e.p.f != nil {
		if err := e.p.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("lightning/btree: close %s: %w", e.p.path, err))
		}
	}
	if e.cache != nil {
		_ = e.cache.Close()
	}
	if e.lock != nil {
		if err := e.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("lightning/btree: release lock: %w", err))
		}
	}
	return errors.Join(errs...)
}
