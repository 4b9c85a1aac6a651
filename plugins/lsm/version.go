package lsm

import (
	"bytes"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// fileMeta describes one table: what the manifest records about it, plus
// in-memory state. Everything the manifest records is immutable once the
// table is in a version.
type fileMeta struct {
	num  uint64
	size uint64
	// smallest and largest are the table's first and last internal keys;
	// they own their bytes.
	smallest, largest base.InternalKey
	// minTs and maxTs bound the ts of the table's entries.
	minTs, maxTs uint64
	// entries and deletions count the table's entries and the tombstones
	// among them; userKeys counts its distinct user keys.
	entries, deletions, userKeys uint64

	// refs counts the versions that hold the table. When it drops to zero
	// the table is obsolete, and its file is deleted.
	refs atomic.Int32
	// compacting is set while a compaction has the table as an input.
	// Guarded by Engine.mu.
	compacting bool
	// compressed says the table's blocks were written with the engine's
	// codec (trivially so when it has none): every compaction output, and
	// a flush that expected to be moved down whole (Engine.flushWillMove). False for an L0 table
	// stored raw, and after a reopen, when it is unknown (it is not in the
	// manifest): such an L0 table is rewritten rather than moved.
	// Immutable once the table is in a version.
	compressed bool
	// gcTs is the discard ts the table was last written with as a
	// bottommost compaction output: it holds nothing that discard ts lets
	// go. Zero when unknown (it is not in the manifest). Guarded by
	// Engine.mu.
	gcTs uint64
	// tc caches the table's open reader (see tableCache.get), so a lookup
	// of a table that is open takes no lock.
	tc atomic.Pointer[tableEntry]
}

func (f *fileMeta) String() string {
	return fmt.Sprintf("%06d:[%s-%s]", f.num, f.smallest, f.largest)
}

// overlaps reports whether the table holds user keys in [start, end], both
// inclusive; a nil start or end is unbounded.
func (f *fileMeta) overlaps(start, end []byte) bool {
	if end != nil && bytes.Compare(f.smallest.UserKey, end) > 0 {
		return false
	}
	if start != nil && bytes.Compare(f.largest.UserKey, start) < 0 {
		return false
	}
	return true
}

// containsUserKey reports whether key lies in the table's user-key range.
func (f *fileMeta) containsUserKey(key []byte) bool {
	return bytes.Compare(f.smallest.UserKey, key) <= 0 && bytes.Compare(key, f.largest.UserKey) <= 0
}

// version is one state of the tree: the tables of each level. It is
// immutable once installed; a flush or compaction makes a new one.
//
// INVARIANT: L0 is ordered newest first — by maxTs descending, and the ts
// ranges of L0 tables are disjoint, because each holds one flushed
// memtable. Levels 1 and up are ordered by smallest key, and their tables'
// user-key ranges are disjoint (a user key never spans two tables of one
// level). For every user key, the versions in a newer place (memtables,
// then L0 newest first, then L1, L2, ...) have larger ts than those in an
// older place.
type version struct {
	levels [NumLevels][]*fileMeta
	// levelBytes is the total size of each level's tables.
	levelBytes [NumLevels]uint64
	// refs counts the holders: the version set while the version is
	// current, read states, compactions. At zero the version releases its
	// tables.
	refs atomic.Int32
	// release receives the tables whose last version went away.
	release func(obsolete []*fileMeta)
}

// ref adds a holder.
func (v *version) ref() { v.refs.Add(1) }

// unref drops a holder; the last one releases the version's tables.
func (v *version) unref() {
	switch n := v.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("lightning/lsm: version reference count below zero")
	}
	var obsolete []*fileMeta
	for l := range v.levels {
		for _, f := range v.levels[l] {
			if f.refs.Add(-1) == 0 {
				obsolete = append(obsolete, f)
			}
		}
	}
	if len(obsolete) > 0 && v.release != nil {
		v.release(obsolete)
	}
}

// numFiles returns the number of tables in the version.
func (v *version) numFiles() int {
	n := 0
	for l := range v.levels {
		n += len(v.levels[l])
	}
	return n
}

// totalBytes returns the total size of the version's tables.
func (v *version) totalBytes() uint64 {
	var n uint64
	for _, b := range v.levelBytes {
		n += b
	}
	return n
}

// overlapping returns the tables of level whose user-key ranges meet
// [start, end] (inclusive; nil is unbounded). For L0 it returns them in
// the level's order (newest first); the caller expands the set when it
// needs it closed under overlap.
func (v *version) overlapping(level int, start, end []byte) []*fileMeta {
	files := v.levels[level]
	if level == 0 {
		var out []*fileMeta
		for _, f := range files {
			if f.overlaps(start, end) {
				out = append(out, f)
			}
		}
		return out
	}
	// Levels 1 and up are sorted and disjoint: a binary search finds the
	// first table whose largest key reaches start.
	i := 0
	if start != nil {
		i, _ = slices.BinarySearchFunc(files, start, func(f *fileMeta, k []byte) int {
			return bytes.Compare(f.largest.UserKey, k)
		})
	}
	j := i
	for j < len(files) && (end == nil || bytes.Compare(files[j].smallest.UserKey, end) <= 0) {
		j++
	}
	return files[i:j:j]
}

// findFile returns the table of level 1 or up that may hold key, or nil.
func (v *version) findFile(level int, key []byte) *fileMeta {
	files := v.levels[level]
	lo, hi := 0, len(files)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if bytes.Compare(files[h].largest.UserKey, key) < 0 {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo < len(files) && bytes.Compare(files[lo].smallest.UserKey, key) <= 0 {
		return files[lo]
	}
	return nil
}

// hasDataBelow reports whether any level below level holds a table whose
// range contains key.
func (v *version) hasDataBelow(level int, key []byte) bool {
	for l := level + 1; l < NumLevels; l++ {
		if v.findFile(l, key) != nil {
			return true
		}
	}
	return false
}

// checkInvariants verifies the ordering invariants of the version's
// levels, returning a description of the first violation.
func (v *version) checkInvariants() error {
	seen := map[uint64]int{}
	for l := range v.levels {
		var total uint64
		for i, f := range v.levels[l] {
			if pl, ok := seen[f.num]; ok {
				return fmt.Errorf("table %06d is in L%d and L%d", f.num, pl, l)
			}
			seen[f.num] = l
			total += f.size
			if base.Compare(f.smallest, f.largest) > 0 {
				return fmt.Errorf("L%d table %06d: smallest key %s above largest %s", l, f.num, f.smallest, f.largest)
			}
			if f.minTs > f.maxTs {
				return fmt.Errorf("L%d table %06d: min ts %d above max ts %d", l, f.num, f.minTs, f.maxTs)
			}
			if i == 0 {
				continue
			}
			prev := v.levels[l][i-1]
			if l == 0 {
				if prev.minTs <= f.maxTs {
					return fmt.Errorf("L0 tables %06d (ts %d-%d) and %06d (ts %d-%d) are not ordered by disjoint ts ranges, newest first",
						prev.num, prev.minTs, prev.maxTs, f.num, f.minTs, f.maxTs)
				}
				continue
			}
			if bytes.Compare(prev.largest.UserKey, f.smallest.UserKey) >= 0 {
				return fmt.Errorf("L%d tables %06d and %06d overlap or are out of order: %s >= %s",
					l, prev.num, f.num, prev.largest, f.smallest)
			}
		}
		if total != v.levelBytes[l] {
			return fmt.Errorf("L%d: level size %d, tables sum to %d", l, v.levelBytes[l], total)
		}
	}
	return nil
}

// sortLevel puts a level's tables in the version's order.
func sortLevel(level int, files []*fileMeta) {
	if level == 0 {
		slices.SortFunc(files, func(a, b *fileMeta) int {
			switch {
			case a.maxTs != b.maxTs:
				if a.maxTs > b.maxTs {
					return -1
				}
				return 1
			case a.num > b.num:
				return -1
			case a.num < b.num:
				return 1
			}
			return 0
		})
		return
	}
	slices.SortFunc(files, func(a, b *fileMeta) int { return base.Compare(a.smallest, b.smallest) })
}

// applyEdit returns the version that results from applying ve to v (which
// may be nil, for an empty tree). Tables carried over and added get a
// reference from the new version. The new version has no holder yet and
// releases obsolete tables through release. It fails, changing nothing,
// when the edit does not fit v: a deleted table that is not there, an
// added one that already is, or levels that break the invariants.
func applyEdit(v *version, ve *versionEdit, release func([]*fileMeta)) (*version, error) {
	nv := &version{release: release}
	deleted := map[uint64]int{}
	for _, d := range ve.deleted {
		if d.level < 0 || d.level >= NumLevels {
			return nil, fmt.Errorf("deleted table %06d in level %d", d.num, d.level)
		}
		if _, dup := deleted[d.num]; dup {
			return nil, fmt.Errorf("table %06d deleted twice", d.num)
		}
		deleted[d.num] = d.level
	}
	present := map[uint64]bool{}
	for l := range NumLevels {
		var files []*fileMeta
		if v != nil {
			files = make([]*fileMeta, 0, len(v.levels[l]))
			for _, f := range v.levels[l] {
				present[f.num] = true
				if dl, ok := deleted[f.num]; ok {
					if dl != l {
						return nil, fmt.Errorf("table %06d deleted from L%d but it is in L%d", f.num, dl, l)
					}
					delete(deleted, f.num)
					continue
				}
				files = append(files, f)
			}
		}
		nv.levels[l] = files
	}
	for num, l := range deleted {
		return nil, fmt.Errorf("table %06d deleted from L%d but it is not in the version", num, l)
	}
	for _, a := range ve.added {
		if a.level < 0 || a.level >= NumLevels {
			return nil, fmt.Errorf("table %06d added to level %d", a.meta.num, a.level)
		}
		// A table deleted by this edit may come back in another level (a
		// move); one present and not deleted may not be added again.
		if present[a.meta.num] {
			if _, moved := findDeleted(ve, a.meta.num); !moved {
				return nil, fmt.Errorf("table %06d added but already in the version", a.meta.num)
			}
		}
		present[a.meta.num] = true
		nv.levels[a.level] = append(nv.levels[a.level], a.meta)
	}
	for l := range NumLevels {
		sortLevel(l, nv.levels[l])
		for _, f := range nv.levels[l] {
			nv.levelBytes[l] += f.size
		}
	}
	if err := nv.checkInvariants(); err != nil {
		return nil, err
	}
	for l := range nv.levels {
		for _, f := range nv.levels[l] {
			f.refs.Add(1)
		}
	}
	return nv, nil
}

// findDeleted returns the level ve deletes table num from.
func findDeleted(ve *versionEdit, num uint64) (int, bool) {
	for _, d := range ve.deleted {
		if d.num == num {
			return d.level, true
		}
	}
	return 0, false
}

// snapshotEdit returns an edit that builds v from an empty tree, with the
// given bookkeeping: what a new manifest starts with.
func snapshotEdit(v *version, nextFileNum, durableTs, logNum uint64) *versionEdit {
	ve := &versionEdit{
		hasNextFileNum: true, nextFileNum: nextFileNum,
		hasDurableTs: true, durableTs: durableTs,
		hasLogNum: true, logNum: logNum,
	}
	if v != nil {
		for l := range v.levels {
			for _, f := range v.levels[l] {
				ve.added = append(ve.added, newFileEntry{level: l, meta: f})
			}
		}
	}
	return ve
}
