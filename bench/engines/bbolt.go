package engines

import (
	"fmt"
	"path/filepath"

	"github.com/lightningdb/lightning/bench"
	bolt "go.etcd.io/bbolt"
)

// bucketName is the one bucket every key lives in.
var bucketName = []byte("bench")

// Bbolt returns the bbolt entry: DefaultOptions, NoSync when the workload is
// unsynced, one bucket, and db.Batch for synced single writes so that
// concurrent writers share commits, bbolt's documented answer to many small
// concurrent writers.
func Bbolt() bench.Engine {
	return bench.Engine{
		Name:    "bbolt",
		Family:  "bbolt",
		Default: true,
		Settings: "bbolt v1.5.0, bolt.DefaultOptions (array freelist, FillPercent 0.5) with NoSync=true " +
			"for unsynced workloads; no cache of its own (reads go through the OS page cache via mmap, " +
			"so the cache budget does not apply); Put is one db.Update when unsynced and db.Batch when " +
			"synced (coalesces concurrent writers); a batch is one db.Update; no manual compaction",
		Open: openBbolt,
	}
}

type boltStore struct {
	db   *bolt.DB
	sync bool
}

func openBbolt(dir string, o bench.OpenOptions) (bench.Store, error) {
	opts := *bolt.DefaultOptions
	opts.NoSync = !o.Sync
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &opts)
	if err != nil {
		return nil, fmt.Errorf("engines/bbolt: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		return nil, fmt.Errorf("engines/bbolt: create bucket: %w", err)
	}
	return &boltStore{db: db, sync: o.Sync}, nil
}

func (s *boltStore) Put(key, value []byte) error {
	fn := func(tx *bolt.Tx) error { return tx.Bucket(bucketName).Put(key, value) }
	if s.sync {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

func (s *boltStore) Get(key, dst []byte) ([]byte, bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		// The value is valid only inside the transaction: copy it out.
		if v := tx.Bucket(bucketName).Get(key); v != nil {
			dst = append(dst, v...)
			found = true
		}
		return nil
	})
	return dst, found, err
}

func (s *boltStore) NewBatch() bench.Batch { return &boltBatch{db: s.db} }

// boltBatch buffers its writes and applies them in one read-write
// transaction.
type boltBatch struct {
	db   *bolt.DB
	buf  []byte
	ends []int // INVARIANT: ends holds key end, value end pairs into buf.
}

// Put copies key and value into the batch's buffer.
func (b *boltBatch) Put(key, value []byte) error {
	b.buf = append(b.buf, key...)
	b.ends = append(b.ends, len(b.buf))
	b.buf = append(b.buf, value...)
	b.ends = append(b.ends, len(b.buf))
	return nil
}

func (b *boltBatch) Commit() error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketName)
		start := 0
		for i := 0; i < len(b.ends); i += 2 {
			k, v := b.buf[start:b.ends[i]], b.buf[b.ends[i]:b.ends[i+1]]
			if err := bk.Put(k, v); err != nil {
				return err
			}
			start = b.ends[i+1]
		}
		return nil
	})
}

func (s *boltStore) Scan(start []byte, limit int, fn func(k, v []byte)) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		var k, v []byte
		if start == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(start)
		}
		for ; k != nil && (limit <= 0 || n < limit); k, v = c.Next() {
			fn(k, v)
			n++
		}
		return nil
	})
	return n, err
}

// Compact reports that bbolt has no online compaction: freed pages are
// reused in place, and shrinking the file needs an offline copy.
func (s *boltStore) Compact() error { return bench.ErrNoCompaction }

func (s *boltStore) Close() error { return s.db.Close() }
