package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningdb/lightning/interfaces"
)

// Background work: one goroutine each for interval syncs, checkpoints (asking
// the engine to Flush so the WAL can shrink) and garbage collection (moving
// the engine's discard ts up to the oldest live read). Close stops them.

func (db *DB) startBackground() {
	if db.opts.Sync.kind == syncInterval {
		db.goBackground(db.syncLoop)
	}
	db.goBackground(db.checkpointLoop)
	db.goBackground(db.gcLoop)
}

func (db *DB) goBackground(fn func()) {
	db.bg.Add(1)
	go func() {
		defer db.bg.Done()
		fn()
	}()
}

func (db *DB) syncLoop() {
	t := time.NewTicker(db.opts.Sync.interval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			if db.failed.Load() != nil {
				continue
			}
			if err := db.log.Sync(); err != nil {
				db.failStop(fmt.Errorf("core: interval WAL sync: %w", err))
			}
		}
	}
}

// maybeCheckpoint asks the checkpoint loop to run when the WAL has grown
// past CheckpointBytes. Called by the leader after each group.
func (db *DB) maybeCheckpoint() {
	if db.log.Stats().LiveBytes < db.opts.CheckpointBytes {
		return
	}
	select {
	case db.checkpoint <- struct{}{}:
	default:
	}
}

func (db *DB) checkpointLoop() {
	// The engine may make data durable on its own (an LSM flushes full
	// memtables): release the WAL behind it now and then, too.
	t := time.NewTicker(db.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-db.checkpoint:
			if err := db.flushEngine(); err != nil && !errors.Is(err, ErrClosed) {
				db.opts.Logger.Warn("lightning: checkpoint failed", "err", err)
			}
		case <-t.C:
			if err := db.releaseWAL(); err != nil {
				db.opts.Logger.Warn("lightning: WAL release failed", "err", err)
			}
		}
	}
}

// flushEngine flushes the engine and releases the WAL below its durable ts.
func (db *DB) flushEngine() error {
	start := time.Now()
	_, span := db.tracer.Start(context.Background(), "lightning.flush")
	defer span.End()
	durable, err := db.storage.Flush()
	if err != nil {
		span.RecordError(err)
		if errors.Is(err, interfaces.ErrFailStopped) {
			db.failStop(fmt.Errorf("core: engine flush: %w", err))
		}
		return fmt.Errorf("core: engine flush: %w", err)
	}
	db.metrics.flushes.Add(1)
	db.metrics.flushLatency.observe(time.Since(start))
	return db.sealAndRelease(durable)
}

// sealAndRelease drops the WAL at or below durable after the engine made
// it durable. When durable covers the whole log, it seals the active
// segment so the release frees it too: the WAL then holds nothing the
// engine does not (a sealing failure is a WAL write failure: fail-stop).
func (db *DB) sealAndRelease(durable uint64) error {
	if err := db.log.Seal(durable); err != nil {
		return db.failStop(fmt.Errorf("core: seal the WAL after a flush: %w", err))
	}
	return db.releaseWALTo(durable)
}

func (db *DB) releaseWAL() error {
	durable, err := db.storage.DurableTs()
	if err != nil {
		return err
	}
	return db.releaseWALTo(durable)
}

func (db *DB) releaseWALTo(durable uint64) error {
	if err := db.log.Release(durable); err != nil {
		return fmt.Errorf("core: release WAL to ts %d: %w", durable, err)
	}
	return nil
}

func (db *DB) gcLoop() {
	t := time.NewTicker(db.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.advanceDiscard()
		}
	}
}

// advanceDiscard moves the engine's discard ts up to the oldest live read.
func (db *DB) advanceDiscard() {
	// The epoch scheme in readers assumes one advance at a time.
	db.discardMu.Lock()
	defer db.discardMu.Unlock()
	ts := db.readers.safeDiscardTs(db.visible.Load)
	if ts <= db.lastDisc.Load() {
		return
	}
	if err := db.storage.SetDiscardTs(ts); err != nil {
		if !errors.Is(err, interfaces.ErrUnsupported) && !errors.Is(err, interfaces.ErrClosed) {
			db.opts.Logger.Warn("lightning: set discard ts failed", "ts", ts, "err", err)
		}
		return
	}
	db.lastDisc.Store(ts)
}

// sleepBrief yields a core for a moment in a wait loop.
func sleepBrief() { time.Sleep(20 * time.Microsecond) }
