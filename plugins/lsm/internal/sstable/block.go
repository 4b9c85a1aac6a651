package sstable

import (
	"encoding/binary"
)

// A block (data or index, before compression and sealing) is a run of
// entries followed by a restart array:
//
//	entry:   shared uvarint | unshared uvarint | value length uvarint |
//	         key suffix (unshared bytes) | value
//	restarts: uint32 LE offset of each restart entry, then uint32 LE count
//
// An entry's key is the first shared bytes of the previous entry's key
// followed by its suffix. Every restartInterval-th entry, starting with the
// first, is a restart point: it shares nothing, so its key can be read in
// place, which is what the binary search over restart points needs.

// blockWriter builds one block.
type blockWriter struct {
	restartInterval int
	buf             []byte   // the entries so far
	restarts        []uint32 // offsets of the restart entries
	entries         int      // entries in the current block
	// prevKey is the key of the last entry added. It survives reset, so a
	// table writer can read the last key of the block it just finished.
	prevKey []byte
}

// sharedPrefix returns the length of the common prefix of a and b.
func sharedPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	// Eight bytes at a time: keys of one block usually share long
	// prefixes.
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// entryShared returns how many bytes the next entry with key would share.
func (w *blockWriter) entryShared(key []byte) int {
	if w.entries%w.restartInterval == 0 {
		return 0
	}
	return sharedPrefix(w.prevKey, key)
}

// sizeWith returns the block's finished size if an entry with key (sharing
// shared bytes) and value were added.
func (w *blockWriter) sizeWith(key []byte, shared, valueLen int) int {
	n := w.size() + uvarintLen(uint64(shared)) + uvarintLen(uint64(len(key)-shared)) +
		uvarintLen(uint64(valueLen)) + len(key) - shared + valueLen
	if w.entries%w.restartInterval == 0 {
		n += 4
	}
	return n
}

// size returns the block's size if it were finished now.
func (w *blockWriter) size() int { return len(w.buf) + 4*len(w.restarts) + 4 }

// add appends an entry. shared must be entryShared(key).
func (w *blockWriter) add(key []byte, shared int, value []byte) {
	if w.entries%w.restartInterval == 0 {
		w.restarts = append(w.restarts, uint32(len(w.buf)))
	}
	unshared := len(key) - shared
	if shared < 0x80 && unshared < 0x80 && len(value) < 0x80 {
		w.buf = append(w.buf, byte(shared), byte(unshared), byte(len(value)))
	} else {
		w.buf = binary.AppendUvarint(w.buf, uint64(shared))
		w.buf = binary.AppendUvarint(w.buf, uint64(unshared))
		w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	}
	w.buf = append(w.buf, key[shared:]...)
	w.buf = append(w.buf, value...)
	w.prevKey = append(w.prevKey[:0], key...)
	w.entries++
}

// finish appends the restart array and returns the block. The slice is
// valid until reset.
func (w *blockWriter) finish() []byte {
	for _, r := range w.restarts {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, r)
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.restarts)))
	return w.buf
}

// reset empties the block, keeping prevKey.
func (w *blockWriter) reset() {
	w.buf = w.buf[:0]
	w.restarts = w.restarts[:0]
	w.entries = 0
}

// block is a decoded block, split into its entries and restart array.
type block struct {
	// data holds the entries: the block up to its restart array.
	data []byte
	// restarts is the restart array, numRestarts uint32 offsets.
	restarts    []byte
	numRestarts int
}

// restart returns the offset of restart point i.
func (b *block) restart(i int) int {
	return int(binary.LittleEndian.Uint32(b.restarts[4*i:]))
}

// parseBlock splits raw into entries and restart array, checking only what
// it takes to index them safely: O(1), for blocks that were validated when
// they were read (cached blocks). A reason is returned for a malformed
// block.
func parseBlock(raw []byte) (block, string) {
	if len(raw) < 4 {
		return block{}, "block shorter than its restart count"
	}
	n := uint64(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
	if n == 0 {
		return block{}, "block has no restart points"
	}
	// n < 2^32, so 4*n+4 cannot overflow.
	if 4*n+4 > uint64(len(raw)) {
		return block{}, "restart array longer than the block"
	}
	end := len(raw) - 4 - 4*int(n)
	if end == 0 {
		return block{}, "block has no entries"
	}
	return block{data: raw[:end:end], restarts: raw[end : len(raw)-4], numRestarts: int(n)}, ""
}

// validateBlock parses raw and checks its restart array: the first restart
// is at 0 and offsets strictly increase inside the entries. Blocks are
// validated once when they are read from the file; entries are checked as
// they are decoded, and Verify checks everything else.
func validateBlock(raw []byte) (block, string) {
	b, reason := parseBlock(raw)
	if reason != "" {
		return b, reason
	}
	if b.restart(0) != 0 {
		return b, "first restart point is not at offset 0"
	}
	prev := 0
	for i := 1; i < b.numRestarts; i++ {
		r := b.restart(i)
		if r <= prev || r >= len(b.data) {
			return b, "restart points out of order or past the entries"
		}
		prev = r
	}
	return b, ""
}

// decodeEntryHeader decodes the three uvarints of the entry at p in data
// (a block's entries) and checks that the entry fits: it returns the
// offsets of the key suffix and value, and ok false when the entry is
// malformed. prevKeyLen bounds shared.
func decodeEntryHeader(data []byte, p, prevKeyLen int) (shared, unshared, vlen, q int, ok bool) {
	if p+3 <= len(data) && data[p]|data[p+1]|data[p+2] < 0x80 {
		// The common case: three one-byte uvarints.
		shared, unshared, vlen, q = int(data[p]), int(data[p+1]), int(data[p+2]), p+3
	} else {
		var s, u, v uint64
		var m int
		if p >= len(data) {
			return 0, 0, 0, 0, false
		}
		if s, m = binary.Uvarint(data[p:]); m <= 0 || s > maxEntryLen {
			return 0, 0, 0, 0, false
		}
		p += m
		if u, m = binary.Uvarint(data[p:]); m <= 0 || u > maxEntryLen {
			return 0, 0, 0, 0, false
		}
		p += m
		if v, m = binary.Uvarint(data[p:]); m <= 0 || v > maxEntryLen {
			return 0, 0, 0, 0, false
		}
		shared, unshared, vlen, q = int(s), int(u), int(v), p+m
	}
	// Each term is at most maxEntryLen and q at most len(data), and the
	// comparisons subtract rather than add, so nothing overflows.
	if shared > prevKeyLen || unshared > len(data)-q || vlen > len(data)-q-unshared {
		return 0, 0, 0, 0, false
	}
	return shared, unshared, vlen, q, true
}
