package core

import (
	"bytes"
	"hash/maphash"

	"github.com/lightningdb/lightning/interfaces"
)

// oracle decides whether a read-write transaction may commit. It remembers,
// for the keys written by commits since the oldest live read-write
// transaction began, the ts of the last commit that wrote each, by 64-bit
// fingerprint (a false match aborts a transaction needlessly, once in 2^64;
// it never lets a conflict through).
//
// Every method runs with DB.commitMu held: the check, the ts assignment and
// the recording of a commit are one atomic step, which is what makes the
// order of commits the serialization order.
type oracle struct {
	seed maphash.Seed

	// txns counts live read-write transactions; while it is 0 nothing is
	// recorded.
	txns int
	// txnReadTs counts live read-write transactions per read ts, for
	// pruning.
	txnReadTs map[uint64]int
	// lastWrite maps a key fingerprint to the ts of the last recorded
	// commit that wrote the key.
	// INVARIANT: holds every commit with ts > the smallest read ts of a
	// live read-write transaction.
	lastWrite map[uint64]uint64
	pruneAt   int

	// serializable counts live serializable transactions that read ranges;
	// while it is > 0 the keys of each commit are kept, in ts order, to be
	// checked against those ranges.
	serializable int
	written      []writtenKeys
}

type writtenKeys struct {
	ts   uint64
	keys [][]byte
}

func newOracle() *oracle {
	return &oracle{
		seed:      maphash.MakeSeed(),
		txnReadTs: make(map[uint64]int),
		lastWrite: make(map[uint64]uint64),
		pruneAt:   1024,
	}
}

func (o *oracle) fingerprint(key []byte) uint64 { return maphash.Bytes(o.seed, key) }

// begin registers a read-write transaction reading at readTs.
func (o *oracle) begin(readTs uint64, serializable bool) {
	o.txns++
	o.txnReadTs[readTs]++
	if serializable {
		o.serializable++
	}
}

// end unregisters a transaction registered with begin.
func (o *oracle) end(readTs uint64, serializable bool) {
	o.txns--
	if n := o.txnReadTs[readTs]; n <= 1 {
		delete(o.txnReadTs, readTs)
	} else {
		o.txnReadTs[readTs] = n - 1
	}
	if serializable {
		o.serializable--
	}
	if o.txns == 0 {
		clear(o.lastWrite)
		o.written = nil
		o.pruneAt = 1024
	}
	if o.serializable == 0 {
		o.written = nil
	}
}

// conflicts reports whether txn must abort: a key it writes (or, when
// serializable, a key or range it read) was written by a commit after the
// ts the transaction saw it at.
func (o *oracle) conflicts(t *Txn) bool {
	for i := range t.writes.entries {
		e := &t.writes.entries[i]
		if o.lastWrite[e.fp] > t.sinceTs(e) {
			return true
		}
	}
	if t.isolation != Serializable {
		return false
	}
	for _, fp := range t.reads {
		if o.lastWrite[fp] > t.readTs {
			return true
		}
	}
	if len(t.ranges) == 0 {
		return false
	}
	for i := len(o.written) - 1; i >= 0 && o.written[i].ts > t.readTs; i-- {
		for _, k := range o.written[i].keys {
			for _, r := range t.ranges {
				if inRange(k, r) {
					return true
				}
			}
		}
	}
	return false
}

// record notes that a commit at ts wrote entries. self is the committing
// transaction, or nil for a batch; it does not count as a reader that needs
// the record.
func (o *oracle) record(ts uint64, entries []interfaces.Entry, self *Txn) {
	others := o.txns
	if self != nil {
		others--
	}
	if others == 0 {
		return
	}
	for i := range entries {
		o.lastWrite[o.fingerprint(entries[i].Key)] = ts
	}
	serial := o.serializable
	if self != nil && self.isolation == Serializable {
		serial--
	}
	if serial > 0 {
		keys := make([][]byte, len(entries))
		for i := range entries {
			keys[i] = bytes.Clone(entries[i].Key)
		}
		o.written = append(o.written, writtenKeys{ts: ts, keys: keys})
	}
	if len(o.lastWrite) >= o.pruneAt {
		o.prune()
	}
}

// prune forgets commits no live transaction can conflict with: those at or
// below the smallest read ts of a live read-write transaction.
func (o *oracle) prune() {
	low := ^uint64(0)
	for ts := range o.txnReadTs {
		low = min(low, ts)
	}
	for fp, ts := range o.lastWrite {
		if ts <= low {
			delete(o.lastWrite, fp)
		}
	}
	i := 0
	for i < len(o.written) && o.written[i].ts <= low {
		i++
	}
	o.written = o.written[i:]
	o.pruneAt = max(1024, 2*len(o.lastWrite))
}

// keyRange is a half-open range of user keys read by an iterator; a nil end
// is unbounded.
type keyRange struct {
	start, end []byte
}

func inRange(k []byte, r keyRange) bool {
	return bytes.Compare(k, r.start) >= 0 && (r.end == nil || bytes.Compare(k, r.end) < 0)
}
