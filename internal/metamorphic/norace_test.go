//go:build !race

package metamorphic

const raceEnabled = false
