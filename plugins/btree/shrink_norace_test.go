//go:build !race

package btree_test

import "testing"

// TestShrinkOnline deletes 75% of 1,000,000 keys and compacts online (see
// testShrinkOnline). Under the race detector, shrink_race_test.go runs it
// on fewer keys.
func TestShrinkOnline(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	testShrinkOnline(t, n)
}
