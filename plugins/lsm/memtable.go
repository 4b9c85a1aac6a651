package lsm

import (
	"math/bits"
	"sync/atomic"

	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// memTable is a skiplist of recent versions. The mutable memtable takes
// Apply's entries; when full it becomes immutable, waits in the flush
// queue, and is written to an L0 table.
//
// INVARIANT: a memtable holds whole Apply calls, except that an Apply too
// large for any memtable is split between ts values — so every ts is in
// exactly one memtable, and a flushed memtable makes every ts up to its
// maxTs durable (earlier memtables being flushed first).
type memTable struct {
	skl *arenaskl.Skiplist
	// bloom holds the filter hashes (sstable.KeyHash) of the user keys
	// added, so that a Get of a key the memtable does not hold — the
	// common case once data has been flushed — costs a probe of one word
	// instead of a skiplist descent.
	bloom memBloom
	// num numbers memtables from 1 for the life of the database; the
	// manifest records the last one flushed as its log number.
	num uint64
	// maxTs is the highest ts in the memtable. Written by the writer
	// (under Engine.writeMu) before the Apply's ts is published.
	maxTs atomic.Uint64
	// refs counts the read states holding the memtable. At zero (after
	// the flush) its arena may be recycled.
	refs atomic.Int32
	// recycle receives the skiplist when the last reference goes.
	recycle func(*arenaskl.Skiplist)
}

func newMemTable(skl *arenaskl.Skiplist, num uint64, recycle func(*arenaskl.Skiplist)) *memTable {
	return &memTable{skl: skl, num: num, recycle: recycle, bloom: newMemBloom(skl.Capacity())}
}

// add inserts one entry, recording its key's hash h in the filter first:
// a reader that finds the entry through the skiplist's atomic links finds
// the filter bits set too. Called by the writer only.
func (m *memTable) add(key base.InternalKey, h uint64, value []byte) error {
	m.bloom.add(h)
	return m.skl.Add(key, value)
}

func (m *memTable) ref() { m.refs.Add(1) }

func (m *memTable) unref() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		if m.recycle != nil {
			m.recycle(m.skl)
		}
	case n < 0:
		panic("lightning/lsm: memtable reference count below zero")
	}
}

// empty reports whether the memtable holds nothing.
func (m *memTable) empty() bool { return m.skl.Len() == 0 }

// roomFor reports whether a batch needing bytes of arena (the sum of its
// entries' entryArenaSize) fits. Only the writer calls it.
func (m *memTable) roomFor(bytes int) bool {
	return m.skl.Available() >= bytes
}

// entryArenaSize is the arena space an entry may take, rounded up to the
// node alignment as the arena allocates it.
func entryArenaSize(keyLen, valueLen int) int {
	return (arenaskl.EntrySize(keyLen, valueLen) + 7) &^ 7
}

// get looks key, whose filter hash is h, up at readTs: the newest version
// with ts <= readTs. found is false when the memtable holds no such
// version. value aliases the arena.
func (m *memTable) get(key []byte, h, readTs uint64) (value []byte, ts uint64, kind base.Kind, found bool) {
	if !m.bloom.mayContain(h) {
		return nil, 0, 0, false
	}
	var it arenaskl.Iterator
	it.Init(m.skl)
	if !it.SeekGE(base.InternalKey{UserKey: key, Trailer: base.SeekTrailer(readTs)}) {
		return nil, 0, 0, false
	}
	k := it.Key()
	if string(k.UserKey) != string(key) {
		return nil, 0, 0, false
	}
	return it.Value(), k.Ts(), k.Kind(), true
}

// memBloom is a Bloom filter of one-word blocks over a memtable's keys:
// each key sets memBloomProbes bits of a single 64-bit word, so adding is
// one atomic OR and probing one atomic load. The writer adds while readers
// probe, hence the atomics. It is sized from the arena (one word per
// memBloomArenaPerWord bytes, about 10 bits per key for small entries);
// blocking into words costs some accuracy against a classic filter, which
// a memtable filter can afford: a false positive costs one skiplist seek.
type memBloom struct {
	words []uint64
}

const (
	memBloomArenaPerWord = 1024
	memBloomProbes       = 6
)

func newMemBloom(arenaCap int) memBloom {
	n := max(arenaCap/memBloomArenaPerWord, 1)
	// A power of two, so the word is picked with a mask.
	n = 1 << bits.Len(uint(n-1))
	return memBloom{words: make([]uint64, n)}
}

// mask returns the word index and the bits h sets in it: six 6-bit bit
// numbers from h's low 36 bits, the word from its high bits.
func (b *memBloom) mask(h uint64) (int, uint64) {
	var m uint64
	for i := range memBloomProbes {
		m |= 1 << ((h >> (6 * i)) & 63)
	}
	return int((h >> 40) & uint64(len(b.words)-1)), m
}

func (b *memBloom) add(h uint64) {
	i, m := b.mask(h)
	atomic.OrUint64(&b.words[i], m)
}

func (b *memBloom) mayContain(h uint64) bool {
	i, m := b.mask(h)
	return atomic.LoadUint64(&b.words[i])&m == m
}
