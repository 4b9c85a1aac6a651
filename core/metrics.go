package core

import (
	"context"
	"math/bits"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/lightningdb/lightning/interfaces"
)

const tracerName = "github.com/lightningdb/lightning/core"

// metrics are kept with atomics on the hot paths and published through
// asynchronous OpenTelemetry instruments, read only when a reader collects:
// an unobserved DB pays one atomic add per operation and nothing else.
type metrics struct {
	db *DB

	puts, deletes, batches, gets  atomic.Int64
	txns, txnCommits, conflicts   atomic.Int64
	deadlocks, lockTimeouts       atomic.Int64
	commits, groups, entries      atomic.Int64
	iterators, flushes, failStops atomic.Int64
	recoveredCommits              atomic.Int64
	lastSyncNanos                 atomic.Int64

	commitLatency, syncLatency, flushLatency histogram
	// commitSeq numbers commits as they start, to pick the ones whose
	// latency is measured (see commitLatencySample).
	commitSeq atomic.Uint64
}

// commitLatencySample is how many commits share one latency measurement:
// the first commit and every 8th after it are timed. Two clock reads were
// 60 ns, 3% of the CPU of an unsynced single Put; one commit in eight gives
// the same quantiles within the histogram's resolution after a few hundred
// commits.
const commitLatencySample = 8

func newMetrics(db *DB) *metrics { return &metrics{db: db} }

// histogram is a lock-free latency histogram with four buckets per power of
// two (about 19% resolution), enough for p50 and p99.
type histogram struct {
	buckets [256]atomic.Int64
	count   atomic.Int64
}

func bucketOf(ns int64) int {
	if ns < 4 {
		return int(max(ns, 0))
	}
	exp := bits.Len64(uint64(ns)) - 1 // ns in [2^exp, 2^(exp+1))
	mant := int(uint64(ns)>>(exp-2)) & 3
	return min(exp*4+mant, 255)
}

func bucketUpper(b int) time.Duration {
	exp, mant := b/4, b%4
	if exp < 2 {
		// Buckets 0 to 3 hold exact nanoseconds; 4 to 7 are never used.
		return time.Duration(b)
	}
	return time.Duration((uint64(4+mant+1) << (exp - 2)) - 1)
}

func (h *histogram) observe(d time.Duration) {
	h.buckets[bucketOf(int64(d))].Add(1)
	h.count.Add(1)
}

// quantile returns an upper estimate of the q-quantile (0 < q <= 1).
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for b := range h.buckets {
		seen += h.buckets[b].Load()
		if seen >= rank {
			return bucketUpper(b)
		}
	}
	return bucketUpper(len(h.buckets) - 1)
}

// Stats are the DB's figures; the same ones its metrics publish.
type Stats struct {
	// VisibleTs is the newest commit visible to reads; DurableTs the
	// engine's durable ts; DiscardTs the ts below which the engine may
	// drop old versions.
	VisibleTs, DurableTs, DiscardTs uint64

	Puts, Deletes, Batches, Gets int64
	// Txns counts read-write transactions begun, TxnCommits those that
	// committed writes, Conflicts those refused with ErrConflict.
	Txns, TxnCommits, Conflicts int64
	Deadlocks, LockTimeouts     int64
	Iterators                   int64
	// Commits counts commits of every kind; CommitGroups the groups they
	// formed (one WAL write and at most one fsync each).
	Commits, CommitGroups, Entries int64
	// CommitLatency and SyncLatency percentiles (upper estimates);
	// commit latency is measured on one commit in eight, the first
	// included: CommitLatencySamples is how many were measured.
	CommitLatencyP50, CommitLatencyP99 time.Duration
	CommitLatencySamples               int64
	SyncLatencyP50, SyncLatencyP99     time.Duration
	// Flushes counts engine flushes (checkpoints).
	Flushes int64
	// RecoveredCommits is how many commits the last Open replayed.
	RecoveredCommits int64
	// ActiveReaders counts open transactions, snapshots and iterators.
	ActiveReaders int
	// FailStopped is set once a write-path error has stopped writes;
	// FailError says what it was.
	FailStopped bool
	FailError   string

	WAL     WALStats
	Storage interfaces.StorageStats
	// Cache is set when Options.Cache was given.
	Cache *interfaces.CacheStats
}

// WALStats describe the write-ahead log.
type WALStats struct {
	Segments     int
	LiveBytes    int64
	BytesWritten int64
	Records      int64
	Syncs        int64
}

// Stats returns the DB's figures.
func (db *DB) Stats() Stats {
	m := db.metrics
	st := Stats{
		VisibleTs:            db.visible.Load(),
		DiscardTs:            db.lastDisc.Load(),
		Puts:                 m.puts.Load(),
		Deletes:              m.deletes.Load(),
		Batches:              m.batches.Load(),
		Gets:                 m.gets.Load(),
		Txns:                 m.txns.Load(),
		TxnCommits:           m.txnCommits.Load(),
		Conflicts:            m.conflicts.Load(),
		Deadlocks:            m.deadlocks.Load(),
		LockTimeouts:         m.lockTimeouts.Load(),
		Iterators:            m.iterators.Load(),
		Commits:              m.commits.Load(),
		CommitGroups:         m.groups.Load(),
		Entries:              m.entries.Load(),
		CommitLatencyP50:     m.commitLatency.quantile(0.5),
		CommitLatencyP99:     m.commitLatency.quantile(0.99),
		CommitLatencySamples: m.commitLatency.count.Load(),
		SyncLatencyP50:       m.syncLatency.quantile(0.5),
		SyncLatencyP99:       m.syncLatency.quantile(0.99),
		Flushes:              m.flushes.Load(),
		RecoveredCommits:     m.recoveredCommits.Load(),
		ActiveReaders:        db.readers.count(),
	}
	if p := db.failed.Load(); p != nil {
		st.FailStopped, st.FailError = true, (*p).Error()
	}
	if db.log != nil {
		ws := db.log.Stats()
		st.WAL = WALStats{Segments: ws.Segments, LiveBytes: ws.LiveBytes, BytesWritten: ws.BytesWritten,
			Records: ws.Records, Syncs: ws.Syncs}
	}
	if ss, err := db.storage.Stats(); err == nil {
		st.Storage = ss
		st.DurableTs = ss.DurableTs
	}
	if db.opts.Cache != nil {
		cs := db.opts.Cache.Stats()
		st.Cache = &cs
	}
	return st
}

// register publishes the metrics through mp's asynchronous instruments.
func (m *metrics) register(mp metric.MeterProvider) error {
	meter := mp.Meter(tracerName)
	type counter struct {
		name, desc string
		v          *atomic.Int64
	}
	counters := []counter{
		{"lightning.puts", "Put calls", &m.puts},
		{"lightning.deletes", "Delete calls", &m.deletes},
		{"lightning.batches", "batches applied", &m.batches},
		{"lightning.gets", "point reads", &m.gets},
		{"lightning.txns", "read-write transactions begun", &m.txns},
		{"lightning.txn.commits", "transactions committed", &m.txnCommits},
		{"lightning.txn.conflicts", "transactions refused with ErrConflict", &m.conflicts},
		{"lightning.txn.deadlocks", "lock requests refused with ErrDeadlock", &m.deadlocks},
		{"lightning.txn.lock_timeouts", "lock requests that timed out", &m.lockTimeouts},
		{"lightning.commits", "commits of every kind", &m.commits},
		{"lightning.commit.groups", "commit groups (one WAL write each)", &m.groups},
		{"lightning.commit.entries", "entries committed", &m.entries},
		{"lightning.iterators", "iterators opened", &m.iterators},
		{"lightning.flushes", "engine flushes", &m.flushes},
	}
	var observables []metric.Observable
	obsCounters := make([]metric.Int64ObservableCounter, len(counters))
	for i, c := range counters {
		inst, err := meter.Int64ObservableCounter(c.name, metric.WithDescription(c.desc))
		if err != nil {
			return err
		}
		obsCounters[i] = inst
		observables = append(observables, inst)
	}
	visible, err := meter.Int64ObservableGauge("lightning.ts.visible", metric.WithDescription("newest visible commit ts"))
	if err != nil {
		return err
	}
	walBytes, err := meter.Int64ObservableGauge("lightning.wal.live_bytes", metric.WithUnit("By"),
		metric.WithDescription("WAL bytes not yet released"))
	if err != nil {
		return err
	}
	commitP99, err := meter.Float64ObservableGauge("lightning.commit.latency.p99", metric.WithUnit("s"),
		metric.WithDescription("99th percentile commit latency"))
	if err != nil {
		return err
	}
	syncP99, err := meter.Float64ObservableGauge("lightning.wal.sync.latency.p99", metric.WithUnit("s"),
		metric.WithDescription("99th percentile WAL fsync latency"))
	if err != nil {
		return err
	}
	observables = append(observables, visible, walBytes, commitP99, syncP99)
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, c := range counters {
			o.ObserveInt64(obsCounters[i], c.v.Load())
		}
		o.ObserveInt64(visible, int64(m.db.visible.Load()))
		if m.db.log != nil {
			o.ObserveInt64(walBytes, m.db.log.Stats().LiveBytes)
		}
		o.ObserveFloat64(commitP99, m.commitLatency.quantile(0.99).Seconds())
		o.ObserveFloat64(syncP99, m.syncLatency.quantile(0.99).Seconds())
		return nil
	}, observables...)
	return err
}
