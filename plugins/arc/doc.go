// Package arc is Lightning's default block and page cache: an Adaptive
// Replacement Cache (Megiddo & Modha, FAST 2003) implementing
// interfaces.Cache, with sizes counted in bytes of charge rather than in
// entries, so that a 64 KiB block weighs sixteen 4 KiB ones.
//
// # Policy
//
// ARC keeps two lists of resident entries — T1, entries set but not hit
// since, and T2, entries hit at least once — and two ghost lists, B1 and
// B2, remembering the keys (and charges) recently evicted from each. A
// target p splits the capacity between T1 and T2: a Set of a key found in
// B1 says recency needed more room, and p grows; one found in B2 says
// frequency did, and p shrinks. A one-time sequential scan therefore
// passes through T1 without displacing the frequently used entries in T2,
// and a loop slightly larger than the cache still hits, where LRU never
// does. The rules, their generalisation to charges and the invariants are
// written on the shard type (shard.go).
//
// A Get hit counts as a reference and promotes the entry to T2; a miss
// changes nothing, and the Set that follows it (after the caller has read
// the block) is where ARC learns from its ghosts. A Set of a key already
// resident replaces the value without promoting it. Delete forgets the key
// and its ghost.
//
// One departure from the paper, measured in bench/cachesim: the ghost
// lists are bounded by the targets, |B1| <= c−p and |B2| <= p (in bytes),
// rather than by |T1|+|B1| <= c. The paper's bound keeps no ghost while T1
// alone fills the cache, so on a loop slightly larger than the cache it
// never hits, like LRU; with the target bounds it hits 55–70%, and the
// Zipf and scan traces are unchanged. The resident bound c, the directory
// bound 2c and the adaptation of p are the paper's.
//
// The ghosts are also bounded in number, by twice the resident entries (at
// least 64), so that tiny charges cannot make the ghosts cost much more
// memory than the entries they shadow.
//
// Known weakness, as for any ARC: when the working set moves abruptly and
// often, ARC trails LRU a little. In bench/cachesim (2000 entries, 1M
// reads) it trails by 0.5–0.6 points of hit ratio when the set moves every
// 10 cache sizes of reads and by about 0.2 when it moves every 5, and leads
// by 2.5–2.7 when it moves every 40. After a move, T2 still holds the old
// set; ARC evicts it only as fast as new entries are promoted, while T1's
// new entries fall out at p, and the B1 hits that follow raise p, which
// the new set's steady state then needs low again. That is the policy, not
// its tuning. Measured with unit charges: on the every-10 trace no fixed p
// beats LRU (the best, 0.4c, trails by 0.1 points); a 4x or a
// momentum-scaled adaptation step trails by as much or more; an oracle
// told when the set moves that then resets p (to 0.25, 0.5, 0.75 or 1 c)
// and lets ARC adapt from there trails by 0.7 to 4.9 points on the
// every-10 trace and 0.2 to 7.2 on the every-5 one, so no schedule of p
// closes the gap; only an oracle that also demotes all of T2 to T1 and
// zeroes p leads LRU (by 0.8 points on every-10, 0.04 on every-5, where
// LRU is nearly optimal), and that is no longer ARC.
//
// # Shards and concurrency
//
// Keys are spread over Options.Shards shards by a hash of the whole key.
// Each shard is a complete ARC (not an approximation: every hit moves its
// entry to T2) over its keys, with an equal share of the capacity and
// its own mutex, held for the whole of each Get, Set and Delete (an ARC
// hit moves the entry, so even Get writes). Goroutines on
// different shards do not contend, which is how two or more of them scale;
// a single shard is one ARC of the whole capacity. All methods are safe
// for concurrent use. A Get hit allocates nothing.
//
// A hit is on the path of every cached block read, so it touches as
// little memory as it can. A shard finds keys in its own open-addressing
// table whose slot (one cache line) holds the key, the entry and a copy of
// the value, so a hit reads one line where a Go map read three (control
// word, slot, entry). The hit's move to T2 is recorded in a small buffer
// and made, in order, when the buffer fills or before any Set, Delete,
// statistic or HotKeys reads the lists: since a hit changes nothing but
// its entry's place, everything that looks at the lists sees what moving
// at once would have left. With a 256 MiB cache of 4 KiB blocks (more
// than the CPU caches hold) this made random point reads through the LSM
// engine 6-11% faster, and a hit in BenchmarkGetHit 64 ns -> 33 ns.
//
// An entry must fit in its shard: Set refuses (does not store, and does
// not count as an insert) a charge above its shard's capacity, which is at
// least MaxCharge, Capacity/Shards. That is the per-entry limit the Cache
// contract allows; since Shards is at most MaxShards (64), it is never
// below the contract's floor of Capacity/64. The automatic shard count
// keeps every shard at least MinAutoShardCapacity (4 MiB) and uses one
// shard below 8 MiB, so with defaults any block up to 4 MiB is cached, and
// a small cache stores anything up to its capacity.
//
// Values are shared: Get returns the slice that was Set, and neither the
// caller nor the cache may modify it.
//
// # Statistics
//
// Stats sums the counters of interfaces.CacheStats over shards, and
// Metrics holds the gauges an OpenTelemetry asynchronous instrument can
// publish: "arc.p" (p summed over shards, in bytes), "arc.p.<i>" (shard
// i's p), "arc.shards", and "arc.t1.bytes", "arc.t2.bytes",
// "arc.b1.bytes", "arc.b2.bytes". ShardStats returns the same per shard,
// typed.
//
// # Warming after a restart
//
// HotKeys(namespace, limit) lists the resident keys of one namespace most
// worth keeping: every shard's T2 from its most recently used end, then
// every T1 likewise, the shards interleaved, other namespaces' keys
// skipped. A cache shared by several databases thus gives each engine
// exactly its own keys. Engines save and load them with package
// interfaces/cachewarm, which owns the hot-key file and its format: Save
// at Close, Load after reopening, then read those blocks again and Set
// them under the new namespace — no more than fit, taken from the front of
// the list, and Set coldest first, so that the hottest end up most
// recently used.
package arc
