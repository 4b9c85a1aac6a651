package bench

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoCompaction is returned by Store.Compact for an engine that has no
// manual full compaction (bbolt rewrites pages in place and has only an
// offline copy-compaction). The report shows "—" for it.
var ErrNoCompaction = errors.New("bench: engine has no manual compaction")

// Store is one engine under test, open on one directory. Every method must
// be safe for concurrent use: workloads with several workers call them from
// several goroutines at once.
type Store interface {
	// Put writes one key as its own write (one transaction where the engine
	// has them), durable on return when the store was opened with Sync.
	Put(key, value []byte) error
	// Get appends the value of key to dst and returns it, with found false
	// when the key is absent.
	Get(key, dst []byte) (val []byte, found bool, err error)
	// NewBatch returns an empty batch; Commit applies it atomically.
	NewBatch() Batch
	// Scan visits up to limit keys (all when limit <= 0) in ascending order
	// from the first key >= start (the first key when start is nil), calling
	// fn with slices valid only during the call, and returns the number of
	// keys visited.
	Scan(start []byte, limit int, fn func(key, value []byte)) (int, error)
	// Compact runs a full manual compaction, or returns ErrNoCompaction.
	Compact() error
	// Close flushes what the engine flushes on close and releases the store.
	Close() error
}

// Batch is a group of writes applied atomically by Commit. A Batch is used by
// one goroutine and discarded after Commit.
type Batch interface {
	Put(key, value []byte) error
	Commit() error
}

// OpenOptions are the knobs the harness sets on every engine alike; each
// adapter maps them onto its own options and documents the rest in
// Engine.Settings.
type OpenOptions struct {
	// CacheBytes is the engine's block or page cache budget.
	CacheBytes int64
	// Sync makes every write durable before it returns (fsync per commit,
	// group-committed where the engine does that).
	Sync bool
}

// Engine describes one engine and option set under test.
type Engine struct {
	// Name identifies the engine on the command line and in the report, e.g.
	// "pebble" or "lightning-lsm-zstd".
	Name string
	// Family groups option sets of one engine: "pebble", "lightning", ...
	Family string
	// Settings is the human-readable list of the options used, written into
	// the report so a reader can reproduce or dispute them.
	Settings string
	// Default marks the engines a run selects when none are named: each
	// engine's shipped option set and every peer; option-set variants run
	// when asked for ("all", a family name, or by name).
	Default bool
	// Unavailable, when non-empty, says why this build cannot run the engine
	// ("not available in this build: ..."); Open is then never called.
	Unavailable string
	// Open opens (creating if needed) the store in dir.
	Open func(dir string, o OpenOptions) (Store, error)
}

// Registry is a set of engines by name.
type Registry struct {
	engines map[string]Engine
}

// NewRegistry returns a registry holding engines. It returns an error on a
// duplicate or empty name, or an available engine without Open.
func NewRegistry(engines ...Engine) (*Registry, error) {
	r := &Registry{engines: make(map[string]Engine, len(engines))}
	for _, e := range engines {
		if e.Name == "" || strings.ContainsAny(e.Name, ", \t") {
			return nil, fmt.Errorf("bench: invalid engine name %q", e.Name)
		}
		if _, dup := r.engines[e.Name]; dup {
			return nil, fmt.Errorf("bench: engine %q registered twice", e.Name)
		}
		if e.Unavailable == "" && e.Open == nil {
			return nil, fmt.Errorf("bench: engine %q has no Open", e.Name)
		}
		r.engines[e.Name] = e
	}
	return r, nil
}

// Names returns every registered name, Lightning's first, then the peers,
// each group sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.engines))
	for n := range r.engines {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		li, lj := r.engines[names[i]].Family == "lightning", r.engines[names[j]].Family == "lightning"
		if li != lj {
			return li
		}
		return names[i] < names[j]
	})
	return names
}

// Lookup returns the engine called name.
func (r *Registry) Lookup(name string) (Engine, bool) {
	e, ok := r.engines[name]
	return e, ok
}

// Select resolves a comma-separated list of engine names. "default" selects
// the Default engines, "all" every engine (available or not: the report
// lists what is missing and why), "available" every available engine, and a
// family name ("lightning") every engine of that family.
func (r *Registry) Select(list string) ([]Engine, error) {
	var out []Engine
	seen := map[string]bool{}
	add := func(e Engine) {
		if !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, e)
		}
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "all" || item == "available" || item == "default":
			for _, n := range r.Names() {
				e := r.engines[n]
				if item == "all" || (item == "available" && e.Unavailable == "") || (item == "default" && e.Default) {
					add(e)
				}
			}
		default:
			if e, ok := r.engines[item]; ok {
				add(e)
				continue
			}
			matched := false
			for _, n := range r.Names() {
				if r.engines[n].Family == item {
					add(r.engines[n])
					matched = true
				}
			}
			if !matched {
				return nil, fmt.Errorf("bench: unknown engine %q (have %s)", item, strings.Join(r.Names(), ", "))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no engine selected by %q", list)
	}
	return out, nil
}
