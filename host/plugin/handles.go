package plugin

import "sync"

// table maps handles to the instances and iterators a process serves.
// Handles start at 1 and are never reused, so a stale handle from a closed
// instance can never name a new one.
type table[T any] struct {
	mu   sync.RWMutex
	next uint64
	m    map[uint64]T // INVARIANT: every key is below next
}

func (t *table[T]) add(v T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[uint64]T)
	}
	t.next++
	t.m[t.next] = v
	return t.next
}

func (t *table[T]) get(h uint64) (T, bool) {
	t.mu.RLock()
	v, ok := t.m[h]
	t.mu.RUnlock()
	return v, ok
}

func (t *table[T]) remove(h uint64) (T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[h]
	delete(t.m, h)
	return v, ok
}

// drain removes and returns every value.
func (t *table[T]) drain() []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]T, 0, len(t.m))
	for h, v := range t.m {
		out = append(out, v)
		delete(t.m, h)
	}
	return out
}
