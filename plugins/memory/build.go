package memory

// buildTree returns a tree holding items, which are in strictly increasing
// Storage order, with every node owned by gen. It packs nodes about
// three-quarters full on average, where inserting in order would leave
// them half full, which matters for snapshots loaded at open.
//
// The tree has the least height h that can hold the items. At a node of
// height h its n items are cut into c = ceil((n+1) / 32^(h-1)) subtrees of
// as equal a size as possible and c-1 separators. With maxItems+1 = 32
// children at most, every subtree then holds at most 32^(h-1)-1 items and,
// because c-1 < (n+1) / 32^(h-1), at least 16·32^(h-2)-1 of them — enough
// for each of its nodes to hold minItems, by the same argument one level
// down.
func buildTree(items []version, gen uint64) *node {
	if len(items) == 0 {
		return nil
	}
	height, capacity := 1, maxItems
	for len(items) > capacity {
		height++
		capacity = (capacity+1)*(maxItems+1) - 1
	}
	return buildNode(items, height, gen)
}

func buildNode(items []version, height int, gen uint64) *node {
	if height == 1 {
		n := newNode(true, gen)
		n.items = append(n.items, items...)
		return n
	}
	// sub is the number of positions (items and gaps) a subtree of height
	// height-1 can hold: 32^(height-1).
	sub := 1
	for range height - 1 {
		sub *= maxItems + 1
	}
	c := (len(items) + 1 + sub - 1) / sub
	inChildren := len(items) - (c - 1)
	n := newNode(false, gen)
	start := 0
	for j := range c {
		size := inChildren / c
		if j < inChildren%c {
			size++
		}
		n.children = append(n.children, buildNode(items[start:start+size], height-1, gen))
		start += size
		if j < c-1 {
			n.items = append(n.items, items[start])
			start++
		}
	}
	return n
}
