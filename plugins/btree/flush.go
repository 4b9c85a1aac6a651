package btree

// Flushing: merging the frozen write buffers into the tree in one
// transaction. Only frozen buffers are merged — Flush freezes the active
// one first — so Apply goes on into a fresh buffer meanwhile, and the
// durable ts of the commit is the highest ts of the buffers merged: every
// version up to it is in the new tree, and none above.

// memEdits merges memtables (newest first, disjoint in ts) into one sorted
// stream of edits.
type memEdits struct {
	nodes []*memNode
	e     edit
	best  int // index of the node that is the current edit, -1 at the end
	count int // versions in the memtables
}

func newMemEdits(mems []*memtable) *memEdits {
	m := &memEdits{nodes: make([]*memNode, len(mems))}
	for i, mt := range mems {
		m.nodes[i] = mt.first()
		m.count += int(mt.count.Load())
	}
	m.load()
	return m
}

// load makes the smallest node the current edit.
func (m *memEdits) load() {
	if len(m.nodes) == 1 {
		m.best = 0
		n := m.nodes[0]
		if n == nil {
			m.best = -1
			return
		}
		m.e = edit{key: n.key, ts: n.ts, kind: n.kind, value: n.value}
		return
	}
	best := -1
	for i, n := range m.nodes {
		if n == nil {
			continue
		}
		if best < 0 || n.cmp(m.nodes[best].head, m.nodes[best].key, m.nodes[best].ts) < 0 {
			best = i
		}
	}
	m.best = best
	if best < 0 {
		return
	}
	n := m.nodes[best]
	m.e = edit{key: n.key, ts: n.ts, kind: n.kind, value: n.value}
}

// countHint returns how many edits the stream yields in all.
func (m *memEdits) countHint() int { return m.count }

func (m *memEdits) cur() *edit {
	if m.best < 0 {
		return nil
	}
	return &m.e
}

func (m *memEdits) next() {
	if m.best >= 0 {
		m.nodes[m.best] = m.nodes[m.best].next()
		m.load()
	}
}

// sliceEdits is a stream of edits held in a slice.
type sliceEdits struct {
	edits []edit
	i     int
}

func (s *sliceEdits) cur() *edit {
	if s.i >= len(s.edits) {
		return nil
	}
	return &s.edits[s.i]
}

func (s *sliceEdits) next() { s.i++ }

// flushFrozen merges every frozen write buffer into the tree and returns
// the durable ts. When enough of the file is reusable afterwards, it
// shrinks the file.
func (e *Engine) flushFrozen() (uint64, error) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	if err := e.checkWritable("flush"); err != nil {
		return 0, err
	}
	frozen := e.state.Load().frozen
	if len(frozen) == 0 {
		return e.durableTs.Load(), nil
	}
	durable := frozen[0].maxTs.Load()
	t := e.beginLocked()
	if err := t.rewriteTree(newMemEdits(frozen), false); err != nil {
		err = e.failStop(err)
		e.wakeWaiters()
		return 0, err
	}
	v, err := t.commit(durable, e.discardTs.Load())
	if err != nil {
		e.wakeWaiters()
		return 0, err
	}
	e.installLocked(v, len(frozen))
	e.durableTs.Store(durable)
	e.flushes.Add(1)
	if err := e.maybeShrinkLocked(false); err != nil {
		// The flush is durable; the shrink's failure has fail-stopped the
		// engine, which the next write reports.
		e.log.Error("shrink after flush", "err", err)
	}
	return durable, nil
}

// installLocked publishes a committed tree version, dropping the oldest
// flushed frozen buffers (which it now holds) from the read state, and
// wakes Applies waiting for a flush. e.commitMu is held.
func (e *Engine) installLocked(v *treeVersion, flushed int) {
	e.stateMu.Lock()
	s := e.state.Load()
	frozen := s.frozen[:len(s.frozen)-flushed]
	e.publishLocked(&readState{mem: s.mem, big: s.big, frozen: frozen, tree: v})
	e.frozenCond.Broadcast()
	e.stateMu.Unlock()
}

// wakeWaiters wakes Applies waiting for a flush, after a failure they must
// report.
func (e *Engine) wakeWaiters() {
	e.stateMu.Lock()
	e.frozenCond.Broadcast()
	e.stateMu.Unlock()
}
