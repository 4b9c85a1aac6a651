package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/vfs"
)

// errClosed is returned by a closed Reader.
var errClosed = fmt.Errorf("lightning/lsm/sstable: reader closed: %w", interfaces.ErrClosed)

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	// FileNum is the table's file number: part of every cache key, and
	// of the additional data of sealed blocks.
	FileNum uint64
	// Codecs decode compressed blocks, by ID. CodecNone is built in.
	Codecs []interfaces.Codec
	// Cipher opens sealed blocks. It must be set for a sealed table and
	// unset for a plain one.
	Cipher interfaces.Cipher
	// Cache, when set, holds decoded data blocks under
	// {CacheNamespace, FileNum, block offset}.
	Cache          interfaces.Cache
	CacheNamespace uint64
	// FileName names the table in errors.
	FileName string
}

// Reader reads a table. Open reads and checks the footer, properties,
// index and filter, and keeps them decoded in memory; data blocks are read
// on demand, through the cache when there is one.
//
// Get, MayContain, NewIter, Verify and the accessors are safe for
// concurrent use. Close must not run concurrently with them; afterwards
// they return interfaces.ErrClosed (iterators fail on their next read
// from the file).
type Reader struct {
	f        vfs.File
	size     int64
	name     string
	fileNum  uint64
	codecs   []interfaces.Codec
	cipher   interfaces.Cipher
	cache    interfaces.Cache
	ns       uint64
	footer   footer
	index    index
	filter   filter
	hasFilt  bool
	props    Properties
	smallest base.InternalKey
	largest  base.InternalKey
	closed   atomic.Bool
}

// Open opens the table in f, which is size bytes long. It reads the footer,
// properties, index and filter blocks and checks that they are intact and
// consistent. Damage is a *interfaces.CorruptionError naming
// opts.FileName and the offset of the damaged block; a table that needs a
// codec or cipher the options lack, or has another format version, is an
// error matching interfaces.ErrIncompatible. On success the Reader owns f
// and closes it in Close; on failure the caller keeps it.
func Open(f vfs.File, size int64, opts ReaderOptions) (*Reader, error) {
	r := &Reader{
		f:       f,
		size:    size,
		name:    opts.FileName,
		fileNum: opts.FileNum,
		codecs:  opts.Codecs,
		cipher:  opts.Cipher,
		cache:   opts.Cache,
		ns:      opts.CacheNamespace,
	}
	if size < footerLen {
		return nil, interfaces.Corruptf(r.name, 0, "file of %d bytes is shorter than a footer", size)
	}
	fb := make([]byte, footerLen)
	if err := readFull(f, fb, size-footerLen); err != nil {
		return nil, fmt.Errorf("lightning/lsm/sstable: read %s footer: %w", r.name, err)
	}
	ft, err := decodeFooter(fb, size, r.name, r.cipher != nil)
	if err != nil {
		return nil, err
	}
	r.footer = ft

	var bufs blockBufs
	raw, err := r.readBlock(ft.properties, blockProperties, &bufs, false)
	if err != nil {
		return nil, err
	}
	var reason string
	r.props, r.smallest, r.largest, reason = decodeProperties(raw)
	switch {
	case reason != "":
		return nil, interfaces.Corruptf(r.name, int64(ft.properties.offset), "%s", reason)
	case r.props.IndexSize != ft.index.length || r.props.FilterSize != ft.filter.length:
		return nil, interfaces.Corruptf(r.name, int64(ft.properties.offset), "properties disagree with the footer on block sizes")
	case r.props.Codec != interfaces.CodecNone && r.codec(r.props.Codec) == nil:
		return nil, fmt.Errorf("lightning/lsm/sstable: %s is compressed with codec %d, which is not configured: %w",
			r.name, r.props.Codec, interfaces.ErrIncompatible)
	}

	if raw, err = r.readBlock(ft.index, blockIndex, &bufs, false); err != nil {
		return nil, err
	}
	if r.index, reason = decodeIndex(raw, ft.dataEnd()); reason != "" {
		return nil, interfaces.Corruptf(r.name, int64(ft.index.offset), "index block: %s", reason)
	}
	n := len(r.index.entries)
	switch {
	case uint64(n) != r.props.NumDataBlocks:
		return nil, interfaces.Corruptf(r.name, int64(ft.index.offset), "index has %d entries, properties count %d data blocks", n, r.props.NumDataBlocks)
	case base.Compare(r.largest, r.index.separator(n-1)) != 0:
		return nil, interfaces.Corruptf(r.name, int64(ft.index.offset), "largest key %s is not the last separator", r.largest)
	}

	if ft.hasFilter() {
		// The filter is pinned for the Reader's life: read it into its own
		// buffer rather than the scratch one.
		if raw, err = r.readBlock(ft.filter, blockFilter, nil, false); err != nil {
			return nil, err
		}
		if r.filter, reason = decodeFilter(raw); reason != "" {
			return nil, interfaces.Corruptf(r.name, int64(ft.filter.offset), "%s", reason)
		}
		r.hasFilt = true
	}
	return r, nil
}

// Properties returns the table's properties.
func (r *Reader) Properties() Properties { return r.props }

// Smallest returns the table's first internal key. The caller must not
// modify it.
func (r *Reader) Smallest() base.InternalKey { return r.smallest }

// Largest returns the table's last internal key. The caller must not
// modify it.
func (r *Reader) Largest() base.InternalKey { return r.largest }

// Size returns the file's size.
func (r *Reader) Size() int64 { return r.size }

// FileNum returns the file number the Reader was opened with.
func (r *Reader) FileNum() uint64 { return r.fileNum }

// KeyHash returns the filter hash of a user key. It is the same function
// for every table, so a lookup that probes several tables hashes once and
// passes the result to MayContainHash or GetHashed.
func KeyHash(userKey []byte) uint64 { return hash64(userKey) }

// MayContain reports whether the table may hold a version of userKey:
// false is certain. Without a filter it is always true.
func (r *Reader) MayContain(userKey []byte) bool {
	return !r.hasFilt || r.filter.mayContain(hash64(userKey))
}

// MayContainHash is MayContain for a key whose KeyHash is h.
func (r *Reader) MayContainHash(h uint64) bool {
	return !r.hasFilt || r.filter.mayContain(h)
}

// getKeyScratch is the size of Get's on-stack key buffer: keys up to this
// long are rebuilt without allocating.
const getKeyScratch = 256

// Get returns the newest entry of userKey with ts <= readTs: found is
// false when there is none. A set's value is appended to dst and returned;
// for a tombstone (kind base.KindDelete) value is dst as given. The hot
// path — filter, index search, cached block, restart search, short scan —
// allocates nothing beyond growing dst.
func (r *Reader) Get(userKey []byte, readTs uint64, dst []byte) (value []byte, ts uint64, kind base.Kind, found bool, err error) {
	if r.closed.Load() {
		return dst, 0, 0, false, errClosed
	}
	if r.hasFilt && !r.filter.mayContain(hash64(userKey)) {
		return dst, 0, 0, false, nil
	}
	return r.get(userKey, readTs, dst)
}

// GetHashed is Get for a key whose KeyHash is h.
func (r *Reader) GetHashed(userKey []byte, h uint64, readTs uint64, dst []byte) (value []byte, ts uint64, kind base.Kind, found bool, err error) {
	if r.closed.Load() {
		return dst, 0, 0, false, errClosed
	}
	if r.hasFilt && !r.filter.mayContain(h) {
		return dst, 0, 0, false, nil
	}
	return r.get(userKey, readTs, dst)
}

// get is Get after the filter.
func (r *Reader) get(userKey []byte, readTs uint64, dst []byte) (value []byte, ts uint64, kind base.Kind, found bool, err error) {
	trailer := base.SeekTrailer(readTs)
	i := r.index.seek(userKey, trailer)
	if i == len(r.index.entries) {
		return dst, 0, 0, false, nil
	}
	h := r.index.handle(i)
	var (
		raw  []byte
		bufs *blockBufs
	)
	if r.cache != nil {
		raw, err = r.cachedBlock(h)
	} else {
		bufs = getBlockBufs()
		defer putBlockBufs(bufs)
		raw, err = r.readBlock(h, blockData, bufs, true)
	}
	if err != nil {
		return dst, 0, 0, false, err
	}
	b, reason := parseBlock(raw)
	if reason != "" {
		return dst, 0, 0, false, interfaces.Corruptf(r.name, int64(h.offset), "%s", reason)
	}
	var kbuf [getKeyScratch]byte
	key, val, reason := b.seekGE(userKey, trailer, kbuf[:0])
	if reason != "" {
		return dst, 0, 0, false, interfaces.Corruptf(r.name, int64(h.offset), "%s", reason)
	}
	// The separator bounds its block, so the first entry >= the target is
	// in this block whenever it has the target's user key (see doc.go).
	n := len(key) - base.TrailerLen
	if key == nil || string(key[:n]) != string(userKey) {
		return dst, 0, 0, false, nil
	}
	t := base.Trailer(binary.LittleEndian.Uint64(key[n:]))
	if t.Kind() == base.KindSet {
		dst = append(dst, val...)
	}
	return dst, t.Ts(), t.Kind(), true, nil
}

// cacheKey returns the cache key of the data block at off.
func (r *Reader) cacheKey(off uint64) interfaces.CacheKey {
	return interfaces.CacheKey{Namespace: r.ns, File: r.fileNum, Offset: off}
}

// cachedBlock returns the decoded data block at h from the cache, reading
// it and filling the cache on a miss. The result is shared and immutable.
func (r *Reader) cachedBlock(h handle) ([]byte, error) {
	k := r.cacheKey(h.offset)
	if b, ok := r.cache.Get(k); ok {
		return b, nil
	}
	b, err := r.readBlock(h, blockData, nil, true)
	if err != nil {
		return nil, err
	}
	r.cache.Set(k, b, int64(len(b)))
	return b, nil
}

// blockBufs is scratch space for reading blocks: the physical block, the
// opened payload, the decoded block.
type blockBufs struct {
	read, plain, dec []byte
}

var blockBufsPool = sync.Pool{New: func() any { return new(blockBufs) }}

// maxPooledBuf bounds the buffers kept in the pool, so one huge block does
// not pin its memory for ever.
const maxPooledBuf = 256 << 10

func getBlockBufs() *blockBufs { return blockBufsPool.Get().(*blockBufs) }

func putBlockBufs(b *blockBufs) {
	if cap(b.read) > maxPooledBuf {
		b.read = nil
	}
	if cap(b.plain) > maxPooledBuf {
		b.plain = nil
	}
	if cap(b.dec) > maxPooledBuf {
		b.dec = nil
	}
	blockBufsPool.Put(b)
}

// Readahead window sizes: an iterator that reads blocks in sequence from
// the file reads minReadahead bytes at once, doubling up to maxReadahead;
// one that was told it reads the whole table (IterOptions.Sequential)
// starts at maxReadahead.
const (
	minReadahead = 64 << 10
	maxReadahead = 256 << 10
)

// readahead is a window of a table's data region read with one ReadAt, so
// that a scan reading block after block issues one read per window rather
// than one per block. It belongs to one iterator.
type readahead struct {
	buf []byte
	// off is the file offset of buf[0]; buf holds the window.
	off int64
	// size is the size of the next window.
	size int
	// backward places windows below the block that misses, for a scan
	// going down the table.
	backward bool
}

// reset empties the window, keeping its buffer.
func (ra *readahead) reset() {
	ra.buf, ra.off, ra.size, ra.backward = ra.buf[:0], 0, 0, false
}

// read returns the n bytes at off in r's data region, from the window,
// refilling it first when they are not all in it. The result is valid
// until the next read.
func (ra *readahead) read(r *Reader, off int64, n int) ([]byte, error) {
	if off >= ra.off && off+int64(n) <= ra.off+int64(len(ra.buf)) {
		return ra.buf[off-ra.off : off-ra.off+int64(n)], nil
	}
	size := max(ra.size, minReadahead)
	ra.size = min(size*2, maxReadahead)
	// The window covers the block and as much of the data region as the
	// size allows past it (below it, going backward).
	start, end := off, min(off+int64(max(size, n)), int64(r.footer.dataEnd()))
	if ra.backward {
		start, end = max(off+int64(n)-int64(max(size, n)), 0), off+int64(n)
	}
	ra.buf = grow(ra.buf, int(end-start))
	if err := readFull(r.f, ra.buf, start); err != nil {
		ra.buf = ra.buf[:0]
		return nil, err
	}
	ra.off = start
	return ra.buf[off-start : off-start+int64(n)], nil
}

// codec returns the configured codec with ID id, or nil.
func (r *Reader) codec(id interfaces.CodecID) interfaces.Codec {
	for _, c := range r.codecs {
		if c != nil && c.ID() == id {
			return c
		}
	}
	return nil
}

// readBlock reads the physical block at h, checks its checksum, opens and
// decodes it, and returns the block: in bufs' buffers when bufs is given
// (valid until they are reused), freshly allocated otherwise (so it can be
// cached). A data or index block is also checked by validateBlock when
// check is set.
func (r *Reader) readBlock(h handle, typ blockType, bufs *blockBufs, check bool) ([]byte, error) {
	raw, _, err := r.readBlockFrom(h, typ, bufs, nil, check)
	return raw, err
}

// readBlockCodec is readBlock, also returning the codec ID in the block's
// trailer.
func (r *Reader) readBlockCodec(h handle, typ blockType, bufs *blockBufs, check bool) ([]byte, interfaces.CodecID, error) {
	return r.readBlockFrom(h, typ, bufs, nil, check)
}

// readBlockFrom is readBlockCodec reading the physical block through the
// readahead window ra when it is given: out of the window when the block
// lies in it, otherwise with one read that refills it.
func (r *Reader) readBlockFrom(h handle, typ blockType, bufs *blockBufs, ra *readahead, check bool) ([]byte, interfaces.CodecID, error) {
	if r.closed.Load() {
		return nil, 0, errClosed
	}
	off := int64(h.offset)
	// Open checked that every handle lies inside the file.
	n := int(h.length) + blockTrailerLen
	var buf []byte
	// scratch holds the intermediate buffers: the caller's, or pooled
	// ones when the result must be fresh.
	scratch := bufs
	// inPlace is set when buf is not the caller's to keep: an unsealed,
	// uncompressed block read through the window is copied out of it
	// when the result must be fresh.
	inPlace := false
	switch {
	case ra != nil:
		var err error
		if buf, err = ra.read(r, off, n); err != nil {
			return nil, 0, fmt.Errorf("lightning/lsm/sstable: read %s %s block at %d: %w", r.name, typ, off, err)
		}
		if bufs == nil {
			inPlace = r.cipher == nil
			if r.cipher != nil {
				scratch = getBlockBufs()
				defer putBlockBufs(scratch)
			}
		}
	case bufs != nil:
		bufs.read = grow(bufs.read, n)
		buf = bufs.read
	case r.cipher == nil:
		// Unsealed, an uncompressed block is returned in place: read it
		// into its final buffer.
		buf = make([]byte, n)
	default:
		scratch = getBlockBufs()
		defer putBlockBufs(scratch)
		scratch.read = grow(scratch.read, n)
		buf = scratch.read
	}
	if ra == nil {
		if err := readFull(r.f, buf, off); err != nil {
			return nil, 0, fmt.Errorf("lightning/lsm/sstable: read %s %s block at %d: %w", r.name, typ, off, err)
		}
	}
	payload := buf[:h.length:h.length]
	id := interfaces.CodecID(buf[h.length])
	if want, got := binary.LittleEndian.Uint32(buf[h.length+1:]), blockCRC(payload, id); want != got {
		return nil, 0, interfaces.Corruptf(r.name, off, "%s block checksum mismatch (stored %#08x, computed %#08x)", typ, want, got)
	}
	if r.cipher != nil {
		var ad [adLen]byte
		// The opened payload is the result when it is not compressed, so
		// then it goes to a fresh buffer unless the caller gave scratch.
		var dst []byte
		if bufs != nil || id != interfaces.CodecNone {
			dst = scratch.plain[:0]
		}
		plain, err := r.cipher.Open(dst, payload, blockAD(ad[:0], r.fileNum, h.offset, id, typ))
		switch {
		case errors.Is(err, interfaces.ErrDecrypt):
			return nil, 0, &interfaces.CorruptionError{File: r.name, Offset: off,
				Reason: fmt.Sprintf("%s block fails authentication (moved, swapped or damaged)", typ), Err: err}
		case err != nil:
			return nil, 0, fmt.Errorf("lightning/lsm/sstable: %s: open %s block at %d: %w", r.name, typ, off, err)
		}
		if bufs != nil || id != interfaces.CodecNone {
			scratch.plain = plain
		}
		payload = plain
	}
	raw := payload
	if inPlace && id == interfaces.CodecNone {
		raw = bytes.Clone(payload)
	}
	if id != interfaces.CodecNone {
		c := r.codec(id)
		if c == nil {
			return nil, 0, fmt.Errorf("lightning/lsm/sstable: %s: %s block at %d is compressed with codec %d, which is not configured: %w",
				r.name, typ, off, id, interfaces.ErrIncompatible)
		}
		var dst []byte
		if bufs != nil {
			dst = bufs.dec[:0]
		}
		dec, err := c.Decode(dst, payload)
		if err != nil {
			return nil, 0, &interfaces.CorruptionError{File: r.name, Offset: off, Reason: fmt.Sprintf("%s block does not decompress", typ), Err: err}
		}
		if bufs != nil {
			bufs.dec = dec
		}
		raw = dec
	}
	if len(raw) > maxRawBlockLen {
		return nil, 0, interfaces.Corruptf(r.name, off, "%s block decodes to %d bytes", typ, len(raw))
	}
	if check {
		if _, reason := validateBlock(raw); reason != "" {
			return nil, 0, interfaces.Corruptf(r.name, off, "%s block: %s", typ, reason)
		}
	}
	return raw, id, nil
}

// EvictFromCache removes the table's data blocks from the cache, for when
// the table is deleted: they could never be hit again.
func (r *Reader) EvictFromCache() {
	if r.cache == nil {
		return
	}
	for i := range r.index.entries {
		r.cache.Delete(r.cacheKey(r.index.entries[i].offset))
	}
}

// Close closes the file and releases the pinned index and filter. Calls
// after the first return interfaces.ErrClosed.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return errClosed
	}
	// The index and filter stay: a racing MayContain or iterator must
	// not index into released memory. They go with the Reader.
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("lightning/lsm/sstable: close %s: %w", r.name, err)
	}
	return nil
}
