//go:build race

package metamorphic

// raceEnabled shrinks the runs under the race detector, which slows every
// operation several times over.
const raceEnabled = true
