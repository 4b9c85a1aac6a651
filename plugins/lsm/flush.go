package lsm

import (
	"fmt"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/arenaskl"
)

// Flush makes every version applied before the call durable: it queues
// the mutable memtable for its flush and waits until every memtable up to
// it is in an L0 table recorded in the manifest. It returns the durable ts.
// A flush that fails fail-stops the engine: what reached the disk is
// unknown, so Apply and Flush return interfaces.ErrFailStopped until the
// engine is reopened.
func (e *Engine) Flush() (uint64, error) {
	if err := e.checkWritable("flush"); err != nil {
		return 0, err
	}
	e.writeMu.Lock()
	e.mu.Lock()
	e.queueMutableLocked()
	e.installReadStateLocked()
	var target uint64
	if n := len(e.imm); n > 0 {
		target = e.imm[n-1].num
	}
	e.writeMu.Unlock()
	defer e.mu.Unlock()
	for {
		switch {
		case e.failed.Load() != nil:
			return 0, e.checkWritable("flush")
		case e.closing:
			return 0, fmt.Errorf("lightning/lsm: flush: %w", interfaces.ErrClosed)
		case e.logNum >= target:
			return e.durableTs.Load(), nil
		}
		e.cond.Wait()
	}
}

// flushLoop writes the queued memtables to L0, oldest first, one at a
// time, until the engine closes or fail-stops.
func (e *Engine) flushLoop() {
	defer e.wg.Done()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !e.closing && (len(e.imm) == 0 || e.failed.Load() != nil) {
			e.cond.Wait()
		}
		if e.closing {
			return
		}
		m := e.imm[0]
		m.ref()
		e.mu.Unlock()
		err := e.flushMemtable(m)
		m.unref()
		e.mu.Lock()
		if err != nil && !e.closing {
			e.mu.Unlock()
			e.failStop(err)
			e.mu.Lock()
		}
	}
}

// flushMemtable writes m to an L0 table, dropping the versions the discard
// ts lets go (all but the newest version at or below it, per key; a
// tombstone stays, since older versions may lie in lower levels), and
// records the table and m's max ts as the durable ts in one manifest edit.
func (e *Engine) flushMemtable(m *memTable) error {
	var it arenaskl.Iterator
	it.Init(m.skl)
	gc := gcFilter{discardTs: e.discardTs.Load()}
	w := newOutputWriter(e, 0, nil, false)
	w.compressL0 = e.flushWillMove(m)
	var n int
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%1024 == 0 && e.isClosing() {
			w.abort()
			return fmt.Errorf("lightning/lsm: flush: %w", interfaces.ErrClosed)
		}
		k := it.Key()
		if !gc.keep(k) {
			continue
		}
		if err := w.add(k, it.Value()); err != nil {
			w.abort()
			return fmt.Errorf("lightning/lsm: flush memtable %d: %w", m.num, err)
		}
	}
	outputs, err := w.finish()
	if err != nil {
		w.abort()
		return fmt.Errorf("lightning/lsm: flush memtable %d: %w", m.num, err)
	}
	if len(outputs) > 0 {
		if err := e.fs.SyncDir(e.dir); err != nil {
			w.abort()
			return fmt.Errorf("lightning/lsm: flush: sync %s: %w", e.dir, err)
		}
	}
	ve := &versionEdit{
		hasDurableTs: true, durableTs: m.maxTs.Load(),
		hasLogNum: true, logNum: m.num,
	}
	var bytes uint64
	for _, f := range outputs {
		ve.added = append(ve.added, newFileEntry{level: 0, meta: f})
		bytes += f.size
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.logAndApplyLocked(ve); err != nil {
		// The edit may or may not be durable: leave the tables for the
		// next open to keep or delete.
		w.forgetLocked()
		return err
	}
	w.forgetLocked()
	e.imm = e.imm[1:]
	e.logNum = m.num
	e.durableTs.Store(m.maxTs.Load())
	e.installReadStateLocked()
	e.m.flushes.Add(1)
	e.m.flushBytes.Add(int64(bytes))
	e.cond.Broadcast()
	e.log.Debug("flushed", "memtable", m.num, "entries", m.skl.Len(), "tables", len(outputs), "bytes", bytes, "durable_ts", m.maxTs.Load())
	return nil
}

// flushWillMove reports whether m's table, once flushed, is likely to be
// moved down whole: its key range meets no table of L0 or L1, as when keys
// arrive in ascending order. Such a table is written compressed, since it
// may never be rewritten; the others are stored raw, for the L0 compaction
// that soon merges them (Options.CompressL0).
func (e *Engine) flushWillMove(m *memTable) bool {
	var it arenaskl.Iterator
	it.Init(m.skl)
	if !it.First() {
		return false
	}
	first := it.Key().UserKey
	it.Last()
	last := it.Key().UserKey
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.current
	return len(v.overlapping(0, first, last)) == 0 && len(v.overlapping(1, first, last)) == 0
}

// isClosing reports whether Close has begun.
func (e *Engine) isClosing() bool {
	select {
	case <-e.closeCh:
		return true
	default:
		return false
	}
}

// logAndApplyLocked makes ve durable in the manifest and installs the
// version it produces. The edit always records the next file number.
// Every failure is fatal to writing: the caller fail-stops the engine.
// Called with mu held.
func (e *Engine) logAndApplyLocked(ve *versionEdit) error {
	ve.hasNextFileNum, ve.nextFileNum = true, e.nextFileNum
	nv, err := applyEdit(e.current, ve, e.releaseFiles)
	if err != nil {
		return fmt.Errorf("lightning/lsm: version edit does not apply: %w", err)
	}
	durable, logNum := e.durableTs.Load(), e.logNum
	if ve.hasDurableTs {
		durable = ve.durableTs
	}
	if ve.hasLogNum {
		logNum = ve.logNum
	}
	if e.manifest.size >= e.opts.MaxManifestSize {
		err = e.rotateManifestLocked(nv, durable, logNum)
	} else {
		err = e.manifest.append(ve)
	}
	if err != nil {
		// Stop every writer now, before mu is released: what the manifest
		// holds is unknown.
		e.failStopLocked(err)
		// nv holds references to its tables; dropping it must not make
		// them obsolete, since the edit may be durable.
		for l := range nv.levels {
			for _, f := range nv.levels[l] {
				f.refs.Add(-1)
			}
		}
		return err
	}
	for _, a := range ve.added {
		e.live[a.meta.num] = struct{}{}
	}
	nv.ref()
	old := e.current
	e.current = nv
	old.unref()
	return nil
}

// rotateManifestLocked starts a new manifest holding a snapshot of nv and
// points CURRENT at it, then deletes the old manifest.
func (e *Engine) rotateManifestLocked(nv *version, durable, logNum uint64) error {
	num := e.allocFileNumLocked()
	w, err := createManifest(e.fs, e.dir, num, e.cipher, snapshotEdit(nv, e.nextFileNum, durable, logNum))
	if err != nil {
		return err
	}
	if err := setCurrent(e.fs, e.dir, num); err != nil {
		_ = w.close()
		return err
	}
	old := e.manifest
	e.manifest = w
	_ = old.close()
	if err := e.fs.Remove(old.path); err != nil {
		e.log.Warn("could not delete the old manifest", "manifest", old.path, "err", err)
	}
	e.log.Debug("started a new manifest", "manifest", filepath.Base(w.path))
	return nil
}
