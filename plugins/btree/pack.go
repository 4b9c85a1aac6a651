package btree

import (
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
)

// Packing: cutting a run of items into nodes.
//
// Leaves are cut greedily at the target size, and the last two nodes of a
// run are balanced so that no run ends in a sliver. Without a codec a leaf
// is one page, so that the memory map serves it in place. With a codec, a
// leaf's compressed image takes a chain of up to compressedLeafPages
// pages: the target is that many pages' capacity times the compression
// ratio seen on recent leaves, and a leaf that does not fit after all is
// cut shorter, in proportion, and tried again. A single version that does
// not fit (a key near MaxKeySize) takes a chain of pages in any case.
//
// Why chains of several pages: a compressed leaf is read through the cache
// (a lookup, then a cold image), and that per-leaf cost dominates scans;
// four times the versions per leaf cut it fourfold for a scan and by half
// for a 100-key one. It also wastes less of the file: only the last page
// of a chain is partly filled, where a one-page leaf left half a page
// empty whenever a run of leaves ended in two half-full ones. A point read
// pays one or two more binary-search steps, and a leaf read from the file
// decompresses more.

// maxLeafImage bounds a leaf image before compression: the memory a decoded
// leaf takes in the cache, and the reach of 2-byte offsets.
const maxLeafImage = 60 << 10

// compressedLeafPages is how many pages a compressed leaf may take.
const compressedLeafPages = 4

// leafTarget returns the image size packing aims a leaf at. e.commitMu is
// held.
func (e *Engine) leafTarget() int {
	c := e.p.capacity
	if e.p.codec == nil {
		return c
	}
	t := int(float64(compressedLeafPages*c) * e.leafRatio * 0.94)
	return max(c, min(t, 4*compressedLeafPages*c, maxLeafImage))
}

// leafStoredMax returns the most bytes a leaf's stored (compressed) form
// may take, unless it holds a single version.
func (p *pager) leafStoredMax() int {
	if p.codec == nil {
		return p.capacity
	}
	return compressedLeafPages * p.capacity
}

// noteRatio feeds the compression ratio of a leaf just written into the
// estimate. e.commitMu is held.
func (e *Engine) noteRatio(raw, stored int) {
	r := float64(raw) / float64(max(stored, 1))
	e.leafRatio = 0.8*e.leafRatio + 0.2*r
}

// planCut returns the end of the node that starts at item i of a run whose
// item sizes are sizes (prefix sums in sum, sum[0] = 0): as many items as
// fit in target, at least min(minItems, left); when what would be left
// after it is less than half a node, half of what is left, so the last two
// nodes share it.
func planCut(sum []int, i, target, minItems int) int {
	n := len(sum) - 1
	j := i + 1
	for j < n && (j-i < minItems || sum[j+1]-sum[i] <= target) {
		j++
	}
	if j < n && sum[n]-sum[j] < target/2 {
		half := sum[i] + (sum[n]-sum[i])/2
		k := i + 1
		for k < n && sum[k] < half {
			k++
		}
		if k-i >= minItems && n-k >= minItems {
			j = k
		}
	}
	return j
}

// packLeaves writes items (one run, in order) as leaves and returns their
// pointers; the first gets the lower bound (loKey, loTs).
func (t *txn) packLeaves(items []page.LeafEntry, loKey []byte, loTs uint64) ([]ref, error) {
	if len(items) == 0 {
		return nil, nil
	}
	inlineMax := t.e.inlineMax
	for i := range items {
		e := &items[i]
		if e.Kind != interfaces.KindSet {
			e.Value, e.Ovf = nil, page.ValueRef{}
			continue
		}
		if !e.Overflow() && len(e.Value) > inlineMax {
			r, err := t.writeValue(e.Value)
			if err != nil {
				return nil, err
			}
			e.Ovf, e.Value = r, nil
		}
	}
	sum := make([]int, len(items)+1)
	for i := range items {
		sum[i+1] = sum[i] + page.LeafEntrySize(&items[i])
	}
	target := t.e.leafTarget() - page.LeafHeaderSize
	var out []ref
	for i := 0; i < len(items); {
		j := planCut(sum, i, target, 1)
		for {
			t.img = page.AppendLeaf(t.img[:0], items[i:j])
			stored, codec, err := t.p.encodeBlob(t.img, true, t.enc)
			if err != nil {
				return nil, err
			}
			if codec != 0 {
				t.enc = stored[:0]
				t.e.noteRatio(len(t.img), len(stored))
			}
			if len(stored) <= t.p.leafStoredMax() || j-i == 1 {
				id, err := t.writeEncoded(page.TypeLeaf, t.img, stored, codec)
				if err != nil {
					return nil, err
				}
				r := ref{page: id, gen: t.gen}
				if len(out) == 0 {
					r.key, r.ts = loKey, loTs
				} else {
					r.key, r.ts = separator(items[i-1].Key, items[i].Key, items[i].Ts)
				}
				out = append(out, r)
				break
			}
			// Too large even compressed: cut in proportion, a little
			// shorter, and try again.
			k := i + int(float64(j-i)*float64(t.p.leafStoredMax())/float64(len(stored))*0.97)
			j = max(i+1, min(k, j-1))
		}
		i = j
	}
	return out, nil
}

// packBranches writes items (pointers to nodes of one level, in order) as
// branches of the level above and returns their pointers. Every branch but
// a lone one gets at least two children, so each level has at most half as
// many nodes as the one below.
func (t *txn) packBranches(items []ref) ([]ref, error) {
	if len(items) == 0 {
		return nil, nil
	}
	sum := make([]int, len(items)+1)
	for i := range items {
		sum[i+1] = sum[i] + branchRefSize(&items[i])
	}
	target := t.p.capacity - page.BranchHeaderSize
	children := make([]page.Child, 0, 64)
	var out []ref
	for i := 0; i < len(items); {
		j := planCut(sum, i, target, 2)
		children = children[:0]
		for k := i; k < j; k++ {
			children = append(children, page.Child{Key: items[k].key, Ts: items[k].ts, Page: items[k].page, Gen: items[k].gen})
		}
		t.img = page.AppendBranch(t.img[:0], children)
		id, err := t.writeNode(page.TypeBranch, t.img)
		if err != nil {
			return nil, err
		}
		out = append(out, ref{key: items[i].key, ts: items[i].ts, page: id, gen: t.gen})
		i = j
	}
	return out, nil
}
