// Package ordered turns any ordered byte store with a seekable iterator into
// a full interfaces.Storage, so that a third party can put Lightning on
// bbolt, Pebble, goleveldb or a remote service by implementing Store (five
// methods) and StoreIterator (ten, each usually one line), then calling New.
//
// Three optional interfaces let a store do more: Sizer (disk and memory
// use for Stats), RangeCompacter (the store's own compaction, run by
// Storage.Compact) and SnapshotIterators (a promise that iterators are
// point-in-time views, which spares reverse iteration a check per key).
//
// The adapter owns everything a Storage must do beyond keeping ordered
// bytes: the version encoding, visibility at a read ts, stable iterator
// snapshots over stores whose iterators are not, the Flush/DurableTs crash
// contract over stores that persist every Write eagerly, garbage collection
// by the discard ts, Check and Stats. A Storage from New passes
// conformance.TestStorage whenever its Store keeps the Store contract.
//
// # Layout
//
// Each version is one store key, interfaces.AppendVersionKey(user key, ts),
// whose bytewise order is the Storage order, and its value is a kind byte
// (interfaces.KindSet or KindDelete) followed by the user value. Metadata
// (format, durable ts, discard ts, applied ts) lives under keys starting
// 0x00 0x00, which no version key can start with (format.go has the proof
// and the byte layout).
//
// # Crash contract
//
// Apply writes the new applied ts atomically with the versions. Flush syncs,
// writes durable ts = applied ts, and syncs again. New, finding applied ts
// above durable ts (a crash or a Close without Flush), deletes every
// version above the durable ts before serving — a scan of the whole store
// — so the reopened Storage holds exactly the versions up to DurableTs.
// Garbage collection only drops versions shadowed by a durable version,
// drops a tombstone no earlier than the versions it hides, and syncs before
// Compact returns, so a crash never turns a collected key into a lost or a
// resurrected one (compact.go explains each rule).
//
// # Concurrency
//
// All methods are safe for concurrent use, as interfaces.Storage requires:
// Apply calls are serialised, Get and iterators read concurrently with
// them, Flush and Compact each run one at a time. Iterators are used by one
// goroutine at a time.
//
// # Wrapping a store
//
// A bbolt wrapper, in outline (error handling trimmed; bbolt fsyncs every
// Update, so Sync has nothing to do, and a read transaction is a snapshot):
//
//	type boltStore struct{ db *bolt.DB }
//
//	var bucket = []byte("lightning")
//
//	func (s boltStore) Write(ops []ordered.Op) error {
//		return s.db.Update(func(tx *bolt.Tx) error {
//			b, err := tx.CreateBucketIfNotExists(bucket)
//			if err != nil {
//				return err
//			}
//			for _, op := range ops {
//				if op.Delete {
//					err = b.Delete(op.Key)
//				} else {
//					err = b.Put(op.Key, op.Value) // bbolt copies at commit
//				}
//				if err != nil {
//					return err
//				}
//			}
//			return nil
//		})
//	}
//
//	func (s boltStore) Get(key []byte) (v []byte, err error) {
//		err = s.db.View(func(tx *bolt.Tx) error {
//			if b := tx.Bucket(bucket); b != nil {
//				v = bytes.Clone(b.Get(key)) // valid only inside the transaction
//			}
//			if v == nil {
//				return interfaces.ErrNotFound
//			}
//			return nil
//		})
//		return v, err
//	}
//
//	func (s boltStore) NewIterator(lower, upper []byte) (ordered.StoreIterator, error) {
//		tx, err := s.db.Begin(false) // held until the iterator's Close
//		if err != nil {
//			return nil, err
//		}
//		it := &boltIter{tx: tx}
//		if b := tx.Bucket(bucket); b != nil {
//			it.c = b.Cursor()
//		}
//		return it, nil
//	}
//
//	func (s boltStore) Sync() error  { return nil }
//	func (s boltStore) Close() error { return s.db.Close() }
//
//	// Optional: a read transaction is a snapshot, and the file has a size.
//	func (s boltStore) IteratorsAreSnapshots() bool { return true }
//	func (s boltStore) Size() (disk, mem int64, err error) {
//		err = s.db.View(func(tx *bolt.Tx) error { disk = tx.Size(); return nil })
//		return disk, 0, err
//	}
//
//	// boltIter ignores the bounds, which are only hints.
//	type boltIter struct {
//		tx   *bolt.Tx
//		c    *bolt.Cursor // nil while the bucket does not exist
//		k, v []byte
//	}
//
//	func (it *boltIter) set(k, v []byte) bool { it.k, it.v = k, v; return k != nil }
//	func (it *boltIter) SeekGE(key []byte) bool { return it.c != nil && it.set(it.c.Seek(key)) }
//	func (it *boltIter) SeekLT(key []byte) bool {
//		if it.c == nil {
//			return false
//		}
//		if k, _ := it.c.Seek(key); k == nil {
//			return it.set(it.c.Last())
//		}
//		return it.set(it.c.Prev())
//	}
//	func (it *boltIter) First() bool   { return it.c != nil && it.set(it.c.First()) }
//	func (it *boltIter) Last() bool    { return it.c != nil && it.set(it.c.Last()) }
//	func (it *boltIter) Next() bool    { return it.set(it.c.Next()) }
//	func (it *boltIter) Prev() bool    { return it.set(it.c.Prev()) }
//	func (it *boltIter) Key() []byte   { return it.k }
//	func (it *boltIter) Value() []byte { return it.v }
//	func (it *boltIter) Err() error    { return nil }
//	func (it *boltIter) Close() error  { return it.tx.Rollback() }
//
// and then:
//
//	db, err := bolt.Open(path, 0o600, nil)
//	...
//	storage, err := ordered.New(boltStore{db}, ordered.Options{Name: "bbolt"})
//
// Two bbolt caveats apply to any such wrapper: bbolt limits keys to 32 KiB,
// so user keys beyond about 16 KiB (escaped, in the worst case) fail to
// apply; and a bbolt writer that must grow the file waits for open read
// transactions, so iterators left open stall Apply.
//
// MemStore is a complete Store to read alongside this outline, and
// CrashStore a crash-simulating one for tests; run conformance.TestStorage
// against the wrapper to prove it.
package ordered
