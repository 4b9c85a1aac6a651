package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// Release frees the segments that recovery no longer needs: every segment
// but the active one whose records are all at or below durableTs (the
// storage's durable ts), in order, stopping at the first that holds a
// later record. Each is deleted, or renamed into ArchiveDir when one is
// set; then the directories are synced, the archive's first, so that once
// a segment's removal from Dir is durable its arrival in the archive is
// too. (A crash before both syncs may, on a file system that does not
// journal a rename as one operation, leave a segment in neither: recovery
// never needs it, but the archive then lacks it.)
//
// An error leaves the segments not yet freed in place, for a later
// Release; it does not fail-stop the log, since nothing it failed to do
// puts a record at risk. Release may run concurrently with WriteGroup and
// Sync.
func (l *Log) Release(durableTs uint64) error {
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	// A segment synced in the background is released once synced, so the
	// archive only ever receives whole, durable segments.
	if err := l.waitRotSync(); err != nil {
		return err
	}
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	var victims []*segment
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.lastTs > durableTs {
			break
		}
		victims = append(victims, s)
	}
	l.mu.Unlock()
	if len(victims) == 0 {
		return nil
	}

	var (
		errs  []error
		done  int
		bytes int64
	)
	for _, s := range victims {
		var err error
		if l.opts.ArchiveDir != "" {
			err = l.fs.Rename(s.path, filepath.Join(l.opts.ArchiveDir, segmentName(s.num)))
		} else {
			err = l.fs.Remove(s.path)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("lightning/wal: release %s: %w", s.path, err))
			break
		}
		done++
		bytes += s.size
	}
	if done > 0 {
		if l.opts.ArchiveDir != "" {
			if err := l.fs.SyncDir(l.opts.ArchiveDir); err != nil {
				errs = append(errs, fmt.Errorf("lightning/wal: sync directory %s: %w", l.opts.ArchiveDir, err))
			}
		}
		if err := l.fs.SyncDir(l.opts.Dir); err != nil {
			errs = append(errs, fmt.Errorf("lightning/wal: sync directory %s: %w", l.opts.Dir, err))
		}
		// Only Release and Replay remove from the front of segs, both
		// under releaseMu, so the victims are still its first entries.
		l.mu.Lock()
		l.segs = append(l.segs[:0:0], l.segs[done:]...)
		l.mu.Unlock()
		l.released.Add(int64(done))
		l.segCount.Add(-int64(done))
		l.liveBytes.Add(-bytes)
		l.logger.Debug("lightning/wal: released segments", "count", done, "bytes", bytes,
			"durable_ts", durableTs, "archived", l.opts.ArchiveDir != "")
	}
	return errors.Join(errs...)
}

// Seal starts a new segment when every record of the active one is at or
// below ts, so that Release(ts) can free it too: after an engine flush that
// covers the whole log, nothing of the log needs to stay on disk. It does
// nothing when the active segment is empty or holds a newer record. Errors
// are those of a rotation (sticky).
func (l *Log) Seal(ts uint64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	err := l.usableLocked()
	full := false
	if err == nil {
		seg := l.active()
		full = seg.records > 0 && seg.lastTs <= ts
	}
	l.mu.Unlock()
	if err != nil || !full {
		return err
	}
	_, err = l.rotate()
	return err
}
