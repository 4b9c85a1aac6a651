package main

import (
	"container/list"

	lruarc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/arc"
)

// policy is a cache under simulation. access reads key: it reports a hit,
// and on a miss stores the block, as an engine does after reading it.
type policy interface {
	access(key uint64, size int64) bool
	close()
}

// arcPolicy is this repository's ARC.
type arcPolicy struct{ c *arc.Cache }

func newARC(capacity int64, shards int) policy {
	c, err := arc.New(arc.Options{Capacity: capacity, Shards: shards})
	if err != nil {
		panic(err)
	}
	return arcPolicy{c}
}

func (p arcPolicy) access(key uint64, size int64) bool {
	k := interfaces.CacheKey{Namespace: 1, File: key >> 40, Offset: key}
	if _, ok := p.c.Get(k); ok {
		return true
	}
	p.c.Set(k, nil, size)
	return false
}

func (p arcPolicy) close() { _ = p.c.Close() }

// byteLRU is a plain LRU bounded by the sum of its entries' charges: the
// baseline ARC has to beat.
type byteLRU struct {
	capacity, used int64
	order          *list.List // front = most recent
	index          map[uint64]*list.Element
}

type lruEntry struct {
	key  uint64
	size int64
}

func newByteLRU(capacity int64) policy {
	return &byteLRU{capacity: capacity, order: list.New(), index: map[uint64]*list.Element{}}
}

func (l *byteLRU) access(key uint64, size int64) bool {
	if e, ok := l.index[key]; ok {
		l.order.MoveToFront(e)
		return true
	}
	if size > l.capacity {
		return false
	}
	for l.used+size > l.capacity {
		back := l.order.Back()
		ent := back.Value.(lruEntry)
		l.order.Remove(back)
		delete(l.index, ent.key)
		l.used -= ent.size
	}
	l.index[key] = l.order.PushFront(lruEntry{key, size})
	l.used += size
	return false
}

func (l *byteLRU) close() {}

// hashicorp/golang-lru/v2's LRU and 2Q, and golang-lru/arc/v2's ARC, count
// entries, so they run only the unit-size traces.
type hashiLRU struct{ c *lru.Cache[uint64, struct{}] }

func newHashiLRU(entries int64) policy {
	c, err := lru.New[uint64, struct{}](int(entries))
	if err != nil {
		panic(err)
	}
	return hashiLRU{c}
}

func (p hashiLRU) access(key uint64, _ int64) bool {
	if _, ok := p.c.Get(key); ok {
		return true
	}
	p.c.Add(key, struct{}{})
	return false
}

func (p hashiLRU) close() {}

type hashi2Q struct {
	c *lru.TwoQueueCache[uint64, struct{}]
}

func newHashi2Q(entries int64) policy {
	c, err := lru.New2Q[uint64, struct{}](int(entries))
	if err != nil {
		panic(err)
	}
	return hashi2Q{c}
}

func (p hashi2Q) access(key uint64, _ int64) bool {
	if _, ok := p.c.Get(key); ok {
		return true
	}
	p.c.Add(key, struct{}{})
	return false
}

func (p hashi2Q) close() {}

// hashiARC is hashicorp/golang-lru/arc/v2: the paper's ARC over entries,
// with the same target-bounded ghost lists as ours (see plugins/arc's
// doc.go), so on unit charges the two should be close.
type hashiARC struct {
	c *lruarc.ARCCache[uint64, struct{}]
}

func newHashiARC(entries int64) policy {
	c, err := lruarc.NewARC[uint64, struct{}](int(entries))
	if err != nil {
		panic(err)
	}
	return hashiARC{c}
}

func (p hashiARC) access(key uint64, _ int64) bool {
	if _, ok := p.c.Get(key); ok {
		return true
	}
	p.c.Add(key, struct{}{})
	return false
}

func (p hashiARC) close() {}
