package lsm

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/lightningdb/lightning/interfaces"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
	"github.com/lightningdb/lightning/plugins/lsm/internal/sstable"
	"github.com/lightningdb/lightning/vfs"
)

// gcFilter decides, entry by entry in internal-key order, which versions a
// flush or compaction keeps under the discard ts: for each user key, every
// version above discardTs, and the newest version V at or below it — unless
// V is a tombstone that nothing older needs (dropTombstone says no level
// below holds the key). Everything older than V goes: V hides it from
// every read at or above discardTs.
type gcFilter struct {
	discardTs uint64
	// dropTombstone reports whether a tombstone V of ukey may go; nil
	// means never.
	dropTombstone func(ukey []byte) bool
	curKey        []byte
	started       bool
	// seenV says V of curKey has been met.
	seenV   bool
	dropped int64
}

// keep reports whether the entry with key k is written.
func (g *gcFilter) keep(k base.InternalKey) bool {
	if !g.started || !bytes.Equal(k.UserKey, g.curKey) {
		g.curKey = append(g.curKey[:0], k.UserKey...)
		g.started, g.seenV = true, false
	}
	if k.Ts() > g.discardTs {
		return true
	}
	if g.seenV {
		g.dropped++
		return false
	}
	g.seenV = true
	if k.Kind() == base.KindDelete && g.dropTombstone != nil && g.dropTombstone(k.UserKey) {
		g.dropped++
		return false
	}
	return true
}

// outputWriter writes the tables of a flush or compaction. With split set,
// it starts a new table once the current one reaches the target file size
// or overlaps too much of the grandparent level — but only between user
// keys, so that every version of a key lands in one table.
type outputWriter struct {
	e            *Engine
	level        int
	split        bool
	grandparents []*fileMeta
	gpIndex      int
	gpOverlap    uint64
	seenKey      bool

	w       *sstable.Writer
	f       vfs.File
	num     uint64
	outputs []*fileMeta
	// nums are every table number this writer allocated, finished or not.
	nums    []uint64
	lastKey []byte
	// compressL0 asks for L0 tables written with the codec.
	compressL0 bool
}

// compresses reports whether the engine has a codec that compresses.
func (e *Engine) compresses() bool {
	return e.codec != nil && e.codec.ID() != interfaces.CodecNone
}

// codec returns the codec of the writer's tables: the engine's, except
// for L0 tables, which are stored raw unless Options.CompressL0 or the
// flush (compressL0) asks for the codec.
func (w *outputWriter) codec() interfaces.Codec {
	if w.level == 0 && !w.e.opts.CompressL0 && !w.compressL0 {
		return nil
	}
	return w.e.codec
}

func newOutputWriter(e *Engine, level int, grandparents []*fileMeta, split bool) *outputWriter {
	return &outputWriter{e: e, level: level, grandparents: grandparents, split: split}
}

// add appends an entry; entries come in increasing internal-key order.
func (w *outputWriter) add(k base.InternalKey, value []byte) error {
	if w.w == nil || !bytes.Equal(k.UserKey, w.lastKey) {
		stop := w.pastGrandparents(k.UserKey)
		if w.w != nil && w.split && (stop || w.w.EstimatedSize() >= uint64(w.e.opts.TargetFileSize)) {
			if err := w.finishTable(); err != nil {
				return err
			}
		}
		w.lastKey = append(w.lastKey[:0], k.UserKey...)
	}
	if w.w == nil {
		if err := w.startTable(); err != nil {
			return err
		}
	}
	return w.w.Add(k, value)
}

// pastGrandparents advances over the grandparent tables entirely below
// ukey and reports whether the current output overlaps too many of them
// (resetting the count when it does).
func (w *outputWriter) pastGrandparents(ukey []byte) bool {
	for w.gpIndex < len(w.grandparents) && bytes.Compare(ukey, w.grandparents[w.gpIndex].largest.UserKey) > 0 {
		if w.seenKey {
			w.gpOverlap += w.grandparents[w.gpIndex].size
		}
		w.gpIndex++
	}
	w.seenKey = true
	if w.gpOverlap > w.e.opts.maxGrandparentOverlap() {
		w.gpOverlap = 0
		return true
	}
	return false
}

func (w *outputWriter) startTable() error {
	e := w.e
	e.mu.Lock()
	num := e.allocFileNumLocked()
	e.pending[num] = struct{}{}
	e.mu.Unlock()
	w.nums = append(w.nums, num)
	path := filepath.Join(e.dir, tableName(num))
	f, err := e.fs.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w.f, w.num = f, num
	w.w = sstable.NewWriter(f, sstable.WriterOptions{
		BlockSize:       e.opts.BlockSize,
		BloomBitsPerKey: e.opts.BloomBitsPerKey,
		Codec:           w.codec(),
		Cipher:          e.cipher,
		FileNum:         num,
	})
	return nil
}

// finishTable finishes (and syncs) the current table.
func (w *outputWriter) finishTable() error {
	meta, err := w.w.Finish()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", w.f.Name(), cerr)
	}
	w.w, w.f = nil, nil
	if err != nil {
		return err
	}
	w.outputs = append(w.outputs, &fileMeta{
		num:        w.num,
		size:       meta.Size,
		smallest:   meta.Smallest,
		largest:    meta.Largest,
		minTs:      meta.MinTs,
		maxTs:      meta.MaxTs,
		entries:    meta.NumEntries,
		deletions:  meta.NumDeletions,
		userKeys:   meta.NumUserKeys,
		compressed: w.codec() != nil || !w.e.compresses(),
	})
	return nil
}

// finish finishes the last table and returns the tables written.
func (w *outputWriter) finish() ([]*fileMeta, error) {
	if w.w != nil {
		if err := w.finishTable(); err != nil {
			return nil, err
		}
	}
	return w.outputs, nil
}

// abort deletes every table the writer made.
func (w *outputWriter) abort() {
	if w.f != nil {
		_ = w.f.Close()
		w.w, w.f = nil, nil
	}
	for _, num := range w.nums {
		_ = w.e.fs.Remove(filepath.Join(w.e.dir, tableName(num)))
	}
	w.forget()
}

// forget drops the writer's claim on its tables: they are in a version
// now, or left for the next open to judge.
func (w *outputWriter) forget() {
	w.e.mu.Lock()
	w.forgetLocked()
	w.e.mu.Unlock()
}

// forgetLocked is forget with mu held.
func (w *outputWriter) forgetLocked() {
	for _, num := range w.nums {
		delete(w.e.pending, num)
	}
	w.nums = nil
}
