package core

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/lightningdb/lightning/core/internal/wal"
	"github.com/lightningdb/lightning/interfaces"
)

// The commit pipeline. Every write — Put, Delete, Apply(batch), Txn.Commit —
// becomes one commitReq. Under commitMu a request is checked (transactions
// only), given the next ts, and queued. The first request to find no leader
// becomes the leader: it takes every queued request as one group, writes the
// group to the WAL with one write, fsyncs at most once, applies the whole
// group to the engine with one Storage.Apply, publishes the group's last ts
// as visible, and wakes the group. If requests queued meanwhile, it hands
// leadership to the first of them and returns; that request's goroutine
// leads the next group. Groups therefore run one at a time, in ts order, and
// the WAL, the engine and the visible ts all advance in that order.
//
// Under SyncAlways a leader that finds fewer requests queued than its last
// group held waits a moment for the rest of the writers, who are on their
// way back from the previous group: a group of 16 synced commits costs one
// fsync, a group of 8 followed by a group of 8 costs two.

type reqState uint8

const (
	reqWaiting reqState = iota
	reqDone
	reqLead
)

// commitReq is one commit on its way through the pipeline. Requests are
// pooled: their wake channel and entry slice are reused.
type commitReq struct {
	// payload is the batch encoding: the WAL record's body.
	payload []byte
	// entries are the deduplicated writes, aliasing payload (or the
	// transaction's buffer); the leader stamps each with ts.
	entries []interfaces.Entry
	txn     *Txn
	ts      uint64
	err     error
	state   reqState
	wake    chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &commitReq{wake: make(chan struct{}, 1)} }}

func getReq() *commitReq {
	r := reqPool.Get().(*commitReq)
	r.state = reqWaiting
	return r
}

func putReq(r *commitReq) {
	clear(r.entries)
	r.entries = r.entries[:0]
	r.payload, r.txn, r.err = nil, nil, nil
	reqPool.Put(r)
}

// commit runs r through the pipeline and returns its outcome. A
// transaction's conflict check happens here, atomically with its ts.
func (db *DB) commit(r *commitReq) error {
	var start time.Time
	timed := db.metrics.commitSeq.Add(1)%commitLatencySample == 1
	if timed {
		start = time.Now()
	}
	db.commitMu.Lock()
	if err := db.writableLocked(); err != nil {
		db.commitMu.Unlock()
		return err
	}
	if t := r.txn; t != nil {
		if db.oracle.conflicts(t) {
			db.metrics.conflicts.Add(1)
			db.commitMu.Unlock()
			return fmt.Errorf("core: commit of a transaction read at ts %d: %w", t.readTs, ErrConflict)
		}
	}
	r.ts = db.nextTs
	db.nextTs++
	db.oracle.record(r.ts, r.entries, r.txn)
	db.pending = append(db.pending, r)
	lead := !db.leading
	db.leading = true
	db.commitMu.Unlock()

	if !lead {
		<-r.wake
		if r.state == reqLead {
			lead = true
		}
	}
	if lead {
		db.lead()
	}
	if timed {
		db.metrics.commitLatency.observe(time.Since(start))
	}
	return r.err
}

// lead runs groups until the queue is empty or it has handed leadership on.
// It returns once the caller's own request is done.
func (db *DB) lead() {
	db.commitMu.Lock()
	if db.opts.Sync.kind == syncAlways && len(db.pending) < db.lastGroup {
		db.commitMu.Unlock()
		db.gather()
		db.commitMu.Lock()
	}
	group := db.pending
	db.pending = db.spare[:0]
	db.spare = nil
	db.commitMu.Unlock()

	err := db.runGroup(group)

	for _, r := range group {
		r.err = err
	}
	db.commitMu.Lock()
	db.lastGroup = len(group)
	var next *commitReq
	if len(db.pending) > 0 {
		next = db.pending[0]
	} else {
		db.leading = false
	}
	// Wake the group. The leader's own request is among them; it is
	// running this function, so it needs no wake-up, only its state.
	// Requests whose goroutines are not blocked on wake yet find the
	// token in the buffered channel.
	self := group[0]
	for _, r := range group {
		r.state = reqDone
		if r != self {
			r.wake <- struct{}{}
		}
	}
	clear(group)
	db.spare = group[:0]
	if next != nil {
		next.state = reqLead
		next.wake <- struct{}{}
	}
	db.commitMu.Unlock()
}

// gather waits briefly for the writers of the previous group to queue
// again, so that one fsync covers them all. It gives up after a fraction of
// the last fsync's duration, so a lone writer pays little.
func (db *DB) gather() {
	budget := time.Duration(db.metrics.lastSyncNanos.Load()) / 4
	if budget <= 0 {
		return
	}
	budget = min(budget, 200*time.Microsecond)
	deadline := time.Now().Add(budget)
	for {
		runtime.Gosched()
		db.commitMu.Lock()
		n := len(db.pending)
		db.commitMu.Unlock()
		if n >= db.lastGroup || time.Now().After(deadline) {
			return
		}
	}
}

// runGroup writes, syncs and applies one group, and publishes it. Any error
// fail-stops the DB: what reached the disk is unknown, so it refuses writes
// until reopened, when recovery replays what the log holds.
func (db *DB) runGroup(group []*commitReq) error {
	if p := db.failed.Load(); p != nil {
		// A group queued behind the one that failed.
		return *p
	}
	recs := db.walRecs[:0]
	for _, r := range group {
		recs = append(recs, wal.Record{Ts: r.ts, Payload: r.payload})
	}
	db.walRecs = recs
	if err := db.log.WriteGroup(recs); err != nil {
		return db.failStop(fmt.Errorf("core: WAL write: %w", err))
	}
	if db.opts.Sync.kind == syncAlways {
		start := time.Now()
		if err := db.log.Sync(); err != nil {
			return db.failStop(fmt.Errorf("core: WAL sync: %w", err))
		}
		d := time.Since(start)
		db.metrics.lastSyncNanos.Store(int64(d))
		db.metrics.syncLatency.observe(d)
	}

	entries := db.applyBuf[:0]
	for _, r := range group {
		for i := range r.entries {
			r.entries[i].Ts = r.ts
		}
		entries = append(entries, r.entries...)
	}
	err := db.storage.Apply(entries)
	clear(entries)
	db.applyBuf = entries[:0]
	if err != nil {
		return db.failStop(fmt.Errorf("core: storage apply: %w", err))
	}
	last := group[len(group)-1].ts
	db.visible.Store(last)
	db.notifyVisible()

	db.metrics.groups.Add(1)
	db.metrics.commits.Add(int64(len(group)))
	db.metrics.entries.Add(int64(len(entries)))
	db.maybeCheckpoint()
	return nil
}

// failStop records the first write-path error and fails every queued
// commit. It returns the error the group's commits get.
func (db *DB) failStop(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailStopped, cause)
	if db.failed.CompareAndSwap(nil, &err) {
		db.opts.Logger.Error("lightning: fail-stop: writes refused until the database is reopened", "err", cause)
		db.metrics.failStops.Add(1)
	}
	// Transactions waiting for a ts that will never become visible.
	db.notifyVisibleAll()
	return *db.failed.Load()
}

// writableLocked returns why a commit cannot start, if it cannot. Called
// with commitMu held.
func (db *DB) writableLocked() error {
	if db.closed {
		return ErrClosed
	}
	if p := db.failed.Load(); p != nil {
		return *p
	}
	return nil
}
