package btree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
	"github.com/lightningdb/lightning/vfs"
)

// The pager reads and writes blobs — node images, out-of-line values and
// free-list records — as chains of pages, checking, sealing and compressing
// them, and keeps decoded node images in the cache.
//
// Every page read is checked against what the reader expected: the
// checksum, the page's own id, the type and the generation recorded by the
// pointer that led to it. A page that fails is a *CorruptionError naming
// the file and the page's offset; so is a page id at or beyond the page
// count of the tree version being read, which is how a damaged pointer can
// never send a read past the end of the file or of the memory map.

type pager struct {
	f        vfs.File
	path     string
	pageSize int
	// capacity is the payload bytes a page holds: the page less its
	// header and, when sealing, the cipher's overhead.
	capacity int
	cipher   interfaces.Cipher
	codec    interfaces.Codec // nil: leaves are written uncompressed
	codecs   map[interfaces.CodecID]interfaces.Codec
	cache    interfaces.Cache // nil: no cache
	ns       uint64

	// mapper is the file system's Mapper when the mmap path is on.
	mapper vfs.Mapper
	// verified has one bit per page id: set once a single-page,
	// uncompressed node read from the map passed every check, so later
	// reads of it are zero-copy and check only its header. A page's bit
	// is cleared when a transaction allocates it.
	verified atomic.Pointer[[]atomic.Uint64]
	verifyMu sync.Mutex // serialises growth of verified

	bufs    sync.Pool // *[]byte of pageSize, for reads
	scratch sync.Pool // *[]byte, for assembling the stored bytes of chains

	branches branchTable

	// fileSize is the size of the file as the last commit left it. Reads
	// from a map stay below it: a map made before the file was cut is
	// longer than the file, and touching a page past the end faults. A
	// valid pointer never leads there (pages are cut only when no reader
	// can reach them); a damaged one must not crash the process.
	fileSize atomic.Int64

	cacheHits, cacheMisses, pageReads, mapReads atomic.Int64
}

// mapping is one memory map of the file. Tree versions share it; it is
// unmapped when the last version using it is dropped.
type mapping struct {
	data  []byte
	unmap func() error
	refs  atomic.Int32
}

func (m *mapping) ref() *mapping {
	if m != nil {
		m.refs.Add(1)
	}
	return m
}

func (m *mapping) unref() error {
	if m == nil || m.refs.Add(-1) != 0 {
		return nil
	}
	return m.unmap()
}

func (p *pager) getBuf() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.pageSize)
	return &b
}

func (p *pager) corrupt(id uint64, format string, args ...any) error {
	return interfaces.Corruptf(p.path, int64(id)*int64(p.pageSize), "lightning/btree: page %d: "+format, append([]any{id}, args...)...)
}

func (p *pager) sealed() bool { return p.cipher != nil }

// readRaw returns page id's bytes: a slice of the map when there is one,
// else a pooled buffer the caller returns with putBuf (buf is non-nil).
func (p *pager) readRaw(v *treeVersion, id uint64) (raw []byte, buf *[]byte, err error) {
	if id < 2 || id >= v.pageCount {
		return nil, nil, p.corrupt(id, "page id outside [2, %d)", v.pageCount)
	}
	off := int64(id) * int64(p.pageSize)
	if m := v.mapping; m != nil && off+int64(p.pageSize) <= int64(len(m.data)) && off+int64(p.pageSize) <= p.fileSize.Load() {
		p.mapReads.Add(1)
		return m.data[off : off+int64(p.pageSize) : off+int64(p.pageSize)], nil, nil
	}
	buf = p.getBuf()
	p.pageReads.Add(1)
	n, err := p.f.ReadAt(*buf, off)
	if n == p.pageSize {
		return *buf, buf, nil
	}
	p.bufs.Put(buf)
	if err == nil || errors.Is(err, io.EOF) {
		return nil, nil, p.corrupt(id, "file ends within the page")
	}
	return nil, nil, fmt.Errorf("lightning/btree: read page %d of %s: %w", id, p.path, err)
}

func (p *pager) putBuf(b *[]byte) {
	if b != nil {
		p.bufs.Put(b)
	}
}

// checkPage verifies raw, the page id, against what the reader expects.
func (p *pager) checkPage(raw []byte, id, gen uint64, t page.Type, cont bool) (page.Header, error) {
	h, err := page.Verify(raw)
	if err != nil {
		return h, p.corrupt(id, "%w", err)
	}
	switch {
	case h.ID != id:
		return h, p.corrupt(id, "holds page %d", h.ID)
	case h.Type != t:
		return h, p.corrupt(id, "is a %v page, expected %v", h.Type, t)
	case h.Gen != gen:
		return h, p.corrupt(id, "has generation %d, its pointer says %d", h.Gen, gen)
	case (h.Flags&page.FlagContinuation != 0) != cont:
		return h, p.corrupt(id, "continuation flag is wrong")
	case (h.Flags&page.FlagSealed != 0) != p.sealed():
		return h, p.corrupt(id, "sealed flag does not match the file")
	}
	return h, nil
}

// payload returns the plaintext payload of a checked page, appending it to
// dst when the page is sealed (or when copy is set) and aliasing raw
// otherwise.
func (p *pager) payload(dst, raw []byte, h page.Header, copyOut bool) ([]byte, error) {
	pl := page.Payload(raw, h)
	if p.cipher == nil {
		if copyOut {
			return append(dst, pl...), nil
		}
		return pl, nil
	}
	var ad [21]byte
	out, err := p.cipher.Open(dst, pl, page.AppendAD(ad[:0], h.ID, h.Gen, h.Type))
	if err != nil {
		return nil, p.corrupt(h.ID, "open sealed payload: %w", err)
	}
	return out, nil
}

// blobRead is a blob's stored bytes (the payloads of its pages, opened
// when sealed, before decompression) as gather collects them, and the
// pooled memory they may alias, which release returns.
type blobRead struct {
	first  page.Header
	stored []byte
	// nmore is the number of continuation pages; their ids are in
	// moreArr, and past its length in moreSpill (a leaf chain is at most
	// four pages). No slice points into the struct itself, which keeps it
	// on its caller's stack.
	nmore     int
	moreArr   [4]uint64
	moreSpill []uint64
	// owned says stored is a fresh slice holding the whole blob, which the
	// caller may keep (gather's own flag, for an uncompressed blob).
	owned   bool
	buf     *[]byte // pooled page buffer stored aliases, or nil
	scratch *[]byte // pooled scratch stored aliases, or nil
}

// maxPooledScratch bounds the scratch buffers kept for reuse: node chains
// need a few pages; a long value's buffer is dropped rather than held.
const maxPooledScratch = 256 << 10

// gather reads the pages of the blob whose first page is id, written at
// gen, of type t, checking each, and collects its stored bytes into r. A
// single unsealed page's payload is used in place (the map, or a pooled
// page buffer); other blobs are assembled in a pooled scratch buffer, or,
// when own is set and the blob is uncompressed, in a fresh slice the
// caller may keep (r.owned). The caller calls release(r) when done with
// r.stored, also after an error.
func (p *pager) gather(v *treeVersion, id, gen uint64, t page.Type, own bool, r *blobRead) error {
	raw, buf, err := p.readRaw(v, id)
	if err != nil {
		return err
	}
	h, err := p.checkPage(raw, id, gen, t, false)
	if err != nil {
		p.putBuf(buf)
		return err
	}
	r.first = h
	if h.Next == 0 && p.cipher == nil {
		r.stored, r.buf = page.Payload(raw, h), buf
		return nil
	}
	var dst []byte
	if own && h.Flags&page.FlagCompressed == 0 {
		// The stored bytes are the blob: read them where they will stay.
		dst = make([]byte, 0, min(int(h.RawLen), interfaces.MaxDecodedLen)+p.capacity)
		r.owned = true
	} else {
		r.scratch = p.getScratch()
		dst = (*r.scratch)[:0]
	}
	stored, err := p.payload(dst, raw, h, true)
	p.putBuf(buf)
	if err != nil {
		return err
	}
	// The writer fills every page but the last (a free-list snapshot may
	// end with one empty page), and stores a compressed blob only when it
	// is shorter than the raw one: the bound stops a damaged chain that
	// loops.
	maxPages := uint64(h.RawLen)/uint64(p.capacity) + 3
	for next := h.Next; next != 0; {
		if uint64(r.nmore)+1 >= maxPages {
			r.keepScratch(stored)
			return p.corrupt(id, "blob chain is longer than its length allows")
		}
		raw, buf, err := p.readRaw(v, next)
		if err != nil {
			r.keepScratch(stored)
			return err
		}
		h, err := p.checkPage(raw, next, gen, t, true)
		if err == nil {
			stored, err = p.payload(stored, raw, h, true)
		}
		p.putBuf(buf)
		if err != nil {
			r.keepScratch(stored)
			return err
		}
		r.addMore(next)
		next = h.Next
	}
	r.stored = stored
	r.keepScratch(stored)
	return nil
}

func (r *blobRead) addMore(id uint64) {
	if r.nmore < len(r.moreArr) {
		r.moreArr[r.nmore] = id
	} else {
		r.moreSpill = append(r.moreSpill, id)
	}
	r.nmore++
}

// moreID returns the id of continuation page i.
func (r *blobRead) moreID(i int) uint64 {
	if i < len(r.moreArr) {
		return r.moreArr[i]
	}
	return r.moreSpill[i-len(r.moreArr)]
}

// appendMore appends the continuation page ids to dst.
func (r *blobRead) appendMore(dst []uint64) []uint64 {
	for i := range r.nmore {
		dst = append(dst, r.moreID(i))
	}
	return dst
}

// keepScratch records the (possibly grown) buffer stored lives in as the
// scratch to return to the pool, so that growth is kept.
func (r *blobRead) keepScratch(stored []byte) {
	if r.scratch != nil {
		*r.scratch = stored[:0]
	}
}

// release returns the pooled memory r.stored may alias. r.stored must not
// be used afterwards.
func (p *pager) release(r *blobRead) {
	p.putBuf(r.buf)
	if r.scratch != nil && cap(*r.scratch) <= maxPooledScratch {
		p.scratch.Put(r.scratch)
	}
	r.buf, r.scratch, r.stored = nil, nil, nil
}

func (p *pager) getScratch() *[]byte {
	if b, ok := p.scratch.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4*p.pageSize)
	return &b
}

// readBlob reads the blob whose first page is id, written at gen, of type
// t, and returns its decoded bytes (never aliasing a pooled buffer or the
// map) and the ids of its continuation pages.
func (p *pager) readBlob(v *treeVersion, id, gen uint64, t page.Type) ([]byte, []uint64, error) {
	var r blobRead
	err := p.gather(v, id, gen, t, true, &r)
	defer p.release(&r)
	if err != nil {
		return nil, nil, err
	}
	var more []uint64
	if r.nmore > 0 {
		more = r.appendMore(make([]uint64, 0, r.nmore))
	}
	if r.owned {
		if len(r.stored) != int(r.first.RawLen) {
			return nil, nil, p.corrupt(id, "blob of %d bytes, its header says %d", len(r.stored), r.first.RawLen)
		}
		return r.stored, more, nil
	}
	data, err := p.decode(nil, id, r.first, r.stored)
	if err != nil {
		return nil, nil, err
	}
	return data, more, nil
}

func (p *pager) overhead() int {
	if p.cipher == nil {
		return 0
	}
	return p.cipher.Overhead()
}

// decode appends the blob held in stored, decompressed when its first page
// says so, to dst, and checks its length against the header. A nil dst is
// given a fresh slice of exactly the blob's length.
func (p *pager) decode(dst []byte, id uint64, first page.Header, stored []byte) ([]byte, error) {
	base := len(dst)
	if first.Flags&page.FlagCompressed == 0 {
		if len(stored) != int(first.RawLen) {
			return nil, p.corrupt(id, "blob of %d bytes, its header says %d", len(stored), first.RawLen)
		}
		if dst == nil {
			// append to nil allocates without clearing what it copies over.
			return append([]byte(nil), stored...), nil
		}
		return append(dst, stored...), nil
	}
	c, ok := p.codecs[interfaces.CodecID(first.Codec)]
	if !ok {
		return nil, fmt.Errorf("lightning/btree: page %d of %s is compressed with codec %d, which is not configured: %w",
			id, p.path, first.Codec, interfaces.ErrIncompatible)
	}
	if dst == nil {
		dst = make([]byte, 0, min(int(first.RawLen), interfaces.MaxDecodedLen))
	}
	out, err := c.Decode(dst, stored)
	if err != nil {
		return nil, p.corrupt(id, "decompress: %w", err)
	}
	if len(out)-base != int(first.RawLen) {
		return nil, p.corrupt(id, "blob decodes to %d bytes, its header says %d", len(out)-base, first.RawLen)
	}
	return out, nil
}

// Cached node values are the image prefixed by its generation, its type
// and the ids of its continuation pages:
//
//	0  8  generation
//	8  1  page type
//	9  4  continuation page count c
//	13 8c continuation page ids
//	.     image
const cachedHeader = 13

// node is a validated node image and the pages it occupies beyond the
// first.
type node struct {
	img  []byte
	more []byte // continuation page ids, 8 bytes each
}

func (n *node) pages(first uint64) []uint64 {
	ids := make([]uint64, 1, 1+len(n.more)/8)
	ids[0] = first
	for b := n.more; len(b) >= 8; b = b[8:] {
		ids = append(ids, binary.LittleEndian.Uint64(b))
	}
	return ids
}

func (p *pager) cacheKey(id uint64) interfaces.CacheKey {
	return interfaces.CacheKey{Namespace: p.ns, Offset: id}
}

// readNode returns the validated image of the node at (id, gen) of type t.
func (p *pager) readNode(v *treeVersion, id, gen uint64, t page.Type) (node, error) {
	if t == page.TypeBranch {
		if n, ok := p.branches.get(id, gen); ok {
			return n, nil
		}
		if n, ok, err := p.readMappedNode(v, id, gen, t); ok || err != nil {
			if err != nil {
				return node{}, err
			}
			// The table outlives any one map: it keeps a copy.
			n = node{img: append([]byte(nil), n.img...)}
			p.branches.put(id, gen, n)
			return n, nil
		}
		// readNodeSlow puts what it reads from the file in the table
		// (cacheNode).
		return p.readNodeSlow(v, id, gen, t)
	}
	return p.readNodeSlow(v, id, gen, t)
}

// branch returns a parsed view of the branch at (id, gen), from the branch
// table when it holds it (the view is shared and immutable: every descent
// passes through the same few branches, and parses none of them).
func (p *pager) branch(v *treeVersion, id, gen uint64) (*page.Branch, error) {
	if b, ok := p.branches.getParsed(id, gen); ok {
		return b, nil
	}
	n, err := p.readNode(v, id, gen, page.TypeBranch)
	if err != nil {
		return nil, err
	}
	b, err := page.ParseBranch(n.img)
	if err != nil {
		return nil, p.corrupt(id, "%w", err)
	}
	return &b, nil
}

// readNodeSlow is readNode past the branch table: the cache, the map, the
// file.
func (p *pager) readNodeSlow(v *treeVersion, id, gen uint64, t page.Type) (node, error) {
	if p.cache != nil {
		if c, ok := p.cache.Get(p.cacheKey(id)); ok && len(c) >= cachedHeader &&
			binary.LittleEndian.Uint64(c) == gen && page.Type(c[8]) == t {
			p.cacheHits.Add(1)
			nmore := int(binary.LittleEndian.Uint32(c[9:]))
			if cachedHeader+8*nmore <= len(c) {
				return node{img: c[cachedHeader+8*nmore:], more: c[cachedHeader : cachedHeader+8*nmore]}, nil
			}
		}
		p.cacheMisses.Add(1)
	}
	if n, ok, err := p.readMappedNode(v, id, gen, t); ok || err != nil {
		return n, err
	}
	return p.loadNode(v, id, gen, t)
}

// loadNode reads, decodes and validates the node at (id, gen) and stores
// it in the cache (a branch, in the branch table). The image is decoded
// straight into the cached value, so a node read from the file costs one
// allocation: a full scan of a cold cache reads every leaf this way.
func (p *pager) loadNode(v *treeVersion, id, gen uint64, t page.Type) (node, error) {
	var r blobRead
	err := p.gather(v, id, gen, t, false, &r)
	defer p.release(&r)
	if err != nil {
		return node{}, err
	}
	hdr := cachedHeader + 8*r.nmore
	c := make([]byte, hdr, hdr+min(int(r.first.RawLen), interfaces.MaxDecodedLen))
	c, err = p.decode(c, id, r.first, r.stored)
	if err != nil {
		return node{}, err
	}
	img := c[hdr:len(c):len(c)]
	if err := validateImage(img, t); err != nil {
		return node{}, p.corrupt(id, "%v image: %w", t, err)
	}
	binary.LittleEndian.PutUint64(c, gen)
	c[8] = byte(t)
	binary.LittleEndian.PutUint32(c[9:], uint32(r.nmore))
	for i := range r.nmore {
		binary.LittleEndian.PutUint64(c[cachedHeader+8*i:], r.moreID(i))
	}
	n := node{img: img, more: c[cachedHeader:hdr:hdr]}
	if t == page.TypeBranch {
		// Branches live in the branch table, not the shared cache.
		p.branches.put(id, gen, n)
	} else if p.cache != nil {
		p.cache.Set(p.cacheKey(id), c, int64(len(c)))
	}
	return n, nil
}

func validateImage(img []byte, t page.Type) error {
	if t == page.TypeLeaf {
		return page.ValidateLeaf(img)
	}
	return page.ValidateBranch(img)
}

// cacheNode builds the cached form of a node image and stores it.
func (p *pager) cacheNode(id, gen uint64, t page.Type, img []byte, more []uint64) node {
	if t == page.TypeBranch {
		// Branches live in the branch table, not the shared cache.
		n := node{img: append([]byte(nil), img...), more: packIDs(more)}
		p.branches.put(id, gen, n)
		return n
	}
	c := make([]byte, cachedHeader+8*len(more)+len(img))
	binary.LittleEndian.PutUint64(c, gen)
	c[8] = byte(t)
	binary.LittleEndian.PutUint32(c[9:], uint32(len(more)))
	for i, m := range more {
		binary.LittleEndian.PutUint64(c[cachedHeader+8*i:], m)
	}
	copy(c[cachedHeader+8*len(more):], img)
	if p.cache != nil {
		p.cache.Set(p.cacheKey(id), c, int64(len(c)))
	}
	return node{img: c[cachedHeader+8*len(more):], more: c[cachedHeader : cachedHeader+8*len(more)]}
}

// readMappedNode serves a single-page, uncompressed node straight from the
// map. ok is false when the node is not such a page (or there is no map):
// the caller then reads it the ordinary way.
func (p *pager) readMappedNode(v *treeVersion, id, gen uint64, t page.Type) (n node, ok bool, err error) {
	m := v.mapping
	if m == nil || id < 2 || id >= v.pageCount {
		return node{}, false, nil
	}
	off := int(id) * p.pageSize
	if off+p.pageSize > len(m.data) || int64(off+p.pageSize) > p.fileSize.Load() {
		return node{}, false, nil
	}
	raw := m.data[off : off+p.pageSize : off+p.pageSize]
	if p.isVerified(id) {
		// Verified since it was written: check only that it is still the
		// node the pointer means (a bit left set by mistake must not serve
		// another page).
		ln := binary.LittleEndian.Uint32(raw[32:])
		if page.Type(raw[4]) == t && raw[5] == 0 && binary.LittleEndian.Uint64(raw[8:]) == id &&
			binary.LittleEndian.Uint64(raw[16:]) == gen && binary.LittleEndian.Uint64(raw[24:]) == 0 &&
			int(ln) <= p.pageSize-page.HeaderSize {
			p.mapReads.Add(1)
			return node{img: raw[page.HeaderSize : page.HeaderSize+int(ln)]}, true, nil
		}
		p.clearVerified(id)
		return node{}, false, nil
	}
	h, err := page.ParseHeader(raw)
	if err != nil || h.Next != 0 || h.Flags != 0 {
		return node{}, false, nil
	}
	if _, err := p.checkPage(raw, id, gen, t, false); err != nil {
		return node{}, true, err
	}
	img := page.Payload(raw, h)
	if len(img) != int(h.RawLen) {
		return node{}, true, p.corrupt(id, "blob of %d bytes, its header says %d", len(img), h.RawLen)
	}
	if err := validateImage(img, t); err != nil {
		return node{}, true, p.corrupt(id, "%v image: %w", t, err)
	}
	p.setVerified(id)
	p.mapReads.Add(1)
	return node{img: img}, true, nil
}

func packIDs(ids []uint64) []byte {
	if len(ids) == 0 {
		return nil
	}
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint64(b[8*i:], id)
	}
	return b
}

func (p *pager) isVerified(id uint64) bool {
	bm := p.verified.Load()
	if bm == nil || id/64 >= uint64(len(*bm)) {
		return false
	}
	return (*bm)[id/64].Load()&(1<<(id%64)) != 0
}

func (p *pager) setVerified(id uint64) {
	bm := p.verified.Load()
	if bm == nil || id/64 >= uint64(len(*bm)) {
		p.verifyMu.Lock()
		bm = p.verified.Load()
		if bm == nil || id/64 >= uint64(len(*bm)) {
			n := max(64, 2*(id/64+1))
			grown := make([]atomic.Uint64, n)
			if bm != nil {
				for i := range *bm {
					grown[i].Store((*bm)[i].Load())
				}
			}
			p.verified.Store(&grown)
			bm = &grown
		}
		p.verifyMu.Unlock()
	}
	(*bm)[id/64].Or(1 << (id % 64))
}

func (p *pager) clearVerified(id uint64) {
	// Growth copies bits, so clearing must not race with it.
	p.verifyMu.Lock()
	if bm := p.verified.Load(); bm != nil && id/64 < uint64(len(*bm)) {
		(*bm)[id/64].And(^uint64(1 << (id % 64)))
	}
	p.verifyMu.Unlock()
}

// readValue reads an out-of-line value.
func (p *pager) readValue(v *treeVersion, ref page.ValueRef) ([]byte, error) {
	data, _, err := p.readBlob(v, ref.Page, ref.Gen, page.TypeValue)
	if err != nil {
		return nil, err
	}
	if len(data) != int(ref.Len) {
		return nil, p.corrupt(ref.Page, "value of %d bytes, its entry says %d", len(data), ref.Len)
	}
	return data, nil
}

// blobPages returns the page ids of the blob at (id, gen) by walking its
// chain, reading only what it must.
func (p *pager) blobPages(v *treeVersion, id, gen uint64, t page.Type) ([]uint64, error) {
	ids := []uint64{id}
	cont := false
	for cur := id; ; {
		raw, buf, err := p.readRaw(v, cur)
		if err != nil {
			return nil, err
		}
		h, err := p.checkPage(raw, cur, gen, t, cont)
		p.putBuf(buf)
		if err != nil {
			return nil, err
		}
		if h.Next == 0 {
			return ids, nil
		}
		if len(ids) > interfaces.MaxDecodedLen/p.capacity+2 {
			return nil, p.corrupt(id, "blob chain does not end")
		}
		cur, cont = h.Next, true
		ids = append(ids, cur)
	}
}

// pagesFor returns how many pages a blob of n stored bytes takes.
func (p *pager) pagesFor(n int) int {
	per := p.capacity
	return max(1, (n+per-1)/per)
}

// encodeBlob returns the bytes a blob is stored as: data compressed when
// compress is set, a codec is configured and it saves space.
func (p *pager) encodeBlob(data []byte, compress bool, scratch []byte) (stored []byte, codec interfaces.CodecID, err error) {
	if !compress || p.codec == nil || len(data) < 64 {
		return data, 0, nil
	}
	enc, err := p.codec.Encode(scratch[:0], data)
	if err != nil {
		return nil, 0, fmt.Errorf("lightning/btree: compress: %w", err)
	}
	if len(enc) >= len(data)-len(data)/16 {
		return data, 0, nil
	}
	return enc, p.codec.ID(), nil
}

// buildPages fills out, len(ids) pages of pageSize bytes, with the blob
// stored under ids: stored split in capacity-sized chunks, each sealed
// when a cipher is configured.
func (p *pager) buildPages(out []byte, ids []uint64, gen uint64, t page.Type, stored []byte, rawLen int, codec interfaces.CodecID) error {
	for i, id := range ids {
		pg := out[i*p.pageSize : (i+1)*p.pageSize]
		chunk := stored[min(i*p.capacity, len(stored)):min((i+1)*p.capacity, len(stored))]
		h := page.Header{Type: t, ID: id, Gen: gen}
		if i+1 < len(ids) {
			h.Next = ids[i+1]
		}
		if i == 0 {
			h.RawLen = uint32(rawLen)
			if codec != 0 {
				h.Flags |= page.FlagCompressed
				h.Codec = uint8(codec)
			}
		} else {
			h.Flags |= page.FlagContinuation
		}
		if p.cipher != nil {
			h.Flags |= page.FlagSealed
			var ad [21]byte
			sealed, err := p.cipher.Seal(pg[page.HeaderSize:page.HeaderSize], chunk, page.AppendAD(ad[:0], id, gen, t))
			if err != nil {
				return fmt.Errorf("lightning/btree: seal page %d: %w", id, err)
			}
			if len(sealed) > p.pageSize-page.HeaderSize || &sealed[0] != &pg[page.HeaderSize] {
				return fmt.Errorf("lightning/btree: sealed page %d overflows: the cipher's Overhead is wrong", id)
			}
			h.Len = uint32(len(sealed))
		} else {
			copy(pg[page.HeaderSize:], chunk)
			h.Len = uint32(len(chunk))
		}
		h.Put(pg)
	}
	return nil
}

// branchTable keeps decoded branch images by page id, read without locks:
// every lookup descends through branches, and they are few (about one
// page in a hundred), so they stay here rather than in the shared cache,
// whose lookups take a lock. An entry records its generation: a reused
// page id simply misses.
type branchTable struct {
	slots atomic.Pointer[[]atomic.Pointer[branchSlot]]
	mu    sync.Mutex // serialises growth
}

type branchSlot struct {
	gen uint64
	n   node
	// b is the parsed view of n.img, nil if it does not parse (then
	// branch reports the corruption each time).
	b *page.Branch
}

func (bt *branchTable) get(id, gen uint64) (node, bool) {
	s := bt.slots.Load()
	if s == nil || id >= uint64(len(*s)) {
		return node{}, false
	}
	if e := (*s)[id].Load(); e != nil && e.gen == gen {
		return e.n, true
	}
	return node{}, false
}

func (bt *branchTable) put(id, gen uint64, n node) {
	s := bt.slots.Load()
	if s == nil || id >= uint64(len(*s)) {
		bt.mu.Lock()
		s = bt.slots.Load()
		if s == nil || id >= uint64(len(*s)) {
			grown := make([]atomic.Pointer[branchSlot], max(1024, 2*(id+1)))
			if s != nil {
				for i := range *s {
					grown[i].Store((*s)[i].Load())
				}
			}
			bt.slots.Store(&grown)
			s = &grown
		}
		bt.mu.Unlock()
	}
	slot := &branchSlot{gen: gen, n: n}
	if b, err := page.ParseBranch(n.img); err == nil {
		slot.b = &b
	}
	(*s)[id].Store(slot)
}

// getParsed returns the parsed view of the branch at (id, gen), if the
// table holds it.
func (bt *branchTable) getParsed(id, gen uint64) (*page.Branch, bool) {
	s := bt.slots.Load()
	if s == nil || id >= uint64(len(*s)) {
		return nil, false
	}
	if e := (*s)[id].Load(); e != nil && e.gen == gen && e.b != nil {
		return e.b, true
	}
	return nil, false
}

// forget drops the entry of a page being rewritten.
func (bt *branchTable) forget(id uint64) {
	bt.mu.Lock()
	if s := bt.slots.Load(); s != nil && id < uint64(len(*s)) {
		(*s)[id].Store(nil)
	}
	bt.mu.Unlock()
}
