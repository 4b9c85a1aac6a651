package btree

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// A transaction changes the tree by copy-on-write: every node it changes
// is written to a page that no committed tree reaches, and the old pages
// are freed, to become reusable once no reader needs them. It ends with a
// commit: write the free-list record, sync the file, write the meta page of
// the new generation into the slot the previous generation did not use,
// sync again. A crash at any point leaves the previous meta and every page
// it reaches intact; a torn meta write fails its checksum, and the other
// slot wins.
//
// Transactions run one at a time, under Engine.commitMu. Any write or sync
// error fail-stops the engine: the in-memory free list no longer matches
// the disk, and only a reopen recovers it.

// errClosing stops a transaction because the engine is closing. The
// transaction's pages are unreachable; Close does not need them.
var errClosing = errors.New("lightning/btree: closing")

type txn struct {
	e    *Engine
	p    *pager
	fl   *freeList
	base *treeVersion
	gen  uint64
	// pageCount is the page count of the new tree: the base's, plus the
	// pages this transaction added at the end of the file, less the ones
	// its commit cut off.
	pageCount uint64
	// allocLimit, when non-zero, makes allocation prefer free pages below
	// it (shrinking: everything moves below the limit).
	allocLimit uint64
	// fromFree are the pages taken from the free set; freed the pages
	// this transaction made unreachable. Both go into the free-list delta.
	fromFree []uint64
	freed    []uint64
	// truncateTo is the page count the commit cuts the file to, or 0.
	truncateTo uint64
	// forceSnapshot makes the commit write a free-list snapshot.
	forceSnapshot bool

	root, rootGen uint64
	height        int
	versions      int64 // versions added less versions dropped

	w        pageWriter
	img      []byte // scratch for node images
	enc      []byte // scratch for compression
	pagesBuf []byte // scratch for built pages
	arena    []byte // keys copied out of images for the life of the txn
	sep      []byte // scratch for separators read from branches

	stats txnStats
}

type txnStats struct {
	nodesWritten, pagesWritten, valuesWritten, nodesFreed int64
}

// beginLocked starts a transaction on the current tree. e.commitMu is held.
func (e *Engine) beginLocked() *txn {
	base := e.state.Load().tree
	e.fl.release(e.oldestPinned())
	e.noteFreeCounts()
	t := &txn{
		e:         e,
		p:         e.p,
		fl:        &e.fl,
		base:      base,
		gen:       base.gen + 1,
		pageCount: base.pageCount,
		root:      base.root,
		rootGen:   base.rootGen,
		height:    base.height,
	}
	t.w = pageWriter{f: e.p.f, pageSize: e.p.pageSize}
	return t
}

// alloc returns n pages for the transaction to write: the lowest free ones
// (below allocLimit first, when set), then new pages at the end of the
// file.
func (t *txn) alloc(n int) []uint64 {
	ids := make([]uint64, 0, n)
	for range n {
		var id uint64
		var ok bool
		if t.allocLimit != 0 {
			id, ok = t.fl.free.lowest(t.allocLimit)
		}
		if !ok {
			id, ok = t.fl.free.lowest(^uint64(0))
		}
		if ok {
			t.fromFree = append(t.fromFree, id)
		} else {
			id = t.pageCount
			t.pageCount++
		}
		t.p.clearVerified(id)
		t.p.branches.forget(id)
		ids = append(ids, id)
	}
	return ids
}

// free frees pages the new tree no longer reaches.
func (t *txn) free(ids ...uint64) {
	t.freed = append(t.freed, ids...)
}

// writeBlob stores data as a blob of type typ and returns its pages.
func (t *txn) writeBlob(typ page.Type, data []byte, compress bool) ([]uint64, error) {
	stored, codec, err := t.p.encodeBlob(data, compress, t.enc)
	if err != nil {
		return nil, err
	}
	if codec != 0 {
		t.enc = stored[:0]
	}
	return t.writeStored(typ, len(data), stored, codec)
}

// writeStored writes a blob of rawLen bytes whose stored form (stored,
// compressed with codec or not) is already made.
func (t *txn) writeStored(typ page.Type, rawLen int, stored []byte, codec interfaces.CodecID) ([]uint64, error) {
	if t.e.closing.Load() {
		return nil, errClosing
	}
	ids := t.alloc(t.p.pagesFor(len(stored)))
	need := len(ids) * t.p.pageSize
	if cap(t.pagesBuf) < need {
		t.pagesBuf = make([]byte, need)
	}
	buf := t.pagesBuf[:need]
	if err := t.p.buildPages(buf, ids, t.gen, typ, stored, rawLen, codec); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if err := t.w.write(id, buf[i*t.p.pageSize:(i+1)*t.p.pageSize]); err != nil {
			return nil, t.e.failStop(fmt.Errorf("lightning/btree: write page %d of %s: %w", id, t.p.path, err))
		}
	}
	t.stats.pagesWritten += int64(len(ids))
	return ids, nil
}

// writeEncoded writes a node whose stored form is already made and puts
// the image in the cache.
func (t *txn) writeEncoded(typ page.Type, img, stored []byte, codec interfaces.CodecID) (uint64, error) {
	ids, err := t.writeStored(typ, len(img), stored, codec)
	if err != nil {
		return 0, err
	}
	t.p.cacheNode(ids[0], t.gen, typ, img, ids[1:])
	t.stats.nodesWritten++
	return ids[0], nil
}

// writeNode writes a node image and puts it in the cache.
func (t *txn) writeNode(typ page.Type, img []byte) (uint64, error) {
	ids, err := t.writeBlob(typ, img, typ == page.TypeLeaf)
	if err != nil {
		return 0, err
	}
	t.p.cacheNode(ids[0], t.gen, typ, img, ids[1:])
	t.stats.nodesWritten++
	return ids[0], nil
}

// writeValue writes an out-of-line value.
func (t *txn) writeValue(v []byte) (page.ValueRef, error) {
	ids, err := t.writeBlob(page.TypeValue, v, false)
	if err != nil {
		return page.ValueRef{}, err
	}
	t.stats.valuesWritten++
	return page.ValueRef{Page: ids[0], Gen: t.gen, Len: uint32(len(v))}, nil
}

// freeValue frees the pages of an out-of-line value.
func (t *txn) freeValue(ref page.ValueRef) error {
	ids, err := t.p.blobPages(t.base, ref.Page, ref.Gen, page.TypeValue)
	if err != nil {
		return err
	}
	t.free(ids...)
	return nil
}

// keep copies b into the transaction's arena, for keys that must outlive
// the image they were read from within the transaction.
func (t *txn) keep(b []byte) []byte {
	if len(b) > 16<<10 {
		return append([]byte(nil), b...)
	}
	if len(t.arena)+len(b) > cap(t.arena) {
		// Chunks grow from 4 KiB to 256 KiB, so a transaction that
		// touches one leaf (a flush of a few versions) allocates little.
		t.arena = make([]byte, 0, max(len(b), min(256<<10, max(4<<10, 2*cap(t.arena)))))
	}
	n := len(t.arena)
	t.arena = append(t.arena, b...)
	return t.arena[n : n+len(b) : n+len(b)]
}

// commit makes the transaction durable with the given durable ts and
// returns the new tree version. Any failure fail-stops the engine.
func (t *txn) commit(durableTs, discardTs uint64) (*treeVersion, error) {
	e := t.e
	// Cut the file at the run of reusable pages that ends it: those pages
	// are in the free set, so no reader can reach them.
	if k := t.fl.free.tailStart(t.pageCount); k < t.pageCount {
		t.fl.free.truncate(k)
		t.truncateTo, t.pageCount = k, k
	}
	head, headGen, records, snapPages, err := t.writeFreeRecord()
	if err != nil {
		return nil, err
	}
	if err := t.w.flush(); err != nil {
		return nil, e.failStop(fmt.Errorf("lightning/btree: write %s: %w", t.p.path, err))
	}
	if err := t.p.f.Sync(); err != nil {
		return nil, e.failStop(fmt.Errorf("lightning/btree: sync %s: %w", t.p.path, err))
	}
	m := page.Meta{
		PageSize:      uint32(t.p.pageSize),
		Gen:           t.gen,
		Root:          t.root,
		RootGen:       t.rootGen,
		Height:        uint32(t.height),
		PageCount:     t.pageCount,
		FreeHead:      head,
		FreeHeadGen:   headGen,
		FreeRecords:   records,
		FreeSnapPages: snapPages,
		DurableTs:     durableTs,
		DiscardTs:     discardTs,
		Versions:      uint64(int64(t.base.versions) + t.versions),
	}
	if t.p.cipher != nil {
		m.Flags |= page.MetaFlagSealed
	}
	if t.p.codec != nil {
		m.Codec = uint8(t.p.codec.ID())
	}
	buf := make([]byte, t.p.pageSize)
	page.PutMeta(buf, &m, t.gen%2)
	if _, err := t.p.f.WriteAt(buf, int64(t.gen%2)*int64(t.p.pageSize)); err != nil {
		return nil, e.failStop(fmt.Errorf("lightning/btree: write meta page of %s: %w", t.p.path, err))
	}
	if err := t.p.f.Sync(); err != nil {
		return nil, e.failStop(fmt.Errorf("lightning/btree: sync meta page of %s: %w", t.p.path, err))
	}
	// Durable. The pages this transaction freed wait for the readers of
	// older versions.
	if len(t.freed) > 0 {
		slices.Sort(t.freed)
		t.fl.pending = append(t.fl.pending, pendingFree{gen: t.gen, ids: t.freed})
	}
	if t.truncateTo != 0 {
		// The free-list record may have taken pages at the new end, so
		// the file is cut at the final page count, not at truncateTo.
		if err := t.p.f.Truncate(int64(t.pageCount) * int64(t.p.pageSize)); err != nil {
			// The meta no longer counts the cut pages; a longer file is
			// only wasted space, cut again at the next open.
			e.log.Warn("truncate", "path", t.p.path, "pages", t.pageCount, "err", err)
		}
		e.dropMapping()
		e.shrinks.Add(1)
	}
	v := &treeVersion{
		gen:       t.gen,
		root:      t.root,
		rootGen:   t.rootGen,
		height:    t.height,
		pageCount: t.pageCount,
		versions:  m.Versions,
		durableTs: durableTs,
		mapping:   e.mappingFor(t.pageCount),
	}
	e.registerVersion(v)
	e.noteFreeCounts()
	e.p.fileSize.Store(int64(t.pageCount) * int64(t.p.pageSize))
	e.meta = m
	e.commits.Add(1)
	e.pagesWritten.Add(t.stats.pagesWritten)
	return v, nil
}

// writeFreeRecord writes the transaction's free-list record, if it needs
// one, and returns the new chain head.
func (t *txn) writeFreeRecord() (head, headGen uint64, records, snapPages uint32, err error) {
	fl := t.fl
	records, snapPages = uint32(len(fl.chain)), uint32(fl.snapPages)
	if len(fl.chain) > 0 {
		last := fl.chain[len(fl.chain)-1]
		head, headGen = last.page, last.gen
	}
	if t.allocLimit != 0 {
		for _, id := range fl.chainPages() {
			if id >= t.allocLimit {
				t.forceSnapshot = true
			}
		}
	}
	changed := len(t.freed) > 0 || len(t.fromFree) > 0 || t.truncateTo != 0
	if !changed && !t.forceSnapshot {
		return head, headGen, records, snapPages, nil
	}
	snapshot := t.forceSnapshot || len(fl.chain) == 0 || len(fl.chain) >= max(minFreeRecords, fl.snapPages)
	if !snapshot {
		r := page.FreeRecord{Kind: page.FreeDelta, Prev: head, PrevGen: headGen, TruncateTo: t.truncateTo}
		r.Adds = slices.Sorted(slices.Values(t.freed))
		r.Removes = slices.Sorted(slices.Values(t.fromFree))
		// A page freed and taken again in one transaction (it cannot be:
		// freed pages wait for the commit) would be in both lists; the
		// replay applies removals before additions.
		data := page.AppendFreeRecord(nil, &r)
		ids, err := t.writeBlob(page.TypeFreelist, data, false)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		fl.chain = append(fl.chain, freeRecordRef{page: ids[0], gen: t.gen, pages: ids})
		return ids[0], t.gen, records + 1, snapPages, nil
	}
	// A snapshot: the whole set as of this commit, which frees the old
	// chain.
	old := fl.chainPages()
	t.free(old...)
	set := fl.persisted()
	set = append(set, t.freed...)
	slices.Sort(set)
	set = slices.Compact(set)
	r := page.FreeRecord{Kind: page.FreeSnapshot, Adds: set}
	n := t.p.pagesFor(len(page.AppendFreeRecord(nil, &r)))
	// The snapshot's own pages leave the set; removing ids never lengthens
	// the encoding, so n pages still hold it.
	ids := t.alloc(n)
	r.Adds = slices.DeleteFunc(set, func(id uint64) bool { return slices.Contains(ids, id) })
	data := page.AppendFreeRecord(nil, &r)
	stored, _, err := t.p.encodeBlob(data, false, nil)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// Taking the pages out of the set may have shortened the encoding by
	// a page; the last page is then written empty (a blob may end with
	// empty pages), rather than handed back, which would change the set
	// just encoded.
	if need := t.p.pagesFor(len(stored)); need > len(ids) {
		return 0, 0, 0, 0, t.e.failStop(fmt.Errorf("lightning/btree: free-list snapshot needs %d pages, %d allocated", need, len(ids)))
	}
	buf := make([]byte, len(ids)*t.p.pageSize)
	if err := t.p.buildPages(buf, ids, t.gen, page.TypeFreelist, stored, len(data), 0); err != nil {
		return 0, 0, 0, 0, err
	}
	for i, id := range ids {
		if err := t.w.write(id, buf[i*t.p.pageSize:(i+1)*t.p.pageSize]); err != nil {
			return 0, 0, 0, 0, t.e.failStop(fmt.Errorf("lightning/btree: write page %d of %s: %w", id, t.p.path, err))
		}
	}
	t.stats.pagesWritten += int64(len(ids))
	fl.chain = append(fl.chain[:0], freeRecordRef{page: ids[0], gen: t.gen, pages: ids, snapshot: true})
	fl.snapPages = len(ids)
	return ids[0], t.gen, 1, uint32(len(ids)), nil
}

// pageWriter coalesces writes of consecutive pages into one WriteAt.
type pageWriter struct {
	f interface {
		WriteAt(p []byte, off int64) (int, error)
	}
	pageSize int
	start    uint64
	buf      []byte
}

const maxWriteRun = 1 << 20

func (w *pageWriter) write(id uint64, pg []byte) error {
	if len(w.buf) > 0 && (id != w.start+uint64(len(w.buf)/w.pageSize) || len(w.buf) >= maxWriteRun) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if len(w.buf) == 0 {
		w.start = id
	}
	w.buf = append(w.buf, pg...)
	return nil
}

func (w *pageWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.WriteAt(w.buf, int64(w.start)*int64(w.pageSize))
	w.buf = w.buf[:0]
	return err
}

// failStop records err as the reason the engine refuses writes, and
// returns it wrapped so that it matches interfaces.ErrFailStopped.
func (e *Engine) failStop(err error) error {
	if errors.Is(err, errClosing) {
		return err
	}
	e.failed.CompareAndSwap(nil, &err)
	e.log.Error("fail-stopped", "err", err)
	return fmt.Errorf("%w: %w", interfaces.ErrFailStopped, err)
}
