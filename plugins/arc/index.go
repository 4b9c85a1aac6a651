package arc

import (
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// index is a shard's key directory: an open-addressing hash table with
// linear probing and backward-shift deletion (no tombstones), kept at most
// half full.
//
// It replaced a map[CacheKey]*entry for the Get path's sake. A hit in the
// map read the group's control word, then the slot, then the entry for its
// value: three dependent cache misses before the caller could touch its
// block, with a block cache far larger than the CPU caches. A slot here is
// one cache line holding the key, the entry and a copy of the entry's
// value and residency, so a hit reads one line (two when the probe runs
// on) and returns.
//
// INVARIANT: every key in the table is in the probe run that starts at its
// home slot, hash & mask, with no empty slot between; n is the number of
// full slots and 2n <= len(slots).
type index struct {
	slots []slot
	mask  uint64
	n     int
}

// slot is one cell of the index; 64 bytes, a cache line.
//
// INVARIANT: for a full slot (e != nil), e.key == key, value is e.value
// (the same slice) and resident is e.list.resident().
type slot struct {
	key      interfaces.CacheKey
	value    []byte
	e        *entry // nil: the slot is empty
	hash     uint32 // the low bits of the key's hash: its home is hash & mask
	resident bool
	_        [3]byte
}

const (
	// minIndexSlots is the smallest table; a power of two.
	minIndexSlots = 16
	// maxIndexSlots bounds the table, so that a home fits in the 32 bits
	// of hash the slot keeps. A shard never holds 2^30 entries: each costs
	// over a hundred bytes of directory alone.
	maxIndexSlots = 1 << 31
)

// find returns the slot holding key, whose hash is h, or nil. The slot is
// valid until the next insert or remove.
func (x *index) find(key interfaces.CacheKey, h uint64) *slot {
	if x.n == 0 {
		return nil
	}
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.e == nil {
			return nil
		}
		if s.key == key {
			return s
		}
	}
}

// insert adds key, which is not in the table, for e and returns its slot,
// valid until the next insert or remove.
func (x *index) insert(key interfaces.CacheKey, h uint64, e *entry) *slot {
	if 2*(x.n+1) > len(x.slots) {
		x.resize(max(minIndexSlots, 2*len(x.slots)))
	}
	i := h & x.mask
	for x.slots[i].e != nil {
		i = (i + 1) & x.mask
	}
	s := &x.slots[i]
	*s = slot{key: key, e: e, hash: uint32(h)}
	x.n++
	return s
}

// remove deletes key, whose hash is h, if it is in the table. The slots
// after it in its run shift back into the hole, each as far as its home
// allows, so that no probe run is broken.
func (x *index) remove(key interfaces.CacheKey, h uint64) {
	if x.n == 0 {
		return
	}
	i := h & x.mask
	for x.slots[i].key != key {
		if x.slots[i].e == nil {
			return
		}
		i = (i + 1) & x.mask
	}
	if x.slots[i].e == nil {
		return // an empty slot with the zero key
	}
	for j := (i + 1) & x.mask; x.slots[j].e != nil; j = (j + 1) & x.mask {
		// The slot at j may fill the hole at i unless its home lies in
		// the cyclic range (i, j]: then it would sit before its home.
		home := uint64(x.slots[j].hash) & x.mask
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot{}
	x.n--
	if len(x.slots) > minIndexSlots && 8*x.n < len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
}

// resize moves every key into a table of size slots, a power of two.
func (x *index) resize(size int) {
	if size > maxIndexSlots {
		panic(fmt.Sprintf("lightning/arc: a shard's index would pass %d slots", maxIndexSlots))
	}
	old := x.slots
	x.slots = make([]slot, size)
	x.mask = uint64(size - 1)
	for k := range old {
		if old[k].e == nil {
			continue
		}
		i := uint64(old[k].hash) & x.mask
		for x.slots[i].e != nil {
			i = (i + 1) & x.mask
		}
		x.slots[i] = old[k]
	}
}

// check verifies the table's invariants and that every full slot's copy of
// its entry is current; it returns the first violation.
func (x *index) check() error {
	if 2*x.n > len(x.slots) {
		return fmt.Errorf("index holds %d keys in %d slots", x.n, len(x.slots))
	}
	full := 0
	for i := range x.slots {
		s := &x.slots[i]
		if s.e == nil {
			continue
		}
		full++
		if s.e.key != s.key {
			return fmt.Errorf("index slot %d holds %v for the entry of %v", i, s.key, s.e.key)
		}
		if s.resident != s.e.list.resident() {
			return fmt.Errorf("index slot of %v says resident=%v, the entry is on %v", s.key, s.resident, s.e.list)
		}
		if len(s.value) != len(s.e.value) || (len(s.value) > 0 && &s.value[0] != &s.e.value[0]) {
			return fmt.Errorf("index slot of %v holds a stale value", s.key)
		}
		// Every slot between the key's home and its place must be full,
		// or a probe from the home would stop short of it.
		for j := uint64(s.hash) & x.mask; j != uint64(i); j = (j + 1) & x.mask {
			if x.slots[j].e == nil {
				return fmt.Errorf("index: %v sits past an empty slot in its run", s.key)
			}
		}
	}
	if full != x.n {
		return fmt.Errorf("index counts %d keys, holds %d", x.n, full)
	}
	return nil
}
