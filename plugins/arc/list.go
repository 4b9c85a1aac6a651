package arc

import "github.com/lightningdb/lightning/interfaces"

// listID names the list an entry is on.
type listID uint8

const (
	listNone listID = iota // detached
	listT1                 // resident, seen once since it entered
	listT2                 // resident, hit at least once since it entered
	listB1                 // ghost of an entry evicted from T1
	listB2                 // ghost of an entry evicted from T2
)

var listNames = [...]string{listNone: "none", listT1: "T1", listT2: "T2", listB1: "B1", listB2: "B2"}

func (l listID) String() string { return listNames[l] }

// resident reports whether entries on l hold a value.
func (l listID) resident() bool { return l == listT1 || l == listT2 }

// entry is a key on one of a shard's four lists. A resident entry (T1,
// T2) holds its value; a ghost (B1, B2) holds only its key and the charge
// it had, which is what ARC needs to learn from a ghost hit.
type entry struct {
	key    interfaces.CacheKey
	value  []byte // nil on a ghost
	charge int64  // >= 1
	// prev and next link the entry into its list; nil when detached.
	prev, next *entry
	list       listID
}

// lruList is an intrusive doubly linked list of entries with its total
// charge. root.next is the most recently used entry (MRU), root.prev the
// least (LRU).
//
// INVARIANT: bytes is the sum of the charges of the entries on the list,
// and n their number.
type lruList struct {
	root  entry
	bytes int64
	n     int
	id    listID
}

func (l *lruList) init(id listID) {
	l.root.next, l.root.prev = &l.root, &l.root
	l.bytes, l.n, l.id = 0, 0, id
}

// lru returns the least recently used entry, or nil when l is empty.
func (l *lruList) lru() *entry {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

// pushMRU puts the detached e at the MRU end of l.
func (l *lruList) pushMRU(e *entry) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	e.list = l.id
	l.bytes += e.charge
	l.n++
}

// remove detaches e, which is on l.
func (l *lruList) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	e.list = listNone
	l.bytes -= e.charge
	l.n--
}

// each calls fn on the entries of l from MRU to LRU while fn returns true.
func (l *lruList) each(fn func(e *entry) bool) {
	for e := l.root.next; e != &l.root; e = e.next {
		if !fn(e) {
			return
		}
	}
}
