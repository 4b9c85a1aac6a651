package conformance

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/lightningdb/lightning/interfaces"
)

// storageModel is the reference model of a Storage: every version of
// every user key, plus the watermarks that decide what an engine may have
// forgotten. It is written for obviousness, not speed.
type storageModel struct {
	// versions maps a user key to its versions, newest first. A slice is
	// never changed in place once stored (apply and truncate store new
	// slices), so a clone may share them.
	versions map[string][]modelVersion
	// appliedTs is the highest ts the live instance holds or has applied.
	appliedTs uint64
	// discardTs is the highest ts ever passed to SetDiscardTs (with
	// CapDiscard). Versions it lets go are optional from then on: an
	// engine may have dropped them, and a crash may bring them back.
	discardTs uint64
}

type modelVersion struct {
	ts   uint64
	kind interfaces.EntryKind
	// value is never nil for a KindSet version and nil for a tombstone.
	value []byte
}

func newStorageModel() *storageModel {
	return &storageModel{versions: map[string][]modelVersion{}}
}

// clone returns a copy of m that later changes to m do not affect.
func (m *storageModel) clone() *storageModel {
	c := *m
	c.versions = maps.Clone(m.versions)
	return &c
}

// apply adds entries, which respect Apply's preconditions.
func (m *storageModel) apply(entries []interfaces.Entry) {
	for _, e := range entries {
		v := modelVersion{ts: e.Ts, kind: e.Kind}
		if e.Kind == interfaces.KindSet {
			v.value = append([]byte{}, e.Value...)
		}
		k := string(e.Key)
		m.versions[k] = append([]modelVersion{v}, m.versions[k]...)
		m.appliedTs = max(m.appliedTs, e.Ts)
	}
}

// truncate keeps only the versions with ts <= ts: what a crash leaves when
// DurableTs is ts.
func (m *storageModel) truncate(ts uint64) {
	for k, vs := range m.versions {
		i := 0
		for i < len(vs) && vs[i].ts > ts {
			i++
		}
		if i == len(vs) {
			delete(m.versions, k)
		} else if i > 0 {
			m.versions[k] = slices.Clone(vs[i:])
		}
	}
	m.appliedTs = min(m.appliedTs, ts)
}

// newest returns key's newest version with ts <= readTs, tombstones
// included.
func (m *storageModel) newest(key string, readTs uint64) (modelVersion, bool) {
	for _, v := range m.versions[key] {
		if v.ts <= readTs {
			return v, true
		}
	}
	return modelVersion{}, false
}

// visible returns what Get(key, readTs) must return when readTs >=
// discardTs: the newest version with ts <= readTs, unless it is a
// tombstone.
func (m *storageModel) visible(key string, readTs uint64) (modelVersion, bool) {
	v, ok := m.newest(key, readTs)
	if !ok || v.kind != interfaces.KindSet {
		return modelVersion{}, false
	}
	return v, true
}

// lookup returns the version (key, ts), if the model holds it.
func (m *storageModel) lookup(key string, ts uint64) (modelVersion, bool) {
	for _, v := range m.versions[key] {
		if v.ts == ts {
			return v, true
		}
	}
	return modelVersion{}, false
}

// droppable reports whether version i of vs (newest first) may be dropped
// under discard: with V the newest version with ts <= discard, every
// version older than V, and V itself if it is a tombstone.
func droppable(vs []modelVersion, i int, discard uint64) bool {
	for j, v := range vs {
		if v.ts <= discard {
			return i > j || (i == j && v.kind == interfaces.KindDelete)
		}
	}
	return false
}

// sortedKeys returns the model's user keys in order.
func (m *storageModel) sortedKeys() []string {
	return slices.Sorted(maps.Keys(m.versions))
}

// expItem is a version an iterator is expected to yield. An optional one
// is a version the discard ts lets go: the engine may yield it or not.
type expItem struct {
	item
	optional bool
}

// expect returns what an iterator with opts yields, in its order, when
// discard is the discard ts. Versions that gone lets go must be gone — a
// Compact(KeyRange{}) ran with that discard ts — so they are left out
// rather than marked optional; gone 0 leaves nothing out.
//
// Without AllVersions and with opts.ReadTs < discard the answer is not
// determined (reads below the discard ts see any subset of the droppable
// versions); the caller checks those iterators with checkLoose instead.
func (m *storageModel) expect(opts interfaces.IterOptions, discard, gone uint64) []expItem {
	var out []expItem
	for _, k := range m.sortedKeys() {
		if !inRange([]byte(k), opts) {
			continue
		}
		vs := m.versions[k]
		if !opts.AllVersions {
			if v, ok := m.visible(k, opts.ReadTs); ok {
				out = append(out, expItem{item: setItem(k, v.ts, string(v.value))})
			}
			continue
		}
		for i, v := range vs {
			if v.ts > opts.ReadTs {
				continue
			}
			if droppable(vs, i, gone) {
				continue
			}
			drop := droppable(vs, i, discard)
			it := item{key: k, ts: v.ts, kind: v.kind, value: string(v.value)}
			out = append(out, expItem{item: it, optional: drop})
		}
	}
	if opts.Reverse {
		slices.Reverse(out)
	}
	return out
}

// seekIndex returns where Seek(target) must land in want, a list in the
// iterator's order: the first key >= target going forward, the first key
// <= target going backward. Clamping to the bounds needs no special case,
// because want holds only keys inside them.
func seekIndex(want []expItem, target []byte, reverse bool) int {
	for i, w := range want {
		c := bytes.Compare([]byte(w.key), target)
		if (!reverse && c >= 0) || (reverse && c <= 0) {
			return i
		}
	}
	return len(want)
}

// matchItems checks got, what an iterator yielded from a position, against
// want from index start: every required item in order, optional items
// anywhere they belong, nothing else. complete says the iterator reported
// its end after got, so no required item may remain. It returns "" when
// got matches, and what is wrong otherwise.
func matchItems(got []item, want []expItem, start int, complete bool) string {
	p := start
	for gi, g := range got {
		for {
			if p >= len(want) {
				return fmt.Sprintf("step %d yields %v; want the end", gi, g)
			}
			w := want[p]
			p++
			if w.item == g {
				break
			}
			if !w.optional {
				return fmt.Sprintf("step %d yields %v; want %v", gi, g, w.item)
			}
		}
	}
	if complete {
		for ; p < len(want); p++ {
			if !want[p].optional {
				return fmt.Sprintf("the iterator ends after %d steps; want %v next", len(got), want[p].item)
			}
		}
	}
	return ""
}

// checkLoose checks an iterator without AllVersions reading below the
// discard ts, where the exact answer is not determined: every version it
// yields must exist, be a value, be visible at limitTs, be inside the
// bounds, and come in strict key order in the iterator's direction; after
// Seek(target) the first must not be before target.
func (m *storageModel) checkLoose(got []item, opts interfaces.IterOptions, limitTs uint64, seek []byte) string {
	for i, g := range got {
		v, ok := m.lookup(g.key, g.ts)
		switch {
		case !ok:
			return fmt.Sprintf("step %d yields %v, a version never applied (or lost in a crash)", i, g)
		case v.kind != interfaces.KindSet || string(v.value) != g.value:
			return fmt.Sprintf("step %d yields %v; that version is %v", i, g, item{g.key, v.ts, v.kind, string(v.value)})
		case g.ts > limitTs:
			return fmt.Sprintf("step %d yields %v, newer than the iterator's snapshot ts %d", i, g, limitTs)
		case !inRange([]byte(g.key), opts):
			return fmt.Sprintf("step %d yields %v, outside the bounds", i, g)
		}
		if i > 0 {
			c := bytes.Compare([]byte(got[i-1].key), []byte(g.key))
			if (!opts.Reverse && c >= 0) || (opts.Reverse && c <= 0) {
				return fmt.Sprintf("step %d yields %v after %v: out of order", i, g, got[i-1])
			}
		}
		if i == 0 && seek != nil {
			c := bytes.Compare([]byte(g.key), seek)
			if (!opts.Reverse && c < 0) || (opts.Reverse && c > 0) {
				return fmt.Sprintf("Seek(%q) lands on %v, on the wrong side of the target", seek, g)
			}
		}
	}
	return ""
}
