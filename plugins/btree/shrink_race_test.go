//go:build race

package btree_test

import "testing"

// TestShrinkOnline deletes 75% of 100,000 keys and compacts online (see
// testShrinkOnline): the race detector makes 1,000,000 too slow.
func TestShrinkOnline(t *testing.T) {
	testShrinkOnline(t, 100_000)
}
