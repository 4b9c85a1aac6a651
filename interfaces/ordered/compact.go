package ordered

import (
	"bytes"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// Compact garbage-collects the versions in r that SetDiscardTs allows to
// drop, in Writes of at most Options.BatchOps deletes, then lets a
// RangeCompacter store compact the range.
//
// # Crash safety of collection
//
// Collection must never make a crash change what a read at or above the
// discard ts sees. These rules keep it so, even over a store that may lose
// any unsynced Write:
//
//   - The horizon is min(discard ts, durable ts): a version is dropped only
//     when the version shadowing it is durable, because crash recovery
//     deletes versions above the durable ts, and a dropped version whose
//     shadow is deleted too would be a lost version. When the discard ts is
//     ahead of the durable ts, Compact flushes first, so that the Storage
//     contract's promise (after Compact(KeyRange{}), nothing droppable
//     remains) holds.
//   - A tombstone that shadows older versions is dropped in the same Write
//     as all of them, or, when they did not fit in one Write, only after
//     they are synced (a second pass): dropping it alone would resurrect the
//     value below it. For the same reason Compact syncs before it returns
//     when it deleted anything: the older versions a later Compact finds
//     gone must stay gone.
//
// Each Write also carries the discard ts, so a crash can never keep the
// deletes and lose the discard ts that allowed them.
func (s *Storage) Compact(r interfaces.KeyRange) error {
	if err := s.checkWritable("compact"); err != nil {
		return err
	}
	if r.Start != nil && r.End != nil && bytes.Compare(r.Start, r.End) > 0 {
		return fmt.Errorf("lightning/ordered: compact: range start %x above end %x: %w", r.Start, r.End, interfaces.ErrInvalidArgument)
	}
	if r.End != nil && bytes.Compare(r.Start, r.End) >= 0 {
		return nil // an empty range
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()

	var lower, upper []byte
	if r.Start != nil {
		lower = interfaces.AppendUserKeyStart(nil, r.Start)
	}
	if r.End != nil {
		upper = interfaces.AppendUserKeyStart(nil, r.End)
	}
	horizon, err := s.gcHorizon()
	if err != nil {
		return fmt.Errorf("lightning/ordered: compact: %w", err)
	}
	if horizon > 0 {
		deleted, deferred, err := s.collect(lower, upper, horizon)
		if err == nil && deferred > 0 {
			if err = s.sync(); err == nil {
				var more int64
				more, _, err = s.collect(lower, upper, horizon)
				deleted += more
			}
		}
		if err == nil && deleted > 0 {
			// The next Compact may drop a tombstone whose older versions this
			// one deleted: they must not come back in a crash.
			err = s.sync()
		}
		if err != nil {
			return fmt.Errorf("lightning/ordered: compact: %w", err)
		}
	}
	if s.compacter != nil {
		if err := s.compacter.CompactRange(lower, upper); err != nil {
			return fmt.Errorf("lightning/ordered: compact: store: %w", err)
		}
	}
	s.stats.compactions.Add(1)
	return nil
}

// gcHorizon returns the ts at or below which collection may look for the
// shadowing version, flushing first when the discard ts is ahead of the
// durable ts (see Compact).
func (s *Storage) gcHorizon() (uint64, error) {
	discard := s.discardTs.Load()
	if discard == 0 || s.opts.Ephemeral {
		return discard, nil
	}
	if d := s.durableTs.Load(); d < discard && d < s.appliedTs.Load() {
		s.flushMu.Lock()
		_, err := s.flushLocked()
		s.flushMu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	return min(discard, s.durableTs.Load()), nil
}

// collect deletes, in [lower, upper) of the store's keys, the versions
// older than each user key's newest version at or below horizon, and that
// version too when it is a tombstone. It returns how many such tombstones
// it left for a second pass because their older versions went out in
// earlier Writes that are not yet synced.
func (s *Storage) collect(lower, upper []byte, horizon uint64) (deleted int64, deferred int, err error) {
	if lower == nil {
		lower = versionSpaceStart
	}
	var (
		cur          []byte // user part of the user key being examined
		haveCur      bool
		foundV       bool   // its newest version <= horizon has been seen
		tomb         []byte // that version's store key, when it is a tombstone
		olderQueued  bool   // some older version of cur is queued for deletion
		olderWritten bool   // some went out in an earlier Write
	)
	endKey := func(sw *sweep) {
		if tomb == nil {
			return
		}
		if olderWritten && !s.opts.Ephemeral {
			deferred++
			return
		}
		sw.del(tomb)
	}
	sw := &sweep{
		s:         s,
		lower:     lower,
		upper:     upper,
		carryMeta: true,
		visit: func(sw *sweep, key, value []byte) error {
			user, ts, ok := splitVersionKey(key)
			if !ok {
				return corruptKey(key, "malformed version key", errBadKey)
			}
			if !haveCur || !bytes.Equal(user, cur) {
				endKey(sw)
				cur = append(cur[:0], user...)
				haveCur, foundV, tomb, olderQueued, olderWritten = true, false, nil, false, false
			}
			if !foundV {
				if ts <= horizon {
					foundV = true
					kind, _, err := decodeValue(value)
					if err != nil {
						return corruptKey(key, "malformed value", err)
					}
					if kind == interfaces.KindDelete {
						tomb = bytes.Clone(key)
					}
				}
				return nil
			}
			sw.del(key)
			olderQueued = true
			return nil
		},
		written: func() {
			if olderQueued {
				olderWritten = true
			}
		},
		finish: endKey,
	}
	err = sw.run()
	s.stats.gcDeleted.Add(sw.deleted)
	return sw.deleted, deferred, err
}

// sweep scans the store's keys in [lower, upper) (nil is unbounded) and
// deletes those its visit function queues with del, in Writes bounded by
// Options.BatchOps and BatchBytes. It never holds a store iterator while
// writing: it stops the scan when a batch fills, writes it, and resumes
// just after the last key it visited.
type sweep struct {
	s            *Storage
	lower, upper []byte
	// visit sees each key and value (valid only during the call) and may
	// queue deletes.
	visit func(sw *sweep, key, value []byte) error
	// written, when set, runs after each batch is written.
	written func()
	// finish, when set, runs after the last key and may queue deletes.
	finish func(sw *sweep)
	// carryMeta adds the current discard ts to each Write (collection
	// batches; see Compact).
	carryMeta bool

	arena   []byte // queued keys, back to back
	ends    []int  // end offset of each queued key in arena
	resume  []byte
	deleted int64
}

// del queues key for deletion; it copies key.
func (sw *sweep) del(key []byte) {
	sw.arena = append(sw.arena, key...)
	sw.ends = append(sw.ends, len(sw.arena))
}

func (sw *sweep) full() bool {
	return len(sw.ends) >= sw.s.opts.BatchOps || len(sw.arena) >= sw.s.opts.BatchBytes
}

func (sw *sweep) run() error {
	resume := sw.lower
	for {
		more, err := sw.scan(resume)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if err := sw.write(); err != nil {
			return err
		}
		resume = sw.resume
	}
	if sw.finish != nil {
		sw.finish(sw)
	}
	return sw.write()
}

// scan visits keys from resume until the batch is full (more is true, and
// sw.resume is where to go on) or the range ends.
func (sw *sweep) scan(resume []byte) (more bool, err error) {
	it, err := sw.s.store.NewIterator(resume, sw.upper)
	if err != nil {
		return false, fmt.Errorf("iterator: %w", err)
	}
	var ok bool
	if resume == nil {
		ok = it.First()
	} else {
		ok = it.SeekGE(resume)
	}
	for ok {
		k := it.Key()
		if sw.upper != nil && bytes.Compare(k, sw.upper) >= 0 {
			break
		}
		if err = sw.visit(sw, k, it.Value()); err != nil {
			break
		}
		if sw.full() {
			// k||0x00 is the smallest key after k.
			sw.resume = append(append(sw.resume[:0], k...), 0x00)
			more = true
			break
		}
		ok = it.Next()
	}
	if err == nil {
		if ierr := it.Err(); ierr != nil {
			err = fmt.Errorf("iterator: %w", ierr)
		}
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("iterator: %w", cerr)
	}
	return more && err == nil, err
}

// write issues the queued deletes as one Write.
func (sw *sweep) write() error {
	if len(sw.ends) == 0 {
		return nil
	}
	ops := make([]Op, 0, len(sw.ends)+1)
	start := 0
	for _, end := range sw.ends {
		ops = append(ops, Op{Key: sw.arena[start:end:end], Delete: true})
		start = end
	}
	if sw.carryMeta {
		sw.s.metaMu.Lock()
		defer sw.s.metaMu.Unlock()
		ops = append(ops, Op{Key: keyDiscard, Value: appendMetaTs(nil, sw.s.discardTs.Load())})
	}
	if err := sw.s.writeRaw(ops); err != nil {
		return err
	}
	sw.deleted += int64(len(sw.ends))
	sw.arena, sw.ends = sw.arena[:0], sw.ends[:0]
	if sw.written != nil {
		sw.written()
	}
	return nil
}
