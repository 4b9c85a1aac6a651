package bench

import (
	"math/rand/v2"
)

// Workload names, in the order a run executes them.
const (
	WFillSeq       = "fillseq"
	WFillRandomPut = "fillrandom-put"
	WFillRandom    = "fillrandom"
	WReadRandom1   = "readrandom-1"
	WReadRandom2   = "readrandom-2"
	WScanFull      = "scan-full"
	WScan100       = "scan-100"
	WYCSBA         = "ycsb-a"
	WYCSBB         = "ycsb-b"
	WYCSBC         = "ycsb-c"
	WYCSBF         = "ycsb-f"
	WYCSBD         = "ycsb-d"
	WYCSBE         = "ycsb-e"
	WWriteSync     = "writesync-16"
)

// WorkloadInfo describes one workload for the report.
type WorkloadInfo struct {
	Name string
	// Group is a selector shared by related workloads: fill, read, scan,
	// ycsb, sync.
	Group string
	// Unit is what one op counts ("keys", "reads", "scans", "ops", "puts").
	Unit string
	// Description says exactly what runs, for the report's legend.
	Description string
}

// ycsbMix is one YCSB core workload's operation mix; the proportions add up
// to 1. The read distribution is the scrambled Zipfian unless latest is set.
type ycsbMix struct {
	read, update, insert, scan, rmw float64
	latest                          bool
}

// workloads is the canonical order. YCSB runs A, B, C, F, D, E, the order
// YCSB's documentation recommends, because D and E insert records.
var workloads = []WorkloadInfo{
	{WFillSeq, "fill", "keys", "N keys in ascending order, batches of B, no sync, fresh store"},
	{WFillRandomPut, "fill", "keys", "N keys in seeded random order, one Put each, no sync, fresh store"},
	{WFillRandom, "fill", "keys", "N keys in seeded random order, batches of B, no sync; the store the later workloads use"},
	{WReadRandom1, "read", "reads", "point reads of uniformly random loaded keys, 1 goroutine, warm cache"},
	{WReadRandom2, "read", "reads", "point reads of uniformly random loaded keys, 2 goroutines, warm cache"},
	{WScanFull, "scan", "keys", "one ascending scan over every key"},
	{WScan100, "scan", "scans", "100-key ascending scans from uniformly random start keys"},
	{WYCSBA, "ycsb", "ops", "YCSB A: 50% read, 50% update, Zipfian"},
	{WYCSBB, "ycsb", "ops", "YCSB B: 95% read, 5% update, Zipfian"},
	{WYCSBC, "ycsb", "ops", "YCSB C: 100% read, Zipfian"},
	{WYCSBF, "ycsb", "ops", "YCSB F: 50% read, 50% read-modify-write, Zipfian"},
	{WYCSBD, "ycsb", "ops", "YCSB D: 95% read (latest), 5% insert"},
	{WYCSBE, "ycsb", "ops", "YCSB E: 95% scan of 1-100 keys, 5% insert, Zipfian starts"},
	{WWriteSync, "sync", "puts", "16 concurrent writers, synced Put of random loaded keys"},
}

var ycsbMixes = map[string]ycsbMix{
	WYCSBA: {read: 0.5, update: 0.5},
	WYCSBB: {read: 0.95, update: 0.05},
	WYCSBC: {read: 1},
	WYCSBF: {read: 0.5, rmw: 0.5},
	WYCSBD: {read: 0.95, insert: 0.05, latest: true},
	WYCSBE: {scan: 0.95, insert: 0.05},
}

// Workloads returns every workload in canonical order.
func Workloads() []WorkloadInfo { return append([]WorkloadInfo(nil), workloads...) }

// WorkloadNames returns every workload name in canonical order.
func WorkloadNames() []string {
	out := make([]string, len(workloads))
	for i, w := range workloads {
		out[i] = w.Name
	}
	return out
}

func workloadByName(name string) (WorkloadInfo, bool) {
	for _, w := range workloads {
		if w.Name == name {
			return w, true
		}
	}
	return WorkloadInfo{}, false
}

// LookupWorkload returns the named workload's description.
func LookupWorkload(name string) (WorkloadInfo, bool) { return workloadByName(name) }

// streamID derives a worker's random stream from the workload name and the
// worker index, so every engine replays the same operations.
func streamID(workload string, worker int) uint64 {
	return fnvString(workload)*31 + uint64(worker)
}

func fnvString(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// chooseOp picks one YCSB operation by its proportion.
func (m ycsbMix) chooseOp(r *rand.Rand) byte {
	p := r.Float64()
	for _, c := range []struct {
		share float64
		op    byte
	}{{m.read, 'r'}, {m.update, 'u'}, {m.insert, 'i'}, {m.scan, 's'}, {m.rmw, 'm'}} {
		if p < c.share {
			return c.op
		}
		p -= c.share
	}
	// Rounding can leave p a hair above the last share.
	switch {
	case m.rmw > 0:
		return 'm'
	case m.scan > 0:
		return 's'
	case m.insert > 0:
		return 'i'
	case m.update > 0:
		return 'u'
	}
	return 'r'
}
