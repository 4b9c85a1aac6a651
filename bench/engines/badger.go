package engines

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/lightningdb/lightning/bench"
)

// Badger returns the Badger v4 entry: DefaultOptions (Snappy blocks, values
// up to 1 MiB kept in the LSM tree, bloom filters, conflict detection on)
// with a block cache of the harness's size and SyncWrites per workload.
func Badger() bench.Engine {
	return bench.Engine{
		Name:    "badger",
		Family:  "badger",
		Default: true,
		Settings: "Badger v4.9.6, badger.DefaultOptions (Snappy blocks, values inline in the LSM tree, " +
			"bloom filters, conflict detection) plus BlockCacheSize=cache, SyncWrites per workload " +
			"(an open-time option), logging off; Put is one db.Update, a batch one read-write txn, " +
			"reads in db.View; iterators without value prefetch (values are inline); compaction is db.Flatten",
		Open: openBadger,
	}
}

type badgerStore struct {
	db *badger.DB
}

func openBadger(dir string, o bench.OpenOptions) (bench.Store, error) {
	opts := badger.DefaultOptions(dir)
	opts.BlockCacheSize = o.CacheBytes
	opts.SyncWrites = o.Sync
	opts.Logger = nil
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("engines/badger: %w", err)
	}
	return &badgerStore{db: db}, nil
}

func (s *badgerStore) Put(key, value []byte) error {
	// Txn.Set keeps references until the commit, which db.Update performs
	// before returning, so no copy is needed here.
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

func (s *badgerStore) Get(key, dst []byte) ([]byte, bool, error) {
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		// ValueCopy would overwrite dst; the contract is to append.
		return item.Value(func(v []byte) error {
			dst = append(dst, v...)
			found = true
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return dst, false, nil
	}
	return dst, found, err
}

func (s *badgerStore) NewBatch() bench.Batch {
	return &badgerBatch{txn: s.db.NewTransaction(true)}
}

// badgerBatch is one read-write transaction: atomic, like every other
// engine's batch. (badger.WriteBatch would split and commit asynchronously,
// which is not the atomic unit the workload measures.)
type badgerBatch struct {
	txn *badger.Txn
}

// Put copies key and value: Txn.Set keeps references until Commit, and the
// harness reuses its key buffer.
func (b *badgerBatch) Put(key, value []byte) error {
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	return b.txn.Set(kv[:len(key):len(key)], kv[len(key):])
}

func (b *badgerBatch) Commit() error {
	defer b.txn.Discard()
	return b.txn.Commit()
}

func (s *badgerStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		if start == nil {
			it.Rewind()
		} else {
			it.Seek(start)
		}
		for ; it.Valid() && (limit <= 0 || n < limit); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { fn(item.Key(), v); return nil }); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Compact flattens the LSM tree into one level, Badger's manual full
// compaction. Values live in the tree, so there is no value log to GC.
func (s *badgerStore) Compact() error { return s.db.Flatten(2) }

func (s *badgerStore) Close() error { return s.db.Close() }
