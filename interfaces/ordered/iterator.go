package ordered

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// nextsBeforeSeek is how many versions an iterator steps over with Next
// (or Prev) before it seeks past the rest. Stepping is cheaper than seeking
// in every store when only a few versions are in the way (the usual case:
// a key has one or two live versions); seeking bounds the cost when there
// are many.
const nextsBeforeSeek = 4

// NewIterator returns an iterator over a snapshot at min(opts.ReadTs, the
// applied ts when it is called). The snapshot needs nothing from the store:
// versions are immutable and carry their ts, so filtering on the captured
// ts hides every version applied later, whether or not the store's own
// iterator is a point-in-time view.
//
// Prefix is folded into the bounds (the keys starting with p are exactly
// [p, successor of p)), so bounds, prefix and Seek clamping share one
// mechanism.
func (s *Storage) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	if err := s.checkOpen("new iterator"); err != nil {
		return nil, err
	}
	// Load the applied ts before opening the store iterator: everything it
	// covers is then in the store, whatever the store's iterator sees.
	readTs := min(opts.ReadTs, s.appliedTs.Load())

	lower, upper := opts.LowerBound, opts.UpperBound
	if p := opts.Prefix; p != nil {
		if lower == nil || bytes.Compare(p, lower) > 0 {
			lower = p
		}
		if succ := prefixSuccessor(p); succ != nil && (upper == nil || bytes.Compare(succ, upper) < 0) {
			upper = succ
		}
	}
	it := &iterator{
		s:       s,
		readTs:  readTs,
		reverse: opts.Reverse,
		all:     opts.AllVersions,
	}
	if lower != nil {
		it.lower = bytes.Clone(lower)
		it.lowerEnc = interfaces.AppendUserKeyStart(nil, lower)
	} else {
		it.lowerEnc = versionSpaceStart
	}
	if upper != nil {
		it.upper = bytes.Clone(upper)
		it.upperEnc = interfaces.AppendUserKeyStart(nil, upper)
	}
	// Inverted bounds, like a prefix outside the bounds, select nothing.
	it.empty = readTs == 0 || (lower != nil && upper != nil && bytes.Compare(lower, upper) >= 0)
	if !it.empty {
		si, err := s.store.NewIterator(it.lowerEnc, it.upperEnc)
		if err != nil {
			return nil, fmt.Errorf("lightning/ordered: new iterator: %w", err)
		}
		it.si = si
	}
	s.stats.iterators.Add(1)
	return it, nil
}

// prefixSuccessor returns the smallest key greater than every key starting
// with p, or nil when there is none (p is empty or all 0xFF).
func prefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xFF {
			succ := bytes.Clone(p[:i+1])
			succ[i]++
			return succ
		}
	}
	return nil
}

// iterator is the Storage iterator: a store iterator plus the visibility
// rules.
//
// Forward, the store iterator stays on the version being yielded, so Key and
// Value alias the store's bytes (decoding a key copies only when it holds a
// 0x00 byte). In reverse, a key's versions arrive oldest first, so the
// iterator must step past the newest visible one to know it was the newest:
// it copies that version's value into valBuf and its user part into
// userBuf before moving on.
type iterator struct {
	s       *Storage
	si      StoreIterator // nil when empty
	readTs  uint64
	reverse bool
	all     bool
	empty   bool // the bounds or the read ts select nothing

	lower, upper []byte // user-key bounds with the prefix folded in; nil is unbounded
	lowerEnc     []byte // AppendUserKeyStart(lower), or versionSpaceStart
	upperEnc     []byte // AppendUserKeyStart(upper), or nil

	spos bool // the store iterator is positioned on a key

	valid bool
	key   []byte
	ts    uint64
	kind  interfaces.EntryKind
	value []byte

	err    error
	closed bool

	keyBuf  []byte // unescaped user keys
	valBuf  []byte // the value of the candidate version in reverse
	userBuf []byte // the user part of the key being skipped or collapsed
	seekBuf []byte // seek keys
}

// ready reports whether the iterator may move, recording ErrClosed when it
// or its Storage is closed.
func (it *iterator) ready() bool {
	it.valid = false
	if it.closed || it.s.closed.Load() {
		it.err = fmt.Errorf("lightning/ordered: iterator: %w", interfaces.ErrClosed)
		return false
	}
	return it.err == nil && !it.empty
}

func (it *iterator) First() bool {
	if !it.ready() {
		return false
	}
	if it.reverse {
		if it.upperEnc != nil {
			it.spos = it.si.SeekLT(it.upperEnc)
		} else {
			it.spos = it.si.Last()
		}
		return it.settleReverse()
	}
	it.seekBuf = interfaces.AppendVersionKey(it.seekBuf[:0], it.lower, it.readTs)
	it.spos = it.si.SeekGE(it.seekBuf)
	return it.settleForward()
}

func (it *iterator) Seek(key []byte) bool {
	if !it.ready() {
		return false
	}
	// A target beyond the bounds in the direction of travel is clamped to
	// them; one behind them leaves nothing to visit.
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		if it.reverse {
			it.spos = false
			return false
		}
		key = it.lower
	}
	if it.upper != nil && bytes.Compare(key, it.upper) >= 0 {
		if it.reverse {
			return it.First()
		}
		it.spos = false
		return false
	}
	if it.reverse {
		it.seekBuf = interfaces.AppendUserKeyEnd(it.seekBuf[:0], key)
		it.spos = it.si.SeekLT(it.seekBuf)
		return it.settleReverse()
	}
	it.seekBuf = interfaces.AppendVersionKey(it.seekBuf[:0], key, it.readTs)
	it.spos = it.si.SeekGE(it.seekBuf)
	return it.settleForward()
}

func (it *iterator) Next() bool {
	if !it.valid {
		return false
	}
	if !it.ready() {
		return false
	}
	switch {
	case it.reverse && it.all:
		it.spos = it.si.Prev()
	case it.reverse:
		// settleReverse left the store on the next key's oldest version.
	case it.all:
		it.spos = it.si.Next()
	default:
		user, _, _ := splitVersionKey(it.si.Key())
		it.skipUser(user)
	}
	if it.reverse {
		return it.settleReverse()
	}
	return it.settleForward()
}

// skipUser moves the store iterator forward past every version of the user
// key whose user part is user.
func (it *iterator) skipUser(user []byte) {
	it.userBuf = append(it.userBuf[:0], user...)
	for range nextsBeforeSeek {
		if it.spos = it.si.Next(); !it.spos || !sameUser(it.si.Key(), it.userBuf) {
			return
		}
	}
	it.seekBuf = userEnd(it.seekBuf, it.userBuf)
	it.spos = it.si.SeekGE(it.seekBuf)
}

// skipNewer moves the store iterator forward past the versions of user with
// ts above the read ts.
func (it *iterator) skipNewer(user []byte) {
	it.userBuf = append(it.userBuf[:0], user...)
	for range nextsBeforeSeek {
		if it.spos = it.si.Next(); !it.spos {
			return
		}
		k := it.si.Key()
		if !sameUser(k, it.userBuf) || keyTs(k) <= it.readTs {
			return
		}
	}
	it.seekBuf = versionSeekKey(it.seekBuf, it.userBuf, it.readTs)
	it.spos = it.si.SeekGE(it.seekBuf)
}

// skipUserBack moves the store iterator backward past every remaining
// version of the user key whose user part is in userBuf.
func (it *iterator) skipUserBack() {
	for range nextsBeforeSeek {
		if it.spos = it.si.Prev(); !it.spos || !sameUser(it.si.Key(), it.userBuf) {
			return
		}
	}
	// The user part is the key's smallest possible version key.
	it.spos = it.si.SeekLT(it.userBuf)
}

// sameUser reports whether store key k is a version of the user key whose
// user part is user.
func sameUser(k, user []byte) bool {
	return len(k) == len(user)+8 && bytes.Equal(k[:len(user)], user)
}

// keyTs returns the ts of a version key known to be well formed.
func keyTs(k []byte) uint64 { return ^binary.BigEndian.Uint64(k[len(k)-8:]) }

// settleForward moves the store iterator forward from where it is to the
// next version to yield, and yields it.
func (it *iterator) settleForward() bool {
	for it.spos {
		k := it.si.Key()
		if it.upperEnc != nil && bytes.Compare(k, it.upperEnc) >= 0 {
			it.spos = false
			break
		}
		user, ts, ok := splitVersionKey(k)
		if !ok {
			return it.corrupt(k, "malformed version key", errBadKey)
		}
		if ts > it.readTs {
			it.skipNewer(user)
			continue
		}
		kind, value, err := decodeValue(it.si.Value())
		if err != nil {
			return it.corrupt(k, "malformed value", err)
		}
		if kind == interfaces.KindDelete && !it.all {
			// The newest visible version is a tombstone: the key is absent.
			it.skipUser(user)
			continue
		}
		return it.yield(k, user, ts, kind, value)
	}
	return it.exhausted()
}

// settleReverse moves the store iterator backward from where it is to the
// next version to yield, and yields it. Without AllVersions it leaves the
// store iterator on the version after the yielded one (in reverse), ready
// for the next call.
func (it *iterator) settleReverse() bool {
	for it.spos {
		k := it.si.Key()
		if bytes.Compare(k, it.lowerEnc) < 0 {
			it.spos = false
			break
		}
		user, ts, ok := splitVersionKey(k)
		if !ok {
			return it.corrupt(k, "malformed version key", errBadKey)
		}
		if ts > it.readTs {
			// Versions run oldest first in reverse, so every version of this
			// key still ahead is newer too.
			it.userBuf = append(it.userBuf[:0], user...)
			it.skipUserBack()
			continue
		}
		if it.all {
			kind, value, err := decodeValue(it.si.Value())
			if err != nil {
				return it.corrupt(k, "malformed value", err)
			}
			return it.yield(k, user, ts, kind, value)
		}

		// Walk this key's versions up to the newest visible one, keeping a
		// copy of the latest seen.
		it.userBuf = append(it.userBuf[:0], user...)
		var kind interfaces.EntryKind
		for {
			var value []byte
			var err error
			kind, value, err = decodeValue(it.si.Value())
			if err != nil {
				return it.corrupt(k, "malformed value", err)
			}
			it.ts = ts
			it.valBuf = append(it.valBuf[:0], value...)
			if it.spos = it.si.Prev(); !it.spos {
				break
			}
			k = it.si.Key()
			if !sameUser(k, it.userBuf) {
				break
			}
			if ts = keyTs(k); ts > it.readTs {
				it.skipUserBack()
				break
			}
		}
		if kind == interfaces.KindDelete {
			continue
		}
		if !it.s.snapshots {
			present, err := it.stillPresent()
			if err != nil {
				it.valid, it.spos, it.err = false, false, err
				return false
			}
			if !present {
				continue
			}
		}
		key, err := it.decodeKey(it.userBuf)
		if err != nil {
			return it.corrupt(it.userBuf, "malformed version key", err)
		}
		it.key, it.kind, it.value, it.valid = key, interfaces.KindSet, it.valBuf, true
		return true
	}
	return it.exhausted()
}

// stillPresent reports whether the candidate version of the key in
// userBuf, at it.ts, is still in the store. Over a live view, the walk up a
// key's versions may see an old version before a garbage-collection Write
// and its newer versions after it; that Write dropped a tombstone together
// with every version below it (compact.go), so the candidate is the key's
// newest visible version exactly when it is still present, and otherwise
// the key is absent at the read ts. Point-in-time views need no check.
func (it *iterator) stillPresent() (bool, error) {
	it.seekBuf = versionSeekKey(it.seekBuf, it.userBuf, it.ts)
	_, err := it.s.store.Get(it.seekBuf)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, interfaces.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("lightning/ordered: iterator: %w", err)
}

// yield makes the version under the store iterator current.
func (it *iterator) yield(k, user []byte, ts uint64, kind interfaces.EntryKind, value []byte) bool {
	key, err := it.decodeKey(user)
	if err != nil {
		return it.corrupt(k, "malformed version key", err)
	}
	if kind == interfaces.KindDelete {
		value = nil
	}
	it.key, it.ts, it.kind, it.value, it.valid = key, ts, kind, value, true
	return true
}

func (it *iterator) decodeKey(user []byte) ([]byte, error) {
	key, buf, err := decodeUserKey(it.keyBuf, user)
	it.keyBuf = buf
	return key, err
}

// exhausted ends the iteration, recording the store iterator's error.
func (it *iterator) exhausted() bool {
	it.valid = false
	if err := it.si.Err(); err != nil {
		it.err = fmt.Errorf("lightning/ordered: iterator: %w", err)
	}
	return false
}

func (it *iterator) corrupt(k []byte, what string, cause error) bool {
	it.valid, it.spos = false, false
	it.err = corruptKey(k, what, cause)
	return false
}

func (it *iterator) Valid() bool { return it.valid }

func (it *iterator) Key() []byte {
	if !it.valid {
		return nil
	}
	return it.key
}

func (it *iterator) Ts() uint64 {
	if !it.valid {
		return 0
	}
	return it.ts
}

func (it *iterator) Kind() interfaces.EntryKind {
	if !it.valid {
		return 0
	}
	return it.kind
}

func (it *iterator) Value() []byte {
	if !it.valid {
		return nil
	}
	return it.value
}

func (it *iterator) Err() error { return it.err }

// Close closes the store iterator and returns Err, or the store iterator's
// close error when there was none.
func (it *iterator) Close() error {
	if it.closed {
		return fmt.Errorf("lightning/ordered: iterator: close: %w", interfaces.ErrClosed)
	}
	it.closed, it.valid = true, false
	if it.si != nil && !it.s.closed.Load() {
		if err := it.si.Close(); err != nil && it.err == nil {
			it.err = fmt.Errorf("lightning/ordered: iterator: close: %w", err)
		}
	}
	it.si = nil
	return it.err
}
