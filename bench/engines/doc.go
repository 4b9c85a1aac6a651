// Package engines adapts each engine under comparison to bench.Store and
// registers it with the settings it runs with.
//
// Each peer runs with its documented defaults except where the comparison
// needs a common knob (the cache budget and the sync mode); every deviation
// is spelled out in the engine's Settings string, which the report prints
// beside the numbers. Lightning gets one entry per engine and option set the
// project ships; an entry the linked Lightning cannot open is registered as
// unavailable, with the reason, rather than left out or faked.
//
// All adapters are safe for concurrent use, as bench.Store requires: the
// engines themselves are, and the adapters keep no shared mutable state.
// Keys and values passed to a Batch are copied, because the harness reuses
// its key buffer between calls.
package engines
