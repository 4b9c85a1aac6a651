package memory

import (
	"bytes"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// reverseScanLimit is how many visible versions of one key a reverse
// iterator steps through, looking for the newest, before it looks the
// newest up from the root instead.
const reverseScanLimit = 8

// forwardSkipLimit is how many versions of one key a forward iterator steps
// over, leaving the key, before it seeks past the key from the root.
const forwardSkipLimit = 4

// iterator walks a published tree. The tree is immutable, so the iterator
// is a stable snapshot without holding any lock, and Key and Value return
// the tree's own bytes.
type iterator struct {
	e    *Engine
	root *node
	// snapTs is min(ReadTs, applied ts when the iterator was made): the
	// newest versions it may see.
	snapTs uint64
	// lo and hi are the effective bounds, prefix included: keys in [lo,
	// hi), nil meaning unbounded. empty is set when no key fits.
	lo, hi  []byte
	empty   bool
	reverse bool
	all     bool

	cur cursor
	// item is the version the iterator stands on when valid. Without
	// AllVersions in reverse, the cursor has already moved past it.
	item   version
	valid  bool
	err    error
	closed bool
}

func newIterator(e *Engine, st *state, opts interfaces.IterOptions) *iterator {
	it := &iterator{
		e:       e,
		root:    st.root,
		snapTs:  min(opts.ReadTs, st.appliedTs),
		reverse: opts.Reverse,
		all:     opts.AllVersions,
	}
	// The bounds belong to the caller, who may reuse them as soon as
	// NewIterator returns.
	it.lo = cloneBytes(opts.LowerBound)
	it.hi = cloneBytes(opts.UpperBound)
	if len(opts.Prefix) > 0 {
		if it.lo == nil || bytes.Compare(opts.Prefix, it.lo) > 0 {
			it.lo = cloneBytes(opts.Prefix)
		}
		if end := prefixEnd(opts.Prefix); end != nil && (it.hi == nil || bytes.Compare(end, it.hi) < 0) {
			it.hi = end
		}
	}
	if it.hi != nil && bytes.Compare(it.lo, it.hi) >= 0 {
		it.empty = true
	}
	if len(it.lo) == 0 {
		// The empty key is the smallest: a lower bound of "" bounds
		// nothing.
		it.lo = nil
	}
	return it
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil when there is none (prefix is all 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := cloneBytes(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ready reports whether the iterator may move; it invalidates it when not.
func (it *iterator) ready() bool {
	it.valid = false
	switch {
	case it.closed:
		return false
	case it.e.closed.Load():
		it.err = fmt.Errorf("lightning/memory: iterator: %w", interfaces.ErrClosed)
		return false
	case it.err != nil, it.empty:
		return false
	}
	return true
}

// First moves to the first version in the iterator's direction.
func (it *iterator) First() bool {
	if !it.ready() {
		return false
	}
	if !it.reverse {
		if it.lo != nil {
			it.cur.seekGE(it.root, it.lo, it.snapTs)
		} else {
			it.cur.first(it.root)
		}
		return it.settleForward()
	}
	if it.hi != nil {
		it.cur.seekLT(it.root, it.hi, interfaces.MaxTs)
	} else {
		it.cur.last(it.root)
	}
	return it.settleReverse()
}

// Seek moves to the first key >= key going forward, or the last key <= key
// going backward, among the keys in bounds. So a key short of the bounds
// (below them going forward, above them going backward) lands on the
// first key in bounds, and a key beyond them exhausts the iterator.
func (it *iterator) Seek(key []byte) bool {
	if !it.ready() {
		return false
	}
	if !it.reverse {
		if it.lo != nil && bytes.Compare(key, it.lo) < 0 {
			key = it.lo
		}
		if it.hi != nil && bytes.Compare(key, it.hi) >= 0 {
			it.cur.reset()
			return false
		}
		it.cur.seekGE(it.root, key, it.snapTs)
		return it.settleForward()
	}
	if it.hi != nil && bytes.Compare(key, it.hi) >= 0 {
		it.cur.seekLT(it.root, it.hi, interfaces.MaxTs)
		return it.settleReverse()
	}
	if it.lo != nil && bytes.Compare(key, it.lo) < 0 {
		// Every key in bounds is above key.
		it.cur.reset()
		return false
	}
	// No version has ts 0, and (key, 0) orders after every version of key:
	// the versions before it are those of keys <= key.
	it.cur.seekLT(it.root, key, 0)
	return it.settleReverse()
}

// Next moves one step in the iterator's direction.
func (it *iterator) Next() bool {
	if !it.valid || !it.ready() {
		return false
	}
	switch {
	case it.reverse && it.all:
		it.cur.prev()
	case it.reverse:
		// The cursor already stands past the current key.
	case it.all:
		it.cur.next()
	default:
		it.skipKey(it.item.key())
	}
	if it.reverse {
		return it.settleReverse()
	}
	return it.settleForward()
}

// skipKey moves a forward cursor to the first version of the next key.
func (it *iterator) skipKey(key []byte) {
	for range forwardSkipLimit {
		it.cur.next()
		if !it.cur.valid() || !bytes.Equal(it.cur.item().key(), key) {
			return
		}
	}
	// (key, 0) orders after every version of key.
	it.cur.seekGE(it.root, key, 0)
}

// settleForward moves a forward cursor from where it stands to the first
// version the iterator yields.
func (it *iterator) settleForward() bool {
	for it.cur.valid() {
		v := it.cur.item()
		if it.hi != nil && bytes.Compare(v.key(), it.hi) >= 0 {
			break
		}
		if v.ts > it.snapTs {
			// Newer than the snapshot: jump to the key's newest
			// visible version.
			it.cur.seekGE(it.root, v.key(), it.snapTs)
			continue
		}
		if it.all || v.kind == interfaces.KindSet {
			it.item, it.valid = *v, true
			return true
		}
		// The key's newest visible version is a tombstone.
		it.skipKey(v.key())
	}
	it.cur.reset()
	return false
}

// settleReverse moves a backward cursor from where it stands to the next
// version the iterator yields.
func (it *iterator) settleReverse() bool {
	for it.cur.valid() {
		v := it.cur.item()
		key := v.key()
		if it.lo != nil && bytes.Compare(key, it.lo) < 0 {
			break
		}
		if it.all {
			if v.ts > it.snapTs {
				// Going backward the key's versions get newer: the
				// rest of them are invisible too.
				it.cur.seekLT(it.root, key, interfaces.MaxTs)
				continue
			}
			it.item, it.valid = *v, true
			return true
		}
		// Backward, a key's versions come oldest first: the one to yield
		// is the last visible one met before the key ends or its
		// versions pass snapTs.
		var found *version
		for steps := 0; ; steps++ {
			if v.ts > it.snapTs {
				it.cur.seekLT(it.root, key, interfaces.MaxTs)
				break
			}
			found = v
			if steps == reverseScanLimit {
				// Many visible versions: look the newest up directly.
				found = seekGE(it.root, key, it.snapTs)
				it.cur.seekLT(it.root, key, interfaces.MaxTs)
				break
			}
			if it.cur.prev(); !it.cur.valid() {
				break
			}
			if v = it.cur.item(); !bytes.Equal(v.key(), key) {
				break
			}
		}
		if found != nil && found.kind == interfaces.KindSet {
			it.item, it.valid = *found, true
			return true
		}
	}
	it.cur.reset()
	return false
}

// Valid reports whether the iterator stands on a version.
func (it *iterator) Valid() bool { return it.valid }

// Key returns the current user key; the tree's bytes, not to be changed.
func (it *iterator) Key() []byte {
	if !it.valid {
		return nil
	}
	return it.item.key()
}

// Ts returns the current version's ts.
func (it *iterator) Ts() uint64 {
	if !it.valid {
		return 0
	}
	return it.item.ts
}

// Kind returns the current version's kind.
func (it *iterator) Kind() interfaces.EntryKind {
	if !it.valid {
		return 0
	}
	return it.item.kind
}

// Value returns the current value (nil for a tombstone); the tree's bytes,
// not to be changed.
func (it *iterator) Value() []byte {
	if !it.valid || it.item.kind != interfaces.KindSet {
		return nil
	}
	return it.item.value()
}

// Err returns the error that stopped the iterator.
func (it *iterator) Err() error { return it.err }

// Close releases the snapshot and returns Err. Every later call on the
// iterator finds it invalid; a second Close returns an error matching
// interfaces.ErrClosed.
func (it *iterator) Close() error {
	if it.closed {
		return fmt.Errorf("lightning/memory: iterator: close: %w", interfaces.ErrClosed)
	}
	err := it.err
	it.closed, it.valid = true, false
	it.root, it.item, it.cur.stack = nil, version{}, nil
	return err
}
