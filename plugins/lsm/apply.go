package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
)

// maxBatchArena is the most arena one memtable can give a batch: the
// largest arena less the head node and alignment.
var maxBatchArena = arenaskl.MaxCapacity - arenaskl.CapacityFor(0, 0) - 8

// Apply adds entries as new versions, as interfaces.Storage.Apply says. It
// checks the contract's preconditions first and returns an error matching
// interfaces.ErrInvalidArgument, having changed nothing, when one fails; a
// ts above base.MaxTs (2^56-1) is refused the same way. The versions become
// visible all at once, when Apply returns.
//
// Apply may block (a write stall) while too many memtables wait for their
// flush, or L0 holds too many tables, so that memory stays bounded.
func (e *Engine) Apply(entries []interfaces.Entry) error {
	if err := e.checkWritable("apply"); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	need, err := validateBatch(entries)
	if err != nil {
		return err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.checkWritable("apply"); err != nil {
		return err
	}
	if applied := e.appliedTs.Load(); entries[0].Ts <= applied {
		return fmt.Errorf("lightning/lsm: apply: ts %d is not above the applied ts %d: %w",
			entries[0].Ts, applied, interfaces.ErrInvalidArgument)
	}
	if need <= maxBatchArena {
		if err := e.insertLocked(entries, need); err != nil {
			return err
		}
	} else {
		// Larger than any memtable: split between ts values (validateBatch
		// checked that every ts fits one memtable), so that each memtable
		// still holds every version of the ts it has.
		for start := 0; start < len(entries); {
			end, size := start, 0
			for end < len(entries) {
				groupEnd, groupSize := end, 0
				for groupEnd < len(entries) && entries[groupEnd].Ts == entries[end].Ts {
					groupSize += entrySize(&entries[groupEnd])
					groupEnd++
				}
				if size > 0 && size+groupSize > maxBatchArena {
					break
				}
				end, size = groupEnd, size+groupSize
			}
			if err := e.insertLocked(entries[start:end], size); err != nil {
				return err
			}
			start = end
		}
	}
	e.appliedTs.Store(entries[len(entries)-1].Ts)
	return nil
}

// entrySize returns the arena bytes an entry takes in a memtable.
func entrySize(en *interfaces.Entry) int {
	if en.Kind == interfaces.KindDelete {
		return entryArenaSize(len(en.Key), 0)
	}
	return entryArenaSize(len(en.Key), len(en.Value))
}

// validateBatch checks every entry against the contract's limits and the
// ts order, and returns the arena bytes the batch needs.
func validateBatch(entries []interfaces.Entry) (int, error) {
	need, group := 0, 0
	for i := range entries {
		en := &entries[i]
		if err := interfaces.ValidateEntry(entries, i); err != nil {
			return 0, fmt.Errorf("lightning/lsm: apply: %w", err)
		}
		if en.Ts > base.MaxTs {
			return 0, fmt.Errorf("lightning/lsm: apply: entry %d: ts %d above the largest the engine stores (%d): %w",
				i, en.Ts, base.MaxTs, interfaces.ErrInvalidArgument)
		}
		sz := entrySize(en)
		need += sz
		if i > 0 && en.Ts != entries[i-1].Ts {
			group = 0
		}
		if group += sz; group > maxBatchArena {
			return 0, fmt.Errorf("lightning/lsm: apply: the versions at ts %d take more than %d bytes: %w",
				en.Ts, maxBatchArena, interfaces.ErrInvalidArgument)
		}
	}
	return need, nil
}

// insertLocked adds entries, which need bytes of arena, to the mutable
// memtable, rotating first when they do not fit. Called with writeMu held.
func (e *Engine) insertLocked(entries []interfaces.Entry, need int) error {
	if e.mutable == nil || !e.mutable.roomFor(need) {
		if err := e.rotateLocked(need); err != nil {
			return err
		}
	}
	m := e.mutable
	order := e.insertOrder(entries)
	for j := range entries {
		i := j
		if order != nil {
			i = int(order[j])
		}
		en := &entries[i]
		var value []byte
		if en.Kind == interfaces.KindSet {
			value = en.Value
		}
		err := m.add(base.MakeInternalKey(en.Key, en.Ts, en.Kind), sstable.KeyHash(en.Key), value)
		if err == nil {
			continue
		}
		// The entries before this one are in the memtable and cannot be
		// taken out. They are invisible (the applied ts has not moved),
		// but a flush would make them durable: stop writing, so a reopen
		// recovers from the last consistent state.
		cause := fmt.Errorf("lightning/lsm: apply: entry %d (%q at ts %d): %w", i, en.Key, en.Ts, err)
		e.failStop(cause)
		if errors.Is(err, arenaskl.ErrRecordExists) {
			return fmt.Errorf("lightning/lsm: apply: entry %d: (%q, %d) is already stored: %w", i, en.Key, en.Ts, interfaces.ErrInvalidArgument)
		}
		return cause
	}
	m.maxTs.Store(entries[len(entries)-1].Ts)
	return nil
}

// sortedInsertMin is the batch size from which entries go into the
// memtable in key order: a skiplist insert whose predecessor was a nearby
// key finds its path in cache, which pays for the sort many times over
// for batches of random keys.
const sortedInsertMin = 32

// insertOrder returns the order in which to insert entries — indexes in
// internal-key order (user key ascending, then ts descending) — or nil for
// the order given, for a small batch or one already sorted. The slice is
// the engine's, reused by the next call; writeMu is held.
func (e *Engine) insertOrder(entries []interfaces.Entry) []int32 {
	if len(entries) < sortedInsertMin {
		return nil
	}
	cmp := func(a, b *interfaces.Entry) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmpTsDesc(a.Ts, b.Ts)
	}
	sorted := true
	for i := 1; i < len(entries) && sorted; i++ {
		sorted = cmp(&entries[i-1], &entries[i]) < 0
	}
	if sorted {
		return nil
	}
	// Sort by each key's first 16 bytes as two big-endian integers first:
	// that orders keys as bytes.Compare does wherever those bytes differ,
	// and a tie falls back to the full comparison. Random keys rarely tie,
	// so the sort makes few calls to bytes.Compare (it was a tenth of a
	// batched fill's CPU).
	keyed := e.sortBuf[:0]
	for i := range entries {
		k := entries[i].Key
		keyed = append(keyed, sortKey{prefix: base.KeyPrefix(k), prefix2: base.KeyPrefix2(k), idx: int32(i)})
	}
	slices.SortFunc(keyed, func(a, b sortKey) int {
		switch {
		case a.prefix < b.prefix:
			return -1
		case a.prefix > b.prefix:
			return 1
		case a.prefix2 < b.prefix2:
			return -1
		case a.prefix2 > b.prefix2:
			return 1
		}
		return cmp(&entries[a.idx], &entries[b.idx])
	})
	order := e.order[:0]
	for _, k := range keyed {
		order = append(order, k.idx)
	}
	if cap(order) <= maxKeptOrder {
		e.order, e.sortBuf = order, keyed
	}
	return order
}

// sortKey is an entry's place in insertOrder's sort: the first 16 bytes
// of its key as base.KeyPrefix and base.KeyPrefix2 give them, and its
// index.
type sortKey struct {
	prefix, prefix2 uint64
	idx             int32
}

// maxKeptOrder bounds the order slice the engine keeps between batches.
const maxKeptOrder = 1 << 16

// cmpTsDesc orders ts values descending, as internal keys order versions.
func cmpTsDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// rotateLocked replaces the mutable memtable by a fresh one with room for
// need bytes, queueing the old one for its flush when it holds anything.
// It stalls first while the flush queue is full or L0 holds too many
// tables. Called with writeMu held.
func (e *Engine) rotateLocked(need int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mutable != nil && !e.mutable.empty() {
		if err := e.stallLocked(); err != nil {
			return err
		}
	}
	e.queueMutableLocked()
	size := e.nextMemSize
	if size < e.opts.MemtableSize {
		e.nextMemSize = min(2*size, e.opts.MemtableSize)
	}
	capacity := max(size, need+arenaskl.CapacityFor(0, 0)+8)
	var skl *arenaskl.Skiplist
	if capacity == e.opts.MemtableSize {
		e.spareMu.Lock()
		skl, e.spare = e.spare, nil
		e.spareMu.Unlock()
	}
	if skl != nil {
		skl.Reset()
	} else {
		skl = arenaskl.New(capacity)
	}
	e.mutable = newMemTable(skl, e.nextMemNum, e.recycleArena)
	e.nextMemNum++
	e.installReadStateLocked()
	return nil
}

// queueMutableLocked moves a non-empty mutable memtable to the flush
// queue, or drops an empty one, leaving no mutable memtable. The caller
// installs a new read state. Called with writeMu and mu held.
func (e *Engine) queueMutableLocked() {
	if e.mutable == nil {
		return
	}
	if !e.mutable.empty() {
		e.imm = append(e.imm, e.mutable)
		e.cond.Broadcast()
	}
	e.mutable = nil
}

// stallLocked blocks while the flush queue is full or L0 holds too many
// tables, counting the stall. Called with mu held.
func (e *Engine) stallLocked() error {
	stalled := false
	var start time.Time
	for {
		if e.closing {
			return fmt.Errorf("lightning/lsm: apply: %w", interfaces.ErrClosed)
		}
		if p := e.failed.Load(); p != nil {
			return fmt.Errorf("lightning/lsm: apply: %w (after: %w)", interfaces.ErrFailStopped, *p)
		}
		l0 := len(e.current.levels[0])
		if len(e.imm) < e.opts.MaxImmutableMemtables &&
			(e.opts.DisableAutoCompactions || l0 < e.opts.L0StopWritesTrigger) {
			break
		}
		if !stalled {
			stalled, start = true, time.Now()
			e.m.stalls.Add(1)
			e.log.Debug("write stall", "immutable_memtables", len(e.imm), "l0_tables", l0)
		}
		e.cond.Wait()
	}
	if stalled {
		e.m.stallNanos.Add(int64(time.Since(start)))
	}
	return nil
}

// recycleArena keeps the arena of a memtable nobody reads any more for the
// next rotation, when it has the standard size: allocating (and zeroing)
// a large arena costs more than resetting one.
func (e *Engine) recycleArena(skl *arenaskl.Skiplist) {
	if skl.Capacity() != e.opts.MemtableSize {
		return
	}
	e.spareMu.Lock()
	if e.spare == nil {
		e.spare = skl
	}
	e.spareMu.Unlock()
}
