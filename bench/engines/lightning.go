package engines

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/bench"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

// lightningEngines are the storage engines Lightning ships, in report order.
var lightningEngines = []string{"lsm", "btree", "memory"}

// benchMasterKey is the master key of the encrypted option sets: fixed, as
// a benchmark needs no secret, and fresh per call as a KeyProvider's must
// be (the cipher zeroes what it is given).
var benchMasterKey = aesgcm.KeyFunc("bench", func() ([]byte, error) {
	return bytes.Repeat([]byte{0x42}, aesgcm.KeySize), nil
})

// lightningVariant is one option set of one Lightning engine.
type lightningVariant struct {
	suffix  string // appended to "lightning-<engine>"
	codec   string
	encrypt bool
	def     bool // run by default
	about   string
}

var lightningVariants = []lightningVariant{
	{suffix: "", codec: lightning.DefaultCodec, def: true, about: "shipped defaults"},
	{suffix: "-none", codec: "none", about: "no compression"},
	{suffix: "-lz4", codec: "lz4", about: "LZ4 compression"},
	{suffix: "-zstd", codec: "zstd", about: "zstd compression"},
	{suffix: "-aes", codec: lightning.DefaultCodec, encrypt: true, about: "AES-256-GCM encryption, default codec"},
}

// Lightning returns one entry per Lightning engine and option set: each
// engine Lightning ships, with its shipped defaults, without compression,
// with LZ4, with zstd, and encrypted. An entry whose engine is not in
// lightning.Engines(), or that needs a cipher this build lacks, is
// registered as unavailable with the reason.
func Lightning() []bench.Engine {
	linked := lightning.Engines()
	var out []bench.Engine
	for _, eng := range lightningEngines {
		for _, v := range lightningVariants {
			name := "lightning-" + eng + v.suffix
			e := bench.Engine{
				Name:    name,
				Family:  "lightning",
				Default: v.def,
				Settings: fmt.Sprintf("Lightning (this tree), %s: WithEngine(%q), WithCodec(%q)%s, "+
					"WithCacheSize(cache), WithSync(SyncNone) or WithSync(SyncAlways) for the synced workload; "+
					"Put is db.Put, a batch is db.NewBatch + db.Apply, scans use db.NewIterator; "+
					"compaction is db.Compact(nil, nil)",
					v.about, eng, v.codec, map[bool]string{true: ", WithMasterKey (AES-256-GCM data keys in a KEYS registry)"}[v.encrypt]),
			}
			switch {
			case !slices.Contains(linked, eng):
				e.Unavailable = fmt.Sprintf("not available in this build: lightning.Engines() offers only %s",
					strings.Join(linked, ", "))
			default:
				e.Open = openLightning(eng, v)
			}
			out = append(out, e)
		}
	}
	return out
}

func openLightning(eng string, v lightningVariant) func(string, bench.OpenOptions) (bench.Store, error) {
	return func(dir string, o bench.OpenOptions) (bench.Store, error) {
		sync := lightning.SyncNone
		if o.Sync {
			sync = lightning.SyncAlways
		}
		opts := []lightning.Option{
			lightning.WithEngine(eng),
			lightning.WithCodec(v.codec),
			lightning.WithCacheSize(o.CacheBytes),
			lightning.WithSync(sync),
		}
		if v.encrypt {
			opts = append(opts, lightning.WithMasterKey(benchMasterKey))
		}
		db, err := lightning.Open(dir, opts...)
		if err != nil {
			return nil, fmt.Errorf("engines/lightning: %w", err)
		}
		return &lightningStore{db: db}, nil
	}
}

type lightningStore struct {
	db *lightning.DB
}

func (s *lightningStore) Put(key, value []byte) error { return s.db.Put(key, value) }

func (s *lightningStore) Get(key, dst []byte) ([]byte, bool, error) {
	v, err := s.db.Get(key)
	if errors.Is(err, lightning.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	if len(dst) == 0 {
		// db.Get already returns a slice the caller owns: hand it over
		// rather than charge Lightning a second copy.
		return v, true, nil
	}
	return append(dst, v...), true, nil
}

func (s *lightningStore) NewBatch() bench.Batch { return &lightningBatch{db: s.db, b: s.db.NewBatch()} }

type lightningBatch struct {
	db *lightning.DB
	b  *lightning.Batch
}

// Put copies key and value into the batch (core.Batch does).
func (b *lightningBatch) Put(key, value []byte) error { return b.b.Put(key, value) }

func (b *lightningBatch) Commit() error { return b.db.Apply(b.b) }

func (s *lightningStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	it, err := s.db.NewIterator(lightning.IterOptions{})
	if err != nil {
		return 0, err
	}
	var ok bool
	if start == nil {
		ok = it.First()
	} else {
		ok = it.Seek(start)
	}
	n := 0
	for ; ok && (limit <= 0 || n < limit); ok = it.Next() {
		fn(it.Key(), it.Value())
		n++
	}
	return n, errors.Join(it.Err(), it.Close())
}

// Compact runs a full manual compaction; an engine without one (the memory
// engine) answers ErrUnsupported, reported as "n/a".
func (s *lightningStore) Compact() error {
	err := s.db.Compact(nil, nil)
	if errors.Is(err, interfaces.ErrUnsupported) {
		return bench.ErrNoCompaction
	}
	return err
}

func (s *lightningStore) Close() error { return s.db.Close() }
