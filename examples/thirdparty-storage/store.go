package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/syndtr/goleveldb/leveldb"
	leveldberrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/ordered"
)

// Store is an ordered.Store over a goleveldb database.
//
// Writes go to leveldb's journal without an fsync; Sync makes them durable
// by writing one synced batch, which fsyncs the journal and so every write
// before it. The batch deletes the empty key, which the adapter never
// writes (its keys are never empty), so it changes nothing visible.
type Store struct {
	db  *leveldb.DB
	dir string
}

var (
	_ ordered.Store             = (*Store)(nil)
	_ ordered.Sizer             = (*Store)(nil)
	_ ordered.SnapshotIterators = (*Store)(nil)
	_ ordered.RangeCompacter    = (*Store)(nil)
)

// OpenStore opens (creating it when missing) the leveldb database in dir.
func OpenStore(dir string) (*Store, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		// Lightning compresses above the engine when it wants to; values
		// here are mostly small.
		Compression: opt.NoCompression,
	})
	if err != nil {
		if leveldberrors.IsCorrupted(err) {
			return nil, fmt.Errorf("leveldb: open %s: %v: %w", dir, err, interfaces.ErrCorrupt)
		}
		return nil, fmt.Errorf("leveldb: open %s: %w", dir, err)
	}
	return &Store{db: db, dir: dir}, nil
}

// Write applies ops in one leveldb batch, which is atomic.
func (s *Store) Write(ops []ordered.Op) error {
	var b leveldb.Batch
	for _, op := range ops {
		if op.Delete {
			b.Delete(op.Key)
		} else {
			b.Put(op.Key, op.Value) // the batch copies
		}
	}
	if err := s.db.Write(&b, nil); err != nil {
		return fmt.Errorf("leveldb: write: %w", err)
	}
	return nil
}

// Get returns a copy of key's value (goleveldb returns its own copy).
func (s *Store) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, interfaces.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("leveldb: get: %w", err)
	}
	return v, nil
}

// NewIterator returns a leveldb iterator, which is a point-in-time view,
// confined to [lower, upper).
func (s *Store) NewIterator(lower, upper []byte) (ordered.StoreIterator, error) {
	return &storeIterator{it: s.db.NewIterator(&util.Range{Start: lower, Limit: upper}, nil)}, nil
}

// syncKey is what Sync deletes: the empty key, which the adapter never
// writes.
var syncKey = []byte{}

// Sync fsyncs leveldb's journal with a synced batch.
func (s *Store) Sync() error {
	var b leveldb.Batch
	b.Delete(syncKey)
	if err := s.db.Write(&b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("leveldb: sync: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Size reports the bytes of leveldb's files (tables and journal) as disk
// use; leveldb does not expose its memtable's size.
func (s *Store) Size() (diskBytes, memBytes int64, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, 0, fmt.Errorf("leveldb: size: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			diskBytes += info.Size()
		}
	}
	return diskBytes, 0, nil
}

// IteratorsAreSnapshots reports that leveldb iterators see the database as
// it was when they were made.
func (s *Store) IteratorsAreSnapshots() bool { return true }

// CompactRange compacts [lower, upper) with leveldb's own compaction.
func (s *Store) CompactRange(lower, upper []byte) error {
	return s.db.CompactRange(util.Range{Start: lower, Limit: upper})
}

// storeIterator adapts a leveldb iterator to ordered.StoreIterator.
type storeIterator struct {
	it iterator.Iterator
}

func (i *storeIterator) SeekGE(key []byte) bool { return i.it.Seek(key) }

func (i *storeIterator) SeekLT(key []byte) bool {
	if i.it.Seek(key) {
		return i.it.Prev()
	}
	if i.it.Error() != nil {
		return false
	}
	return i.it.Last()
}

func (i *storeIterator) First() bool   { return i.it.First() }
func (i *storeIterator) Last() bool    { return i.it.Last() }
func (i *storeIterator) Next() bool    { return i.it.Next() }
func (i *storeIterator) Prev() bool    { return i.it.Prev() }
func (i *storeIterator) Key() []byte   { return i.it.Key() }
func (i *storeIterator) Value() []byte { return i.it.Value() }
func (i *storeIterator) Err() error    { return i.it.Error() }

func (i *storeIterator) Close() error {
	i.it.Release()
	return i.it.Error()
}
