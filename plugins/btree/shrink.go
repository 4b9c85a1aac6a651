package btree

// Shrinking the file while it is open.
//
// Allocation takes the lowest free page, and every commit cuts off the run
// of reusable pages that ends the file, so a file whose free pages are at
// its end shrinks by itself. Free pages in the middle need live pages
// moved: a relocation transaction moves every node (and out-of-line value)
// with a page at or above a limit into free pages below it — leaves and
// values copied page by page with new headers, without decoding or
// recompressing, the branches above them rewritten with the new pointers —
// so the end of the file becomes free. Its old pages wait for the readers of older versions like
// any freed page; once they are released, a second, empty transaction
// commits the cut and truncates the file.
//
// The limit is the number of live pages plus room for the rewritten
// ancestors of moved nodes and a free-list snapshot. A flush shrinks when
// at least Options.ShrinkRatio of the file is reusable; Compact whenever
// anything is.

// minShrinkPages is the fewest reusable pages worth a relocation after a
// flush; Compact relocates for any.
const minShrinkPages = 16

// maybeShrinkLocked shrinks the file when enough of it is reusable (any of
// it, with force). e.commitMu is held.
func (e *Engine) maybeShrinkLocked(force bool) error {
	for round := 0; round < 3; round++ {
		if e.closing.Load() || e.failed.Load() != nil {
			return nil
		}
		e.fl.release(e.oldestPinned())
		e.noteFreeCounts()
		pc := e.meta.PageCount
		free := uint64(e.fl.free.count)
		if free == 0 || (!force && (free < minShrinkPages || float64(free) < e.opts.ShrinkRatio*float64(pc))) {
			return nil
		}
		live := pc - 2 - free - uint64(e.fl.pendingCount())
		limit := 2 + live + live/16 + 2*uint64(e.meta.Height) + uint64(e.fl.snapPages) + 2
		if limit >= pc {
			return nil
		}
		before := pc
		if err := e.relocateLocked(limit); err != nil {
			return err
		}
		// The cut: the relocation's old pages are reusable now unless a
		// reader holds an older version.
		e.fl.release(e.oldestPinned())
		if e.fl.free.tailStart(e.meta.PageCount) < e.meta.PageCount {
			if err := e.emptyCommitLocked(); err != nil {
				return err
			}
		}
		if e.meta.PageCount >= before || e.meta.PageCount <= limit {
			return nil
		}
	}
	return nil
}

// relocateLocked moves every node and value with a page at or above limit
// below it, in one transaction. e.commitMu is held.
func (e *Engine) relocateLocked(limit uint64) error {
	t := e.beginLocked()
	t.allocLimit = limit
	if err := t.rewriteTree(&sliceEdits{}, true); err != nil {
		return e.failStop(err)
	}
	if t.stats.nodesWritten == 0 && len(t.freed) == 0 && !t.chainAbove(limit) {
		return nil
	}
	v, err := t.commit(e.durableTs.Load(), e.discardTs.Load())
	if err != nil {
		return err
	}
	e.relocated.Add(t.stats.nodesWritten)
	e.installLocked(v, 0)
	return nil
}

// chainAbove reports whether a page of the free-list chain is at or above
// limit (the commit then rewrites the chain as a snapshot below it).
func (t *txn) chainAbove(limit uint64) bool {
	for _, id := range t.fl.chainPages() {
		if id >= limit {
			return true
		}
	}
	return false
}

// emptyCommitLocked commits a transaction that changes nothing but the
// free list, to cut the file at its reusable end. e.commitMu is held.
func (e *Engine) emptyCommitLocked() error {
	t := e.beginLocked()
	v, err := t.commit(e.durableTs.Load(), e.discardTs.Load())
	if err != nil {
		return err
	}
	e.installLocked(v, 0)
	return nil
}
