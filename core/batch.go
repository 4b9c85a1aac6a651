package core

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"

	"github.com/lightningdb/lightning/interfaces"
)

// A batch's representation is the payload of its WAL record, so a commit
// encodes once:
//
//	+-------------------+---------+---------+-----
//	| count (uint32 LE) | entry 0 | entry 1 | ...
//	+-------------------+---------+---------+-----
//
//	entry: kind (1 byte: 1 set, 2 delete) | key length (uvarint) | key
//	       | value length (uvarint) | value        (set only)
//
// The ts is not in the payload: it is in the WAL record header, one per
// commit. Later writes to a key in one batch win over earlier ones; the
// payload keeps both, and dedup keeps the last when the batch is applied.

const batchHeaderLen = 4

// Batch is an atomic group of writes: Apply makes all of them visible at one
// ts, or none. A Batch is not safe for concurrent use; after Apply it may be
// Reset and reused.
type Batch struct {
	rep   []byte
	count int
	// err is the first error of a Put or Delete; Apply returns it and
	// writes nothing, so an ignored error never commits half a batch.
	err    error
	limits limits
}

// limits are the size limits a batch or transaction is held to.
type limits struct {
	maxEntries int
	maxBytes   int64
}

func newBatch(l limits) *Batch {
	return &Batch{rep: make([]byte, batchHeaderLen, 256), limits: l}
}

// Put adds a write of value under key. It returns ErrInvalidArgument for a
// key longer than MaxKeySize or a value longer than MaxValueSize, and
// ErrTxnTooLarge past the batch limits; the batch then refuses to Apply.
// The batch copies key and value.
func (b *Batch) Put(key, value []byte) error {
	return b.add(interfaces.KindSet, key, value)
}

// Delete adds a deletion of key, with Put's errors.
func (b *Batch) Delete(key []byte) error {
	return b.add(interfaces.KindDelete, key, nil)
}

func (b *Batch) add(kind interfaces.EntryKind, key, value []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := checkKV(key, value); err != nil {
		b.err = err
		return err
	}
	need := 1 + binary.MaxVarintLen32 + len(key)
	if kind == interfaces.KindSet {
		need += binary.MaxVarintLen32 + len(value)
	}
	if b.count+1 > b.limits.maxEntries || int64(len(b.rep)+need) > b.limits.maxBytes {
		b.err = fmt.Errorf("core: batch of %d entries, %d bytes, would pass the limit of %d entries, %d bytes: %w",
			b.count+1, len(b.rep)+need, b.limits.maxEntries, b.limits.maxBytes, ErrTxnTooLarge)
		return b.err
	}
	if cap(b.rep)-len(b.rep) < need {
		b.grow(need)
	}
	b.rep = append(b.rep, byte(kind))
	b.rep = binary.AppendUvarint(b.rep, uint64(len(key)))
	b.rep = append(b.rep, key...)
	if kind == interfaces.KindSet {
		b.rep = binary.AppendUvarint(b.rep, uint64(len(value)))
		b.rep = append(b.rep, value...)
	}
	b.count++
	binary.LittleEndian.PutUint32(b.rep, uint32(b.count))
	return nil
}

// grow makes room for need more bytes, at least doubling the buffer.
// append alone grows a large slice by a quarter at a time, which for a
// batch of a thousand small writes copies the batch about five times over.
func (b *Batch) grow(need int) {
	rep := make([]byte, len(b.rep), max(2*cap(b.rep), len(b.rep)+need))
	copy(rep, b.rep)
	b.rep = rep
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return b.count }

// Size returns the encoded size of the batch in bytes.
func (b *Batch) Size() int { return len(b.rep) }

// Err returns the error that will stop the batch from applying, if any.
func (b *Batch) Err() error { return b.err }

// Reset empties the batch for reuse, keeping its buffer.
func (b *Batch) Reset() {
	b.rep = b.rep[:batchHeaderLen]
	clear(b.rep)
	b.count = 0
	b.err = nil
}

func checkKV(key, value []byte) error {
	if len(key) > interfaces.MaxKeySize {
		return fmt.Errorf("core: key of %d bytes exceeds MaxKeySize %d: %w", len(key), interfaces.MaxKeySize, ErrInvalidArgument)
	}
	if len(value) > interfaces.MaxValueSize {
		return fmt.Errorf("core: value of %d bytes exceeds MaxValueSize %d: %w", len(value), interfaces.MaxValueSize, ErrInvalidArgument)
	}
	return nil
}

// decodeBatch appends the entries of a batch payload to dst, each at ts.
// Keys and values alias rep. Damage returns an error matching ErrCorrupt.
func decodeBatch(dst []interfaces.Entry, rep []byte, ts uint64) ([]interfaces.Entry, error) {
	if len(rep) < batchHeaderLen {
		return dst, fmt.Errorf("core: batch payload of %d bytes: %w", len(rep), ErrCorrupt)
	}
	count := binary.LittleEndian.Uint32(rep)
	// Every entry takes at least 2 bytes, so a count beyond that is a lie
	// that must not size an allocation.
	if uint64(count) > uint64(len(rep)-batchHeaderLen)/2 {
		return dst, fmt.Errorf("core: batch claims %d entries in %d bytes: %w", count, len(rep), ErrCorrupt)
	}
	p := rep[batchHeaderLen:]
	for i := uint32(0); i < count; i++ {
		if len(p) == 0 {
			return dst, fmt.Errorf("core: batch entry %d of %d missing: %w", i, count, ErrCorrupt)
		}
		e := interfaces.Entry{Kind: interfaces.EntryKind(p[0]), Ts: ts}
		p = p[1:]
		if e.Kind != interfaces.KindSet && e.Kind != interfaces.KindDelete {
			return dst, fmt.Errorf("core: batch entry %d has kind %d: %w", i, e.Kind, ErrCorrupt)
		}
		var ok bool
		if e.Key, p, ok = cutBytes(p, interfaces.MaxKeySize); !ok {
			return dst, fmt.Errorf("core: batch entry %d: bad key: %w", i, ErrCorrupt)
		}
		if e.Kind == interfaces.KindSet {
			if e.Value, p, ok = cutBytes(p, interfaces.MaxValueSize); !ok {
				return dst, fmt.Errorf("core: batch entry %d: bad value: %w", i, ErrCorrupt)
			}
		}
		dst = append(dst, e)
	}
	if len(p) != 0 {
		return dst, fmt.Errorf("core: %d bytes after the last batch entry: %w", len(p), ErrCorrupt)
	}
	return dst, nil
}

// cutBytes splits a uvarint-length-prefixed byte string of at most max
// bytes off the front of p.
func cutBytes(p []byte, max int) (b, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(max) || n > uint64(len(p)-w) {
		return nil, p, false
	}
	end := w + int(n)
	return p[w:end:end], p[end:], true
}

// deduper keeps the last write of each key among entries of one ts: the
// Storage contract forbids two versions with the same (key, ts). It reuses
// its table across calls.
type deduper struct {
	seed  maphash.Seed
	index map[uint64]int32
}

func newDeduper() *deduper {
	return &deduper{seed: maphash.MakeSeed(), index: make(map[uint64]int32)}
}

// dedup removes, in place, every entry that a later entry for the same key
// overrides, keeping the order of the survivors. All entries share one ts.
func (d *deduper) dedup(entries []interfaces.Entry) []interfaces.Entry {
	switch n := len(entries); {
	case n < 2:
		return entries
	case n <= 16:
		return dedupSmall(entries)
	}
	clear(d.index)
	dup := false
	for i := range entries {
		h := maphash.Bytes(d.seed, entries[i].Key)
		if j, ok := d.index[h]; ok && string(entries[j].Key) == string(entries[i].Key) {
			dup = true
		} else if ok {
			// A hash collision between different keys: fall back to the
			// exact path for this batch.
			return dedupExact(entries)
		}
		d.index[h] = int32(i)
	}
	if !dup {
		return entries
	}
	out := entries[:0]
	for i := range entries {
		if d.index[maphash.Bytes(d.seed, entries[i].Key)] == int32(i) {
			out = append(out, entries[i])
		}
	}
	return out
}

func dedupSmall(entries []interfaces.Entry) []interfaces.Entry {
	out := entries[:0]
outer:
	for i := range entries {
		for j := i + 1; j < len(entries); j++ {
			if string(entries[j].Key) == string(entries[i].Key) {
				continue outer
			}
		}
		out = append(out, entries[i])
	}
	return out
}

// dedupExact is the exact fallback: a map keyed by the key bytes.
func dedupExact(entries []interfaces.Entry) []interfaces.Entry {
	last := make(map[string]int, len(entries))
	for i := range entries {
		last[string(entries[i].Key)] = i
	}
	out := entries[:0]
	for i := range entries {
		if last[string(entries[i].Key)] == i {
			out = append(out, entries[i])
		}
	}
	return out
}
