//go:build race

package zstd_test

// raceEnabled reports whether the race detector is on, which slows the
// pure-Go encoders tenfold.
const raceEnabled = true
