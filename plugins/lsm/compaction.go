package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
)

// errFatal marks a compaction failure that must fail-stop the engine: the
// manifest write failed, so what is durable is unknown. Other failures
// leave the inputs intact and are retried.
var errFatal = errors.New("lightning/lsm: manifest write failed")

// compactionRetryDelay is how long the background compactor waits after a
// failed compaction before picking again. A variable so tests can shorten
// it.
var compactionRetryDelay = time.Second

// compactionLoop runs background compactions until the engine closes.
func (e *Engine) compactionLoop() {
	defer e.wg.Done()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		var c *compaction
		for {
			if e.closing {
				return
			}
			if e.failed.Load() == nil && !e.opts.DisableAutoCompactions {
				if c = pickAuto(e.current, &e.opts); c != nil {
					break
				}
			}
			e.cond.Wait()
		}
		err := e.runCompactionLocked(c)
		if err == nil || e.closing {
			continue
		}
		if errors.Is(err, errFatal) {
			e.mu.Unlock()
			e.failStop(err)
			e.mu.Lock()
			continue
		}
		e.m.compactionErrors.Add(1)
		e.log.Warn("compaction failed; retrying later", "compaction", c.String(), "err", err)
		e.mu.Unlock()
		closing := e.sleepOrClose(compactionRetryDelay)
		e.mu.Lock()
		if closing {
			return
		}
	}
}

// runCompactionLocked marks c's inputs, runs c without mu, and unmarks
// them. Called with mu held; returns with it held.
func (e *Engine) runCompactionLocked(c *compaction) error {
	c.setCompacting(true)
	e.running[c] = struct{}{}
	v := e.current
	v.ref()
	e.mu.Unlock()
	err := e.runCompaction(c, v)
	v.unref()
	e.mu.Lock()
	c.setCompacting(false)
	delete(e.running, c)
	e.cond.Broadcast()
	return err
}

// runCompaction executes c against v, the version it was picked from, and
// installs the result.
func (e *Engine) runCompaction(c *compaction, v *version) error {
	start := time.Now()
	ve := &versionEdit{}
	for i, files := range c.inputs {
		level := c.level
		if i == 1 {
			level = c.outputLevel
		}
		for _, f := range files {
			ve.deleted = append(ve.deleted, deletedFileEntry{level: level, num: f.num})
		}
	}
	if c.kind == compactionMove {
		f := c.inputs[0][0]
		ve.added = append(ve.added, newFileEntry{level: c.outputLevel, meta: f})
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := e.logAndApplyLocked(ve); err != nil {
			return fmt.Errorf("%w: %w", errFatal, err)
		}
		e.installReadStateLocked()
		e.m.moves.Add(1)
		e.log.Debug("moved a table", "table", f.num, "from", c.level, "to", c.outputLevel)
		return nil
	}

	discardTs := e.discardTs.Load()
	// The outputs hold every version of their keys that the inputs hold;
	// a tombstone may go when no level below the output level holds its
	// key, as v (pinned, and no compaction can move keys of this span
	// below the output level meanwhile) says.
	gc := gcFilter{discardTs: discardTs, dropTombstone: func(ukey []byte) bool {
		return !v.hasDataBelow(c.outputLevel, ukey)
	}}
	bottommost := true
	for l := c.outputLevel + 1; l < NumLevels; l++ {
		if len(v.overlapping(l, c.smallest, c.largest)) > 0 {
			bottommost = false
		}
	}
	opts := sstable.IterOptions{NoCacheFill: true, Sequential: true}
	var levelIters []*levelIter
	add := func(files []*fileMeta) {
		li := &levelIter{}
		li.init(e.tc, files, opts)
		levelIters = append(levelIters, li)
	}
	if c.level == 0 {
		for _, f := range c.inputs[0] {
			add([]*fileMeta{f})
		}
	} else {
		add(c.inputs[0])
	}
	if len(c.inputs[1]) > 0 {
		add(c.inputs[1])
	}
	iters := make([]base.InternalIterator, len(levelIters))
	for i, li := range levelIters {
		iters[i] = li
	}
	var merge mergingIter
	merge.init(iters)
	w := newOutputWriter(e, c.outputLevel, c.grandparents, true)
	n := 0
	var werr error
	for ok := merge.First(); ok; ok = merge.Next() {
		if n++; n%1024 == 0 && e.isClosing() {
			werr = fmt.Errorf("lightning/lsm: compaction: %w", interfaces.ErrClosed)
			break
		}
		k := merge.Key()
		if !gc.keep(k) {
			continue
		}
		if werr = w.add(k, merge.Value()); werr != nil {
			break
		}
	}
	if cerr := merge.Close(); werr == nil && cerr != nil {
		werr = cerr
	}
	var outputs []*fileMeta
	if werr == nil {
		outputs, werr = w.finish()
	}
	if werr == nil && len(outputs) > 0 {
		if err := e.fs.SyncDir(e.dir); err != nil {
			werr = fmt.Errorf("sync %s: %w", e.dir, err)
		}
	}
	if werr != nil {
		w.abort()
		return fmt.Errorf("lightning/lsm: compaction %s: %w", c.kind, werr)
	}
	var written uint64
	for _, f := range outputs {
		ve.added = append(ve.added, newFileEntry{level: c.outputLevel, meta: f})
		written += f.size
		if bottommost {
			f.gcTs = discardTs
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.logAndApplyLocked(ve)
	w.forgetLocked()
	if err != nil {
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	e.installReadStateLocked()
	read := c.inputBytes()
	e.m.compactions.Add(1)
	e.m.compactionRead.Add(int64(read))
	e.m.compactionW.Add(int64(written))
	e.log.Debug("compacted", "kind", c.kind.String(), "from", c.level, "to", c.outputLevel,
		"inputs", len(c.inputs[0])+len(c.inputs[1]), "outputs", len(outputs),
		"read", read, "written", written, "dropped", gc.dropped, "took", time.Since(start))
	return nil
}

// runningIntoLocked reports whether a running compaction writes into level
// or a level above it. Called with mu held.
func (e *Engine) runningIntoLocked(level int) bool {
	for c := range e.running {
		if c.outputLevel <= level {
			return true
		}
	}
	return false
}

// Compact flushes the memtables, then compacts every level's tables
// overlapping r down the tree, level by level, and finally rewrites the
// bottommost tables in r that may hold versions the discard ts lets go.
// Once Compact(KeyRange{}) returns, no such version remains. Reads and
// writes continue meanwhile; Compact waits for background compactions
// whose inputs it needs.
func (e *Engine) Compact(r interfaces.KeyRange) error {
	if err := e.checkWritable("compact"); err != nil {
		return err
	}
	if r.Start != nil && r.End != nil && bytes.Compare(r.Start, r.End) > 0 {
		return fmt.Errorf("lightning/lsm: compact: range [%q, %q) is inverted: %w", r.Start, r.End, interfaces.ErrInvalidArgument)
	}
	flushed, err := e.Flush()
	if err != nil {
		return err
	}
	if r.End != nil && (len(r.End) == 0 || (r.Start != nil && bytes.Equal(r.Start, r.End))) {
		return nil
	}
	discardTs := e.discardTs.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	for level := 0; level < NumLevels; {
		if e.closing {
			return fmt.Errorf("lightning/lsm: compact: %w", interfaces.ErrClosed)
		}
		if p := e.failed.Load(); p != nil {
			return fmt.Errorf("lightning/lsm: compact: %w (after: %w)", interfaces.ErrFailStopped, *p)
		}
		// A compaction running into this level or above may be carrying
		// versions from before the discard ts was raised into levels this
		// loop has passed: wait for it. Compactions that start later take
		// inputs from levels already cleared of r's old versions, so they
		// carry only new ones.
		if e.runningIntoLocked(level) {
			e.cond.Wait()
			continue
		}
		v := e.current
		bottom := deepestLevel(v)
		if level > bottom {
			return nil
		}
		var (
			c    *compaction
			wait bool
		)
		if level == bottom && level > 0 {
			c, wait = pickRewrite(v, &e.opts, level, r, discardTs)
		} else {
			c, wait = pickManual(v, &e.opts, level, r, flushed)
		}
		switch {
		case wait:
			e.cond.Wait()
			continue
		case c == nil:
			level++
			continue
		}
		if err := e.runCompactionLocked(c); err != nil {
			if errors.Is(err, errFatal) {
				e.mu.Unlock()
				e.failStop(err)
				e.mu.Lock()
			}
			return err
		}
	}
	return nil
}
