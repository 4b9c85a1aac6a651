package lsm

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// Check verifies everything the engine keeps and returns every problem
// found, joined:
//
//   - every table of the current version: its whole file (every block's
//     checksum, authentication and decoding, key order within and across
//     blocks, the filter and the properties, via sstable.Reader.Verify), and
//     that it is the table the manifest describes (size, bounds, ts range,
//     counts);
//   - the level invariants: L1 and deeper sorted with disjoint key ranges,
//     L0 ordered newest first with disjoint ts ranges;
//   - the manifest: CURRENT names it, it replays cleanly to exactly the
//     current version and durable ts;
//   - the directory: every table of the version exists, and no table file
//     is an orphan (in no live version, not being written, not queued for
//     deletion);
//   - the memtables' skiplists (the mutable one while Apply is held off).
//
// Corruption is a *interfaces.CorruptionError naming file and offset.
func (e *Engine) Check() error {
	if err := e.checkOpen("check"); err != nil {
		return err
	}
	var errs []error
	rs := e.acquireReadState()
	defer rs.unref()

	for l := range rs.v.levels {
		for _, f := range rs.v.levels[l] {
			if err := e.checkTable(f); err != nil {
				errs = append(errs, fmt.Errorf("L%d: %w", l, err))
			}
		}
	}
	errs = append(errs, e.checkManifest())
	errs = append(errs, e.checkMemtables(rs))
	return errors.Join(errs...)
}

// checkTable verifies one table.
func (e *Engine) checkTable(f *fileMeta) error {
	te, err := e.tc.get(f)
	if err != nil {
		return err
	}
	defer te.unref()
	return te.r.Verify()
}

// checkManifest replays the live manifest and compares it, and the
// directory, with the current version. It holds mu, so no edit is
// appended meanwhile.
func (e *Engine) checkManifest() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	corrupt := func(file string, format string, args ...any) {
		errs = append(errs, interfaces.Corruptf(file, -1, format, args...))
	}
	mpath := e.manifest.path
	v := e.current
	if err := v.checkInvariants(); err != nil {
		corrupt(mpath, "level invariants: %v", err)
	}
	num, err := readCurrent(e.fs, e.dir)
	switch {
	case err != nil:
		errs = append(errs, err)
	case num != e.manifest.num:
		corrupt(filepath.Join(e.dir, currentName), "CURRENT names manifest %d, the engine writes %d", num, e.manifest.num)
	default:
		data, err := readWhole(e.fs, mpath)
		if err != nil {
			errs = append(errs, err)
			break
		}
		r, err := replayManifest(data, mpath, num, e.cipher)
		switch {
		case err != nil:
			errs = append(errs, err)
		case r.torn || r.validLen != e.manifest.size:
			corrupt(mpath, "manifest holds %d valid bytes of %d, the engine wrote %d", r.validLen, len(data), e.manifest.size)
		case r.durableTs != e.durableTs.Load():
			corrupt(mpath, "manifest durable ts %d, the engine's %d", r.durableTs, e.durableTs.Load())
		default:
			n := 0
			for l := range v.levels {
				for _, f := range v.levels[l] {
					n++
					a, ok := r.files[f.num]
					switch {
					case !ok:
						corrupt(mpath, "table %06d of L%d is not in the manifest", f.num, l)
					case a.level != l || !sameMeta(a.meta, f):
						corrupt(mpath, "table %06d: the manifest records L%d %s, the version holds L%d %s", f.num, a.level, a.meta, l, f)
					}
				}
			}
			if n != len(r.files) {
				corrupt(mpath, "the manifest records %d tables, the version holds %d", len(r.files), n)
			}
		}
	}
	errs = append(errs, e.checkDirLocked(v))
	return errors.Join(errs...)
}

// sameMeta reports whether two descriptions of a table agree.
func sameMeta(a, b *fileMeta) bool {
	return a.num == b.num && a.size == b.size &&
		base.Compare(a.smallest, b.smallest) == 0 && base.Compare(a.largest, b.largest) == 0 &&
		a.minTs == b.minTs && a.maxTs == b.maxTs &&
		a.entries == b.entries && a.deletions == b.deletions && a.userKeys == b.userKeys
}

// checkDirLocked checks that every table of v exists with its recorded
// size and that no table file is an orphan. Called with mu held.
func (e *Engine) checkDirLocked(v *version) error {
	var errs []error
	names, err := e.fs.List(e.dir)
	if err != nil {
		return fmt.Errorf("lightning/lsm: check: list %s: %w", e.dir, err)
	}
	onDisk := map[uint64]bool{}
	for _, n := range names {
		if kind, num := parseFileName(n); kind == kindTable {
			onDisk[num] = true
		}
	}
	known := map[uint64]bool{}
	for l := range v.levels {
		for _, f := range v.levels[l] {
			known[f.num] = true
			path := filepath.Join(e.dir, tableName(f.num))
			if !onDisk[f.num] {
				errs = append(errs, interfaces.Corruptf(path, -1, "table of L%d is missing", l))
				continue
			}
			fi, err := e.fs.Stat(path)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("lightning/lsm: check: stat %s: %w", path, err))
			case uint64(fi.Size()) != f.size:
				errs = append(errs, interfaces.Corruptf(path, -1, "table of %d bytes, the manifest records %d", fi.Size(), f.size))
			}
		}
	}
	// Tables of older versions still pinned by readers, tables being
	// written, and tables queued for deletion are not orphans.
	for num := range e.pending {
		known[num] = true
	}
	for num := range e.live {
		known[num] = true
	}
	e.obsMu.Lock()
	for _, num := range e.obsolete {
		known[num] = true
	}
	e.obsMu.Unlock()
	for num := range onDisk {
		if !known[num] {
			errs = append(errs, interfaces.Corruptf(filepath.Join(e.dir, tableName(num)), -1, "orphan table: in no version"))
		}
	}
	return errors.Join(errs...)
}

// checkMemtables checks the skiplists of rs's memtables. The mutable one
// changes under Apply, so writeMu holds Apply off meanwhile.
func (e *Engine) checkMemtables(rs *readState) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var errs []error
	for _, m := range rs.mems {
		if err := m.skl.Check(); err != nil {
			errs = append(errs, fmt.Errorf("lightning/lsm: check: memtable %d: %w", m.num, err))
		}
	}
	return errors.Join(errs...)
}
