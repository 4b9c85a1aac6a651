// Package metamorphic holds the metamorphic test of Lightning's storage
// engines: one random stream of operations — applies, reads of every kind,
// flushes, compactions, discard ts moves, reopens and crashes — runs
// against the memory reference engine, the LSM engine and the B+tree engine
// under several option sets, and every output is compared, engine against engine and
// against a reference model.
//
// After a reopen or a crash each engine holds the versions up to its own
// durable ts, which differ (the LSM and B+tree engines flush on their own); the test
// then does what the core does, replaying the applied batches above that
// ts, so the engines agree again. Versions the discard ts lets go may
// survive in one engine and not the other: they are left out of the
// comparison of all-versions walks.
//
// The package has no code of its own: `go test ./internal/metamorphic`
// runs it. A failure prints the seed and the operations run;
// LIGHTNING_METAMORPHIC_SEED replays a seed.
package metamorphic
