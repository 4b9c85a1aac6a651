package engines

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lightningdb/lightning/bench"
)

// Pebble returns the Pebble v2 entry: default options (FormatMajorVersion
// left at its default, Snappy block compression, no bloom filters, 4-MiB
// memtable) with a shared block cache of the harness's size.
func Pebble() bench.Engine {
	return bench.Engine{
		Name:    "pebble",
		Family:  "pebble",
		Default: true,
		Settings: "Pebble v2.1.7, pebble.Options defaults (Snappy blocks, no bloom filter, " +
			"default format version and memtable) plus Cache=pebble.NewCache(cache); " +
			"writes with pebble.NoSync, or pebble.Sync for the synced workload; batches via db.NewBatch",
		Open: openPebble,
	}
}

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

// quietLogger drops Pebble's informational logging, which would otherwise
// interleave with the harness's progress lines; errors still surface through
// return values.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

func openPebble(dir string, o bench.OpenOptions) (bench.Store, error) {
	cache := pebble.NewCache(o.CacheBytes)
	// The DB takes its own reference; ours is released at once.
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Cache: cache, Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("engines/pebble: %w", err)
	}
	wo := pebble.NoSync
	if o.Sync {
		wo = pebble.Sync
	}
	return &pebbleStore{db: db, wo: wo}, nil
}

func (s *pebbleStore) Put(key, value []byte) error { return s.db.Set(key, value, s.wo) }

func (s *pebbleStore) Get(key, dst []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	dst = append(dst, v...)
	return dst, true, closer.Close()
}

func (s *pebbleStore) NewBatch() bench.Batch { return &pebbleBatch{b: s.db.NewBatch(), wo: s.wo} }

type pebbleBatch struct {
	b  *pebble.Batch
	wo *pebble.WriteOptions
}

// Put copies key and value into the batch representation.
func (b *pebbleBatch) Put(key, value []byte) error { return b.b.Set(key, value, nil) }

func (b *pebbleBatch) Commit() error {
	err := b.b.Commit(b.wo)
	return errors.Join(err, b.b.Close())
}

func (s *pebbleStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	var valid bool
	if start == nil {
		valid = it.First()
	} else {
		valid = it.SeekGE(start)
	}
	for ; valid && (limit <= 0 || n < limit); valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return n, errors.Join(err, it.Close())
		}
		fn(it.Key(), v)
		n++
	}
	return n, it.Close()
}

// Compact compacts the whole key range: from the first key to just past the
// last, with parallelism, which is what a manual full compaction in Pebble
// looks like.
func (s *pebbleStore) Compact() error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	var first, last []byte
	if it.First() {
		first = append(first, it.Key()...)
	}
	if it.Last() {
		last = append(last, it.Key()...)
	}
	if err := it.Close(); err != nil {
		return err
	}
	if first == nil {
		return nil
	}
	return s.db.Compact(context.Background(), first, append(last, 0), true)
}

func (s *pebbleStore) Close() error { return s.db.Close() }
