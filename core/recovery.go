package core

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lightningdb/lightning/core/internal/wal"
	"github.com/lightningdb/lightning/interfaces"
)

// replayChunk bounds how many bytes of replayed commits go to the engine in
// one Apply.
const replayChunk = 4 << 20

// recover opens the WAL and replays into the engine every commit above the
// engine's durable ts, then sets the clock: the next ts follows both the
// engine's durable ts and the last ts in the log (a commit may be durable in
// the engine and lost from an unsynced log tail, or the other way round).
func (db *DB) recover() error {
	start := time.Now()
	_, span := db.tracer.Start(context.Background(), "lightning.recover")
	defer span.End()

	durable, err := db.storage.DurableTs()
	if err != nil {
		return fmt.Errorf("core: engine durable ts: %w", err)
	}
	archive := db.opts.WALArchiveDir
	if archive != "" && !filepath.IsAbs(archive) {
		archive = filepath.Join(db.dir, archive)
	}
	db.log, err = wal.Open(wal.Options{
		FS:                db.fs,
		Dir:               filepath.Join(db.dir, walDir),
		SegmentSize:       db.opts.WALSegmentSize,
		Codec:             db.opts.Codec,
		CompressThreshold: db.opts.WALCompressThreshold,
		Preallocate:       max(db.opts.WALPreallocate, 0),
		MapWrites:         db.opts.Sync.kind != syncAlways && !db.opts.WALNoMmap,
		// A log synced at every commit has its segment synced already
		// when it rotates; one synced rarely should not wait for it.
		SyncRotatedInBackground: db.opts.Sync.kind != syncAlways,
		Codecs:                  db.codecs,
		Cipher:                  db.opts.Cipher,
		ArchiveDir:              archive,
		Logger:                  db.opts.Logger,
	})
	if err != nil {
		return fmt.Errorf("core: open WAL: %w", err)
	}

	mode := wal.Strict
	if db.opts.TruncateCorruptWAL {
		mode = wal.TruncateCorrupt
	}
	var (
		batch   []interfaces.Entry
		pending int
		applied uint64
		dedup   = newDeduper()
		scratch []interfaces.Entry
		bufs    [][]byte
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := db.storage.Apply(batch); err != nil {
			return fmt.Errorf("core: replay into engine: %w", err)
		}
		clear(batch)
		batch, pending, bufs = batch[:0], 0, bufs[:0]
		return nil
	}
	res, err := db.log.Replay(durable, mode, func(ts uint64, payload []byte) error {
		// The payload is only valid during the call, and the engine gets
		// a chunk of commits at once: keep a copy until the chunk goes.
		p := append([]byte(nil), payload...)
		bufs = append(bufs, p)
		var err error
		scratch, err = decodeBatch(scratch[:0], p, ts)
		if err != nil {
			return fmt.Errorf("core: WAL record at ts %d: %w", ts, err)
		}
		batch = append(batch, dedup.dedup(scratch)...)
		pending += len(p)
		applied++
		if pending >= replayChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: recover %s: %w", db.dir, err)
	}
	if err := flush(); err != nil {
		return err
	}
	if res.Torn() {
		db.opts.Logger.Info("lightning: cut the WAL's torn tail (a write the crash interrupted, never acknowledged as durable)",
			"segment", res.TornSegment, "offset", res.TornOffset, "bytes", res.TornBytes, "records", res.TornRecords)
	}
	if res.Lost() {
		db.opts.Logger.Warn("lightning: WAL cut at a corrupt record: commits after it are lost",
			"segment", res.CorruptSegment, "offset", res.CorruptOffset, "lost_bytes", res.LostBytes,
			"lost_records", res.LostRecords)
	}
	last := max(durable, res.LastTs)
	db.nextTs = last + 1
	db.visible.Store(last)
	db.metrics.recoveredCommits.Store(int64(applied))
	span.SetAttributes(
		attribute.Int64("lightning.durable_ts", int64(durable)),
		attribute.Int64("lightning.replayed", int64(applied)),
		attribute.Int64("lightning.last_ts", int64(last)),
	)
	span.AddEvent("recovered", trace.WithAttributes(attribute.String("took", time.Since(start).String())))
	db.opts.Logger.Info("lightning: recovered", "dir", db.dir, "durable_ts", durable, "replayed", applied,
		"last_ts", last, "took", time.Since(start))
	return nil
}
