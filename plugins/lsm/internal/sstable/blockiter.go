package sstable

import (
	"bytes"
	"encoding/binary"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// compareKey orders the encoded internal key enc against (ukey, trailer) as
// base.Compare orders decoded keys. len(enc) >= base.TrailerLen.
func compareKey(enc, ukey []byte, trailer base.Trailer) int {
	n := len(enc) - base.TrailerLen
	if c := bytes.Compare(enc[:n], ukey); c != 0 {
		return c
	}
	switch t := base.Trailer(binary.LittleEndian.Uint64(enc[n:])); {
	case t > trailer:
		return -1
	case t < trailer:
		return 1
	}
	return 0
}

// restartKey returns the key of restart entry r, read in place: a restart
// entry shares nothing with its predecessor.
func (b *block) restartKey(r int) ([]byte, bool) {
	_, unshared, _, q, ok := decodeEntryHeader(b.data, b.restart(r), 0)
	if !ok || unshared < base.TrailerLen {
		return nil, false
	}
	return b.data[q : q+unshared], true
}

// searchRestarts returns the first restart point whose key is >=
// (ukey, trailer), or numRestarts if there is none; ok is false when a
// restart entry is malformed.
func (b *block) searchRestarts(ukey []byte, trailer base.Trailer) (int, bool) {
	lo, hi := 0, b.numRestarts
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		key, ok := b.restartKey(h)
		if !ok {
			return 0, false
		}
		if compareKey(key, ukey, trailer) < 0 {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, true
}

// seekGE is the point-lookup path: it returns the key and value of the first
// entry >= (ukey, trailer), or a nil key when every entry is smaller. kbuf
// is scratch space for rebuilding prefix-compressed keys; the returned key
// may alias it. A malformed block returns a reason.
func (b *block) seekGE(ukey []byte, trailer base.Trailer, kbuf []byte) (key, val []byte, reason string) {
	j, ok := b.searchRestarts(ukey, trailer)
	if !ok {
		return nil, nil, "malformed restart entry"
	}
	// Restart j is the first at or past the target, so the target lies
	// between restart j-1 (exclusive, since its key is smaller) and restart
	// j (inclusive).
	if j > 0 {
		j--
	}
	data := b.data
	p, prevLen := b.restart(j), 0
	for p < len(data) {
		shared, unshared, vlen, q, ok := decodeEntryHeader(data, p, prevLen)
		if !ok {
			return nil, nil, "malformed entry"
		}
		kbuf = append(kbuf[:shared], data[q:q+unshared]...)
		if len(kbuf) < base.TrailerLen {
			return nil, nil, "key shorter than its trailer"
		}
		v := q + unshared
		if compareKey(kbuf, ukey, trailer) >= 0 {
			return kbuf, data[v : v+vlen : v+vlen], ""
		}
		prevLen, p = len(kbuf), v+vlen
	}
	return nil, nil, ""
}

// lastRestartBefore returns the last restart point whose offset is below
// off (which is > 0).
func (b *block) lastRestartBefore(off int) int {
	lo, hi := 0, b.numRestarts
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if b.restart(h) < off {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo - 1
}

// cachedEntry is an entry of the restart interval a blockIter walks
// backwards: offsets of its key in blockIter.cacheBuf and of the entry and
// its value in the block.
type cachedEntry struct {
	off, next        int
	keyStart, keyEnd int
	valStart, valEnd int
}

// blockIter walks the entries of one block in either direction.
//
// Forward steps rebuild each key in keyBuf from its predecessor. A step
// backwards cannot undo prefix compression, so, as Pebble's block iterator
// does, Prev decodes the whole restart interval before the current entry
// into cache (keys in cacheBuf) and then walks the cache down; only when
// the cache runs out does it decode the interval before. Buffers are kept
// across blocks, so steady iteration allocates nothing.
type blockIter struct {
	b block
	// name and blockOff locate the block for errors.
	name     string
	blockOff int64

	valid bool
	off   int // offset of the current entry in b.data
	next  int // offset of the entry after it
	// key is the current key: it aliases keyBuf in forward mode and
	// cacheBuf in reverse mode (cachePos >= 0).
	key  []byte
	ikey base.InternalKey
	val  []byte

	keyBuf   []byte
	cache    []cachedEntry
	cacheBuf []byte
	// cachePos is the index of the current entry in cache, or -1 when the
	// iterator moves forward and the cache is unused.
	cachePos int

	err error
}

// init points the iterator at b, unpositioned.
func (i *blockIter) init(b block, name string, blockOff int64) {
	i.b, i.name, i.blockOff = b, name, blockOff
	i.valid, i.err = false, nil
	i.cachePos = -1
	i.key, i.val, i.ikey = nil, nil, base.InternalKey{}
}

// reset drops the block, keeping the buffers for reuse.
func (i *blockIter) reset() {
	i.init(block{}, "", 0)
}

func (i *blockIter) corrupt(reason string) bool {
	i.valid = false
	i.err = &interfaces.CorruptionError{File: i.name, Offset: i.blockOff, Reason: reason}
	return false
}

func (i *blockIter) setIKey() {
	n := len(i.key) - base.TrailerLen
	i.ikey = base.InternalKey{UserKey: i.key[:n:n], Trailer: base.Trailer(binary.LittleEndian.Uint64(i.key[n:]))}
}

// decodeAt moves to the entry at p, whose key shares a prefix of the
// current key (prevLen bytes of it may be shared; 0 at a restart point).
func (i *blockIter) decodeAt(p, prevLen int) bool {
	data := i.b.data
	if p >= len(data) {
		i.valid = false
		return false
	}
	shared, unshared, vlen, q, ok := decodeEntryHeader(data, p, prevLen)
	if !ok {
		return i.corrupt("malformed entry")
	}
	i.keyBuf = append(i.keyBuf[:shared], data[q:q+unshared]...)
	if len(i.keyBuf) < base.TrailerLen {
		return i.corrupt("key shorter than its trailer")
	}
	v := q + unshared
	i.key, i.val = i.keyBuf, data[v:v+vlen:v+vlen]
	i.off, i.next = p, v+vlen
	i.setIKey()
	i.valid = true
	return true
}

// First moves to the first entry.
func (i *blockIter) First() bool {
	i.cachePos = -1
	i.err = nil
	return i.decodeAt(0, 0)
}

// Next moves to the next entry.
func (i *blockIter) Next() bool {
	if !i.valid {
		return false
	}
	if i.cachePos >= 0 {
		// Turning forward after Prev: the key lives in cacheBuf; rebuild
		// it in keyBuf, which the next entry extends.
		i.keyBuf = append(i.keyBuf[:0], i.key...)
		i.cachePos = -1
	}
	return i.decodeAt(i.next, len(i.keyBuf))
}

// SeekGE moves to the first entry >= (ukey, trailer).
func (i *blockIter) SeekGE(ukey []byte, trailer base.Trailer) bool {
	i.cachePos = -1
	i.err = nil
	j, ok := i.b.searchRestarts(ukey, trailer)
	if !ok {
		return i.corrupt("malformed restart entry")
	}
	if j > 0 {
		j--
	}
	if !i.decodeAt(i.b.restart(j), 0) {
		return false
	}
	for compareKey(i.key, ukey, trailer) < 0 {
		if !i.decodeAt(i.next, len(i.keyBuf)) {
			return false
		}
	}
	return true
}

// SeekLT moves to the last entry < (ukey, trailer).
func (i *blockIter) SeekLT(ukey []byte, trailer base.Trailer) bool {
	i.err = nil
	j, ok := i.b.searchRestarts(ukey, trailer)
	if !ok {
		return i.corrupt("malformed restart entry")
	}
	if j == 0 {
		// The first entry is already >= the target.
		i.valid = false
		i.cachePos = -1
		return false
	}
	limit := len(i.b.data)
	if j < i.b.numRestarts {
		limit = i.b.restart(j)
	}
	if !i.fillCache(i.b.restart(j-1), limit, ukey, trailer, true) {
		return false
	}
	if len(i.cache) == 0 {
		// Restart j-1 compared below the target in the search.
		return i.corrupt("restart key compares inconsistently")
	}
	return i.loadCached(len(i.cache) - 1)
}

// Last moves to the last entry.
func (i *blockIter) Last() bool {
	i.err = nil
	if !i.fillCache(i.b.restart(i.b.numRestarts-1), len(i.b.data), nil, 0, false) {
		return false
	}
	if len(i.cache) == 0 || i.cache[len(i.cache)-1].next != len(i.b.data) {
		return i.corrupt("entries do not end at the restart array")
	}
	return i.loadCached(len(i.cache) - 1)
}

// Prev moves to the previous entry.
func (i *blockIter) Prev() bool {
	if !i.valid {
		return false
	}
	if i.cachePos > 0 {
		return i.loadCached(i.cachePos - 1)
	}
	target := i.off
	if target == 0 {
		i.valid = false
		i.cachePos = -1
		return false
	}
	if !i.fillCache(i.b.restart(i.b.lastRestartBefore(target)), target, nil, 0, false) {
		return false
	}
	if len(i.cache) == 0 || i.cache[len(i.cache)-1].next != target {
		return i.corrupt("entries do not chain up to the current one")
	}
	return i.loadCached(len(i.cache) - 1)
}

// fillCache decodes the entries from the restart point at start up to
// (not including) the one at limit into the cache; when bounded, it stops
// before the first entry >= (ukey, trailer).
func (i *blockIter) fillCache(start, limit int, ukey []byte, trailer base.Trailer, bounded bool) bool {
	data := i.b.data
	i.cache, i.cacheBuf = i.cache[:0], i.cacheBuf[:0]
	i.cachePos = -1
	i.valid = false
	prevStart, prevLen := 0, 0
	for p := start; p < limit; {
		shared, unshared, vlen, q, ok := decodeEntryHeader(data, p, prevLen)
		if !ok {
			return i.corrupt("malformed entry")
		}
		ks := len(i.cacheBuf)
		// The shared prefix comes from the previous cached key; append
		// copies it correctly even when it reallocates cacheBuf.
		i.cacheBuf = append(i.cacheBuf, i.cacheBuf[prevStart:prevStart+shared]...)
		i.cacheBuf = append(i.cacheBuf, data[q:q+unshared]...)
		klen := shared + unshared
		if klen < base.TrailerLen {
			return i.corrupt("key shorter than its trailer")
		}
		if bounded && compareKey(i.cacheBuf[ks:], ukey, trailer) >= 0 {
			i.cacheBuf = i.cacheBuf[:ks]
			break
		}
		v := q + unshared
		i.cache = append(i.cache, cachedEntry{off: p, next: v + vlen, keyStart: ks, keyEnd: ks + klen, valStart: v, valEnd: v + vlen})
		prevStart, prevLen = ks, klen
		p = v + vlen
	}
	return true
}

func (i *blockIter) loadCached(k int) bool {
	e := &i.cache[k]
	i.cachePos = k
	i.key = i.cacheBuf[e.keyStart:e.keyEnd:e.keyEnd]
	i.val = i.b.data[e.valStart:e.valEnd:e.valEnd]
	i.off, i.next = e.off, e.next
	i.setIKey()
	i.valid = true
	return true
}
