package lsm

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/lightningdb/lightning/interfaces"
)

// compactionKind says what a compaction does.
type compactionKind int

const (
	// compactionMerge merges tables of a level with the overlapping tables
	// of the next, writing new tables into the next level.
	compactionMerge compactionKind = iota
	// compactionMove moves one table to the next level by a manifest edit
	// alone: nothing in the next level overlaps it.
	compactionMove
	// compactionRewrite rewrites tables of the bottommost level in place,
	// to drop what the discard ts lets go (only Compact asks for it).
	compactionRewrite
)

func (k compactionKind) String() string {
	switch k {
	case compactionMove:
		return "move"
	case compactionRewrite:
		return "rewrite"
	}
	return "merge"
}

// compaction is a picked compaction: its inputs are marked compacting
// until it ends.
type compaction struct {
	kind               compactionKind
	level, outputLevel int
	// inputs[0] are the tables of level, inputs[1] those of outputLevel
	// (empty for a move or a rewrite).
	inputs [2][]*fileMeta
	// grandparents are the tables of outputLevel+1 overlapping the inputs;
	// outputs are cut so that none overlaps too many of them.
	grandparents []*fileMeta
	// smallest and largest bound the inputs' user keys (inclusive).
	smallest, largest []byte
	score             float64
	manual            bool
}

// inputBytes returns the total size of the inputs.
func (c *compaction) inputBytes() uint64 {
	var n uint64
	for _, files := range c.inputs {
		for _, f := range files {
			n += f.size
		}
	}
	return n
}

// String describes c for logs and golden tests.
func (c *compaction) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s L%d -> L%d", c.kind, c.level, c.outputLevel)
	if !c.manual {
		fmt.Fprintf(&b, " score=%.2f", c.score)
	}
	fmt.Fprintf(&b, " span=[%s, %s]", c.smallest, c.largest)
	for i, files := range c.inputs {
		if i == 1 && c.kind != compactionMerge {
			continue
		}
		lvl := c.level
		if i == 1 {
			lvl = c.outputLevel
		}
		fmt.Fprintf(&b, "\n  L%d:", lvl)
		for _, f := range files {
			fmt.Fprintf(&b, " %06d", f.num)
		}
	}
	if len(c.grandparents) > 0 {
		b.WriteString("\n  grandparents:")
		for _, f := range c.grandparents {
			fmt.Fprintf(&b, " %06d", f.num)
		}
	}
	return b.String()
}

// setSpan computes the user-key span of the inputs.
func (c *compaction) setSpan() {
	c.smallest, c.largest = nil, nil
	first := true
	for _, files := range c.inputs {
		for _, f := range files {
			if first || bytes.Compare(f.smallest.UserKey, c.smallest) < 0 {
				c.smallest = f.smallest.UserKey
			}
			if first || bytes.Compare(f.largest.UserKey, c.largest) > 0 {
				c.largest = f.largest.UserKey
			}
			first = false
		}
	}
}

// maxGrandparentOverlap is how many bytes of the grandparent level one
// output table may overlap: more, and a later compaction of that table
// would rewrite too much.
func (o *Options) maxGrandparentOverlap() uint64 { return uint64(10 * o.TargetFileSize) }

// maxManualBytes bounds the inputs one step of a manual compaction takes
// from a level (levels 1 and up), so a Compact of everything proceeds in
// steps that let other compactions in.
func (o *Options) maxManualBytes() uint64 { return uint64(25 * o.TargetFileSize) }

// levelScore is how urgently level needs a compaction: at 1 or above it
// gets one. L0 counts tables against the trigger (each is searched by
// every read); other levels compare their size with their target. Tables
// already being compacted do not count.
func levelScore(v *version, o *Options, level int) float64 {
	if level == 0 {
		n := 0
		for _, f := range v.levels[0] {
			if !f.compacting {
				n++
			}
		}
		return float64(n) / float64(o.L0CompactionTrigger)
	}
	var b uint64
	for _, f := range v.levels[level] {
		if !f.compacting {
			b += f.size
		}
	}
	return float64(b) / float64(o.levelTarget(level))
}

// pickAuto picks the background compaction v needs most, or nil. It
// considers the levels with a score of at least 1, highest first, and
// takes the first whose inputs are free (no table compacting already).
func pickAuto(v *version, o *Options) *compaction {
	type cand struct {
		level int
		score float64
	}
	var cands []cand
	for l := range NumLevels - 1 {
		if s := levelScore(v, o, l); s >= 1 {
			cands = append(cands, cand{l, s})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	for _, cd := range cands {
		var c *compaction
		if cd.level == 0 {
			c = pickL0(v, o)
		} else {
			c = pickLevel(v, o, cd.level)
		}
		if c != nil {
			c.score = cd.score
			return c
		}
	}
	return nil
}

// expandL0 returns the L0 tables overlapping [start, end], closed under
// overlap: every L0 table overlapping the result's span is in it, so no
// table left behind holds a key the compaction moves down. Tables are in
// L0's order, newest first.
func expandL0(v *version, start, end []byte) []*fileMeta {
	var out []*fileMeta
	in := map[*fileMeta]bool{}
	for changed := true; changed; {
		changed = false
		for _, f := range v.levels[0] {
			if in[f] || !f.overlaps(start, end) {
				continue
			}
			in[f] = true
			changed = true
			if bytes.Compare(f.smallest.UserKey, start) < 0 {
				start = f.smallest.UserKey
			}
			if bytes.Compare(f.largest.UserKey, end) > 0 {
				end = f.largest.UserKey
			}
		}
	}
	for _, f := range v.levels[0] {
		if in[f] {
			out = append(out, f)
		}
	}
	return out
}

func anyCompacting(files []*fileMeta) bool {
	for _, f := range files {
		if f.compacting {
			return true
		}
	}
	return false
}

// pickL0 picks a compaction of L0 into L1: the oldest L0 table with
// every L0 table it transitively overlaps, and the L1 tables under them.
// Only one L0 compaction runs at a time.
func pickL0(v *version, o *Options) *compaction {
	l0 := v.levels[0]
	if len(l0) == 0 || anyCompacting(l0) {
		return nil
	}
	oldest := l0[len(l0)-1]
	c := &compaction{level: 0, outputLevel: 1}
	c.inputs[0] = expandL0(v, oldest.smallest.UserKey, oldest.largest.UserKey)
	return finishPick(v, o, c)
}

// pickLevel picks a compaction of one table of level (1 and up) into the
// next: the free table that overlaps the fewest bytes of the next level
// for its own size, which keeps write amplification low.
func pickLevel(v *version, o *Options, level int) *compaction {
	var (
		best      *fileMeta
		bestRatio float64
	)
	for _, f := range v.levels[level] {
		if f.compacting {
			continue
		}
		over := v.overlapping(level+1, f.smallest.UserKey, f.largest.UserKey)
		if anyCompacting(over) {
			continue
		}
		var ob uint64
		for _, g := range over {
			ob += g.size
		}
		ratio := float64(ob) / float64(max(f.size, 1))
		if best == nil || ratio < bestRatio {
			best, bestRatio = f, ratio
		}
	}
	if best == nil {
		return nil
	}
	c := &compaction{level: level, outputLevel: level + 1}
	c.inputs[0] = []*fileMeta{best}
	return finishPick(v, o, c)
}

// finishPick adds the output level's overlapping tables and the
// grandparents to a compaction whose level inputs are chosen, and turns a
// lone table with nothing under it into a move. It returns nil when an
// output-level table is already compacting.
func finishPick(v *version, o *Options, c *compaction) *compaction {
	c.setSpan()
	c.inputs[1] = v.overlapping(c.outputLevel, c.smallest, c.largest)
	if anyCompacting(c.inputs[1]) {
		return nil
	}
	c.setSpan()
	if c.outputLevel+1 < NumLevels {
		c.grandparents = v.overlapping(c.outputLevel+1, c.smallest, c.largest)
	}
	// An L0 table may be stored raw (Options.CompressL0); moving it down
	// would keep it so, so it is rewritten instead.
	if !c.manual && len(c.inputs[0]) == 1 && len(c.inputs[1]) == 0 &&
		(c.level > 0 || o.CompressL0 || c.inputs[0][0].compressed) {
		var gp uint64
		for _, f := range c.grandparents {
			gp += f.size
		}
		if gp <= o.maxGrandparentOverlap() {
			c.kind = compactionMove
		}
	}
	return c
}

// inKeyRange reports whether f holds user keys in the half-open r.
func inKeyRange(f *fileMeta, r interfaces.KeyRange) bool {
	if r.Start != nil && bytes.Compare(f.largest.UserKey, r.Start) < 0 {
		return false
	}
	if r.End != nil && bytes.Compare(f.smallest.UserKey, r.End) >= 0 {
		return false
	}
	return true
}

// pickManual picks the next step of a manual compaction of r at level
// into level+1: for L0, the tables in r with maxTs at most l0MaxTs (those
// flushed before the Compact began), closed under overlap; for other
// levels, consecutive tables in r up to maxManualBytes. It returns nil and
// false when level holds nothing more in r, and nil and true when the
// step must wait for a running compaction.
func pickManual(v *version, o *Options, level int, r interfaces.KeyRange, l0MaxTs uint64) (*compaction, bool) {
	c := &compaction{level: level, outputLevel: level + 1, manual: true}
	if level == 0 {
		var seed *fileMeta
		for _, f := range v.levels[0] {
			if f.maxTs <= l0MaxTs && inKeyRange(f, r) {
				seed = f
			}
		}
		if seed == nil {
			return nil, false
		}
		c.inputs[0] = expandL0(v, seed.smallest.UserKey, seed.largest.UserKey)
	} else {
		var total uint64
		for _, f := range v.levels[level] {
			if !inKeyRange(f, r) {
				if len(c.inputs[0]) > 0 {
					break
				}
				continue
			}
			if len(c.inputs[0]) > 0 && total+f.size > o.maxManualBytes() {
				break
			}
			c.inputs[0] = append(c.inputs[0], f)
			total += f.size
		}
		if len(c.inputs[0]) == 0 {
			return nil, false
		}
	}
	if anyCompacting(c.inputs[0]) {
		return nil, true
	}
	if finishPick(v, o, c) == nil {
		return nil, true
	}
	return c, false
}

// pickRewrite picks the next step of a manual compaction of r at the
// bottommost level: consecutive tables in r that may hold versions
// discardTs lets go, rewritten in place. It returns nil and false when no
// table needs it, and nil and true when one is compacting already.
func pickRewrite(v *version, o *Options, level int, r interfaces.KeyRange, discardTs uint64) (*compaction, bool) {
	c := &compaction{kind: compactionRewrite, level: level, outputLevel: level, manual: true}
	var total uint64
	wait := false
	for _, f := range v.levels[level] {
		if !inKeyRange(f, r) || !mayHoldGarbage(f, discardTs) {
			if len(c.inputs[0]) > 0 {
				break
			}
			continue
		}
		if f.compacting {
			wait = true
			if len(c.inputs[0]) > 0 {
				break
			}
			continue
		}
		if len(c.inputs[0]) > 0 && total+f.size > o.maxManualBytes() {
			break
		}
		c.inputs[0] = append(c.inputs[0], f)
		total += f.size
	}
	if len(c.inputs[0]) == 0 {
		return nil, wait
	}
	c.setSpan()
	return c, false
}

// mayHoldGarbage reports whether a bottommost table may hold versions
// discardTs lets go: a tombstone, or a key with several versions, at or
// below it, and no rewrite at that discard ts since.
func mayHoldGarbage(f *fileMeta, discardTs uint64) bool {
	return discardTs > 0 && f.gcTs < discardTs && f.minTs <= discardTs &&
		(f.deletions > 0 || f.entries > f.userKeys)
}

// deepestLevel returns the deepest level holding a table, or -1.
func deepestLevel(v *version) int {
	for l := NumLevels - 1; l >= 0; l-- {
		if len(v.levels[l]) > 0 {
			return l
		}
	}
	return -1
}

// setCompacting marks or unmarks c's inputs. Called with mu held.
func (c *compaction) setCompacting(on bool) {
	for _, files := range c.inputs {
		for _, f := range files {
			f.compacting = on
		}
	}
}
