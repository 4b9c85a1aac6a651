package memory

import (
	"bytes"

	"github.com/lightningdb/lightning/interfaces"
)

// gcFilter applies the SetDiscardTs rule to versions met in Storage order:
// for each user key, the newest version with ts <= discard (V) survives
// unless it is a tombstone, every version older than V goes, and versions
// newer than discard stay.
type gcFilter struct {
	discard uint64
	// key is the user key of the last version met, when started.
	key     []byte
	started bool
	// seenV is whether V of key has been met.
	seenV bool
}

// newKey reports whether v starts another user key than the last one met.
func (g *gcFilter) newKey(v *version) bool {
	return !g.started || !bytes.Equal(v.key(), g.key)
}

// droppable reports whether v, the next version in Storage order, may be
// dropped. v's key must stay valid until the next call (tree keys do).
func (g *gcFilter) droppable(v *version) bool {
	if g.newKey(v) {
		g.key, g.started, g.seenV = v.key(), true, false
	}
	switch {
	case g.seenV:
		return true
	case v.ts <= g.discard:
		g.seenV = true
		return v.kind == interfaces.KindDelete
	}
	return false
}

// collect removes from the tree the versions in r that discard lets go,
// and returns how many it removed.
//
// It finds them on a published snapshot, without locks, and removes them
// in batches of at least Options.CompactBatch versions, each under the
// write lock and published at once. A batch always ends at a user key
// boundary, so a tombstone and the versions it hides go in the same
// batch: a reader never sees the hidden versions without their tombstone.
// Versions found droppable in an older snapshot are still droppable in a
// newer one, because Apply only adds versions with higher ts and that can
// only move V forward.
func (e *Engine) collect(r interfaces.KeyRange, discard uint64) (int, error) {
	if discard == 0 {
		return 0, nil
	}
	e.gcRuns.Add(1)
	var (
		c     cursor
		drop  []version
		from  = r.Start
		total int
	)
	for {
		if err := e.checkOpen("compact"); err != nil {
			return total, err
		}
		st := e.cur.Load()
		if from == nil {
			c.first(st.root)
		} else {
			c.seekGE(st.root, from, interfaces.MaxTs)
		}
		drop = drop[:0]
		gc := gcFilter{discard: discard}
		more := false
		for ; c.valid(); c.next() {
			v := c.item()
			if gc.newKey(v) {
				if r.End != nil && bytes.Compare(v.key(), r.End) >= 0 {
					break
				}
				if len(drop) >= e.opts.CompactBatch {
					from, more = v.key(), true
					break
				}
			}
			if gc.droppable(v) {
				drop = append(drop, *v)
			}
		}
		if len(drop) > 0 {
			if err := e.remove(drop); err != nil {
				return total, err
			}
			total += len(drop)
			e.gcDropped.Add(int64(len(drop)))
		}
		if !more {
			break
		}
	}
	if len(r.Start) == 0 && r.End == nil {
		for {
			prev := e.gcTs.Load()
			if discard <= prev || e.gcTs.CompareAndSwap(prev, discard) {
				break
			}
		}
	}
	return total, nil
}

// remove deletes versions from the tree in one write session.
func (e *Engine) remove(versions []version) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.checkOpen("compact"); err != nil {
		return err
	}
	st := e.cur.Load()
	e.gen++
	w := writer{gen: e.gen, root: st.root, count: st.count, bytes: st.bytes}
	for i := range versions {
		w.remove(versions[i].key(), versions[i].ts)
	}
	e.cur.Store(&state{root: w.root, count: w.count, bytes: w.bytes, appliedTs: st.appliedTs})
	return nil
}
