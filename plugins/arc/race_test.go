//go:build race

package arc

// raceEnabled is true when the race detector is on, which slows the model
// tests' full invariant checks tenfold: they run shorter traces then.
const raceEnabled = true
