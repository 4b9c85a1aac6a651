package engines

import (
	"errors"
	"fmt"

	"github.com/lightningdb/lightning/bench"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// GoLevelDB returns the goleveldb entry: default options (Snappy, 4-MiB
// write buffer, no bloom filter) with a block cache of the harness's size.
func GoLevelDB() bench.Engine {
	return bench.Engine{
		Name:    "goleveldb",
		Family:  "goleveldb",
		Default: true,
		Settings: "goleveldb v1.0.0, opt.Options defaults (Snappy, 4-MiB write buffer, no bloom filter) " +
			"plus BlockCacheCapacity=cache; WriteOptions{Sync} per workload; batches via leveldb.Batch",
		Open: openGoLevelDB,
	}
}

type levelStore struct {
	db *leveldb.DB
	wo *opt.WriteOptions
}

func openGoLevelDB(dir string, o bench.OpenOptions) (bench.Store, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{BlockCacheCapacity: int(o.CacheBytes)})
	if err != nil {
		return nil, fmt.Errorf("engines/goleveldb: %w", err)
	}
	return &levelStore{db: db, wo: &opt.WriteOptions{Sync: o.Sync}}, nil
}

func (s *levelStore) Put(key, value []byte) error { return s.db.Put(key, value, s.wo) }

func (s *levelStore) Get(key, dst []byte) ([]byte, bool, error) {
	v, err := s.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	return append(dst, v...), true, nil
}

func (s *levelStore) NewBatch() bench.Batch { return &levelBatch{s: s} }

type levelBatch struct {
	s *levelStore
	b leveldb.Batch
}

// Put copies key and value into the batch's buffer.
func (b *levelBatch) Put(key, value []byte) error { b.b.Put(key, value); return nil }

func (b *levelBatch) Commit() error { return b.s.db.Write(&b.b, b.s.wo) }

func (s *levelStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	it := s.db.NewIterator(nil, nil)
	defer it.Release()
	n := 0
	var valid bool
	if start == nil {
		valid = it.First()
	} else {
		valid = it.Seek(start)
	}
	for ; valid && (limit <= 0 || n < limit); valid = it.Next() {
		fn(it.Key(), it.Value())
		n++
	}
	return n, it.Error()
}

// Compact compacts the whole key space (an empty range means all of it).
func (s *levelStore) Compact() error { return s.db.CompactRange(util.Range{}) }

func (s *levelStore) Close() error { return s.db.Close() }
