//go:build !linux

package arenaskl

// adviseHugePages does nothing outside Linux, where there is no portable
// way to ask for huge pages on existing memory.
func adviseHugePages([]byte) {}
