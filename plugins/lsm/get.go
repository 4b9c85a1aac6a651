package lsm

import (
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
)

// Get returns a copy of the value of key's newest version with ts <=
// readTs, and that version's ts. It reads no higher than the applied ts,
// so the versions of an Apply still running are invisible.
//
// The search stops at the first place holding a version of key at or
// below the read ts — memtables newest first, then L0 newest first, then
// one table per level — because a newer place holds newer versions (the
// LSM invariant). Tables are skipped by key range, ts range and Bloom
// filter before any block is read. Nothing is allocated but the returned
// value.
func (e *Engine) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if e.closed.Load() {
		return nil, 0, e.checkOpen("get")
	}
	ts := min(readTs, e.appliedTs.Load())
	if ts == 0 {
		return nil, 0, interfaces.ErrNotFound
	}
	rs := e.acquireReadState()
	defer rs.unref()
	// The filter hash is computed once for every memtable and table
	// probed.
	h := sstable.KeyHash(key)
	for _, m := range rs.mems {
		if v, vts, kind, ok := m.get(key, h, ts); ok {
			if kind != base.KindSet {
				return nil, 0, interfaces.ErrNotFound
			}
			return append([]byte(nil), v...), vts, nil
		}
	}
	v := rs.v
	for _, f := range v.levels[0] {
		if f.minTs > ts || !f.containsUserKey(key) {
			continue
		}
		if val, vts, found, err := e.tableGet(f, key, h, ts); found || err != nil {
			return val, vts, err
		}
	}
	for l := 1; l < NumLevels; l++ {
		f := v.findFile(l, key)
		if f == nil || f.minTs > ts {
			continue
		}
		if val, vts, found, err := e.tableGet(f, key, h, ts); found || err != nil {
			return val, vts, err
		}
	}
	// The sentinel itself: not finding a key is an answer, not a failure,
	// and wrapping it would cost an allocation per miss.
	return nil, 0, interfaces.ErrNotFound
}

// tableGet looks key, whose filter hash is h, up in table f. found is
// true when the table decides the answer: a value, or ErrNotFound for a
// tombstone.
func (e *Engine) tableGet(f *fileMeta, key []byte, h, ts uint64) ([]byte, uint64, bool, error) {
	te, err := e.tc.get(f)
	if err != nil {
		return nil, 0, true, fmt.Errorf("lightning/lsm: get: %w", err)
	}
	val, vts, kind, found, err := te.r.GetHashed(key, h, ts, nil)
	te.unref()
	switch {
	case err != nil:
		return nil, 0, true, fmt.Errorf("lightning/lsm: get: %w", err)
	case !found:
		return nil, 0, false, nil
	case kind != base.KindSet:
		return nil, 0, true, interfaces.ErrNotFound
	}
	if val == nil {
		val = []byte{}
	}
	return val, vts, true, nil
}
