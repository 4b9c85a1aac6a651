package btree

import (
	"bytes"
	"fmt"
	"math"

	"github.com/lightningdb/lightning/interfaces"
)

// Compaction: garbage collection by the discard ts, and shrinking the file.
//
// Flushes drop what the discard ts allows from the nodes they rewrite
// anyway, judging each run of nodes on its own (see gcRun). Compact is
// exact: it flushes the write buffers, then scans the tree over the range
// on a pinned version, reading every version of every key in order, lists
// the versions the discard ts lets go — for each user key, every version
// older than its newest one at or below the discard ts, and that one too
// when it is a tombstone — and drops them in transactions of about
// Options.CompactBatch versions each, each ending at a user key boundary,
// so a tombstone and the versions it hides go together. A version listed
// on the pinned tree is still droppable when its transaction runs: later
// versions can only make more of a key droppable. Then it shrinks the file.

// Compact drops the versions in r that the discard ts lets go, then moves
// pages from the end of the file down and truncates it. Reads and writes
// go on meanwhile: each garbage collection transaction holds the commit
// lock only while it rewrites the leaves it changes.
func (e *Engine) Compact(r interfaces.KeyRange) error {
	if err := e.checkOpen("compact"); err != nil {
		return err
	}
	if r.Start != nil && r.End != nil && bytes.Compare(r.Start, r.End) > 0 {
		return fmt.Errorf("lightning/btree: compact: start %q above end %q: %w", r.Start, r.End, interfaces.ErrInvalidArgument)
	}
	if err := e.checkWritable("compact"); err != nil {
		return err
	}
	// The range belongs to the caller, who may reuse it once Compact
	// returns; the scan keeps its own copies.
	r = interfaces.KeyRange{Start: cloneBytes(r.Start), End: cloneBytes(r.End)}
	if _, err := e.Flush(); err != nil {
		return err
	}
	if d := e.discardTs.Load(); d > 0 {
		if err := e.collect(r, d); err != nil {
			return err
		}
	}
	e.commitMu.Lock()
	err := e.maybeShrinkLocked(true)
	e.commitMu.Unlock()
	if err != nil {
		return err
	}
	e.compactions.Add(1)
	return nil
}

// collect runs the garbage collection transactions over r at discard ts d.
func (e *Engine) collect(r interfaces.KeyRange, d uint64) error {
	start := r.Start
	for {
		if e.closing.Load() {
			return fmt.Errorf("lightning/btree: compact: %w", interfaces.ErrClosed)
		}
		drops, resume, err := e.findDroppable(start, r.End, d)
		if err != nil {
			return fmt.Errorf("lightning/btree: compact: %w", err)
		}
		if len(drops) > 0 {
			if err := e.dropVersions(drops); err != nil {
				return err
			}
		}
		if resume == nil {
			return nil
		}
		start = resume
	}
}

// findDroppable scans the tree from user key start (nil: the first) up to
// end (nil: the last) and returns, in order, up to about CompactBatch
// versions that discard ts d lets go, and the user key to resume from (nil
// when the scan reached end).
func (e *Engine) findDroppable(start, end []byte, d uint64) ([]edit, []byte, error) {
	s := e.acquire()
	defer e.release(s)
	var c cursor
	c.init(e.p, s.tree)
	var ok bool
	var err error
	if start != nil {
		ok, err = c.seekGE(start, math.MaxUint64)
	} else {
		ok, err = c.first()
	}
	var drops []edit
	var arena []byte
	keep := func(b []byte) []byte {
		if len(arena)+len(b) > cap(arena) {
			arena = make([]byte, 0, max(64<<10, len(b)))
		}
		n := len(arena)
		arena = append(arena, b...)
		return arena[n : n+len(b) : n+len(b)]
	}
	var key, group []byte
	seenAtOrBelow := false
	for ; ok; ok = c.next() {
		l := c.leaf()
		key = l.AppendKey(key[:0], c.idx())
		if end != nil && bytes.Compare(key, end) >= 0 {
			return drops, nil, nil
		}
		if group == nil || !bytes.Equal(key, group) {
			// A new user key: a batch may end here, between keys.
			if len(drops) >= e.opts.CompactBatch {
				return drops, append([]byte(nil), key...), nil
			}
			group = append(group[:0], key...)
			if group == nil {
				group = []byte{}
			}
			seenAtOrBelow = false
		}
		en := l.Entry(c.idx())
		if en.Ts > d {
			continue
		}
		if seenAtOrBelow || en.Kind == interfaces.KindDelete {
			drops = append(drops, edit{key: keep(key), ts: en.Ts, drop: true})
		}
		seenAtOrBelow = true
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	return drops, nil, err
}

// dropVersions removes versions from the tree in one transaction.
func (e *Engine) dropVersions(drops []edit) error {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	if err := e.checkWritable("compact"); err != nil {
		return err
	}
	t := e.beginLocked()
	if err := t.rewriteTree(&sliceEdits{edits: drops}, false); err != nil {
		return e.failStop(err)
	}
	v, err := t.commit(e.durableTs.Load(), e.discardTs.Load())
	if err != nil {
		return err
	}
	e.installLocked(v, 0)
	return nil
}
