package lightning_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// masterKey returns the 32-byte master key n of these tests.
func masterKey(n int) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "lightning encryption test master key %d", n))
	return sum[:]
}

// diskFiles returns every file under dir on fsys with its bytes.
func diskFiles(t testing.TB, fsys vfs.FS, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(string)
	walk = func(d string) {
		names, err := fsys.List(d)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		require.NoError(t, err)
		for _, n := range names {
			p := filepath.Join(d, n)
			fi, err := fsys.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			}
			require.NoError(t, err)
			if fi.IsDir() {
				walk(p)
				continue
			}
			f, err := fsys.Open(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			require.NoError(t, err)
			b := make([]byte, fi.Size())
			if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
				require.NoError(t, err)
			}
			require.NoError(t, f.Close())
			out[p] = b
		}
	}
	walk(dir)
	return out
}

// plaintextKey and plaintextValue are the known plaintext the
// everything-is-sealed test looks for on disk.
func plaintextKey(i int) []byte { return fmt.Appendf(nil, "PLAINTEXT-KEY-%05d", i) }

func plaintextValue(i int) []byte {
	return fmt.Appendf(nil, "PLAINTEXT-VALUE-%05d-%s", i, strings.Repeat("secret ", 1+i%40))
}

// markers are the strings no byte of an encrypted database may hold.
var markers = [][]byte{[]byte("PLAINTEXT-KEY-"), []byte("PLAINTEXT-VALUE-"), []byte("secret secret")}

// leaks returns "file: marker" for every marker found in files.
func leaks(files map[string][]byte) []string {
	var out []string
	for name, b := range files {
		for _, m := range markers {
			if bytes.Contains(b, m) {
				out = append(out, name+": "+string(m))
			}
		}
	}
	slices.Sort(out)
	return out
}

// writePlaintext writes n known keys and values: single puts and batches
// (some above the WAL compression threshold).
func writePlaintext(t *testing.T, db *lightning.DB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			b := db.NewBatch()
			for j := i; j < i+10 && j < n; j++ {
				require.NoError(t, b.Put(plaintextKey(j), plaintextValue(j)))
			}
			require.NoError(t, db.Apply(b))
		}
	}
	big := bytes.Repeat([]byte("PLAINTEXT-VALUE-big "), 1<<10)
	require.NoError(t, db.Put(plaintextKey(n), big))
}

func requirePlaintext(t *testing.T, db *lightning.DB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		v, err := db.Get(plaintextKey(i))
		require.NoError(t, err, "key %d", i)
		require.Equal(t, plaintextValue(i), v, "key %d", i)
	}
}

// TestEncryptionLeavesNoPlaintextOnDisk writes known keys and values
// through every engine with encryption on, and scans every byte of every
// file under the directory: in the WAL-only state, after flush and
// compaction, and after Close. None of the plaintext may appear. The same
// workload without encryption shows the scan finds it (so the test can
// fail).
func TestEncryptionLeavesNoPlaintextOnDisk(t *testing.T) {
	const n = 400
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			for _, codec := range []string{"none", lightning.DefaultCodec} {
				t.Run(codec, func(t *testing.T) {
					// Control: unencrypted, the markers are there.
					plain := vfs.NewMem()
					db, err := lightning.Open("db", lightning.WithFS(plain), lightning.WithEngine(engine), lightning.WithCodec(codec))
					require.NoError(t, err)
					writePlaintext(t, db, n)
					require.NoError(t, db.Flush())
					require.NoError(t, db.Close())
					require.NotEmpty(t, leaks(diskFiles(t, plain, "/")), "the scan finds nothing in a plaintext database")

					mem := vfs.NewMem()
					open := func() *lightning.DB {
						db, err := lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine), lightning.WithCodec(codec),
							lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))
						require.NoError(t, err)
						return db
					}
					db = open()
					writePlaintext(t, db, n)
					require.Empty(t, leaks(diskFiles(t, mem, "/")), "WAL-only state")
					require.NoError(t, db.Flush())
					require.Empty(t, leaks(diskFiles(t, mem, "/")), "after flush")
					if err := db.Compact(nil, nil); !errors.Is(err, interfaces.ErrUnsupported) {
						require.NoError(t, err)
					}
					require.NoError(t, db.Close())
					files := diskFiles(t, mem, "/")
					require.Empty(t, leaks(files), "after close")
					require.Contains(t, files, "/db/KEYS")

					db = open()
					requirePlaintext(t, db, n)
					require.NoError(t, db.Check())
					require.NoError(t, db.Close())
					require.Empty(t, leaks(diskFiles(t, mem, "/")), "after reopen")
				})
			}
		})
	}
}

// TestEncryptionWrongOrMissingKey: a wrong master key, no key at all, or a
// missing key registry fail Open with ErrKeyMismatch before any file is
// touched; a key for an unencrypted database fails with ErrIncompatible,
// and creates no registry.
func TestEncryptionWrongOrMissingKey(t *testing.T) {
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			mem := vfs.NewMem()
			opts := func(extra ...lightning.Option) []lightning.Option {
				return append([]lightning.Option{lightning.WithFS(mem), lightning.WithEngine(engine)}, extra...)
			}
			db, err := lightning.Open("db", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))...)
			require.NoError(t, err)
			writePlaintext(t, db, 50)
			require.NoError(t, db.Close())
			before := diskFiles(t, mem, "/")

			_, err = lightning.Open("db", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(2))))...)
			require.ErrorIs(t, err, lightning.ErrKeyMismatch)
			require.Equal(t, before, diskFiles(t, mem, "/"), "a wrong master key changed files")

			_, err = lightning.Open("db", opts()...)
			require.ErrorIs(t, err, lightning.ErrKeyMismatch)
			require.Equal(t, before, diskFiles(t, mem, "/"), "opening without a key changed files")

			// A raw-key cipher of the right name but not the registry's keys.
			raw, err := aesgcm.New(masterKey(1))
			require.NoError(t, err)
			_, err = lightning.Open("db", opts(lightning.WithCipher(raw))...)
			require.ErrorIs(t, err, lightning.ErrKeyMismatch)
			require.Equal(t, before, diskFiles(t, mem, "/"))

			// The registry gone: the key check names a key nobody holds.
			require.NoError(t, mem.Rename("db/KEYS", "KEYS.saved"))
			_, err = lightning.Open("db", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))...)
			require.ErrorIs(t, err, lightning.ErrKeyMismatch)
			_, err = mem.Stat("db/KEYS")
			require.ErrorIs(t, err, fs.ErrNotExist, "a new registry was written over the missing one")
			require.NoError(t, mem.Rename("KEYS.saved", "db/KEYS"))
			require.Equal(t, before, diskFiles(t, mem, "/db"))

			db, err = lightning.Open("db", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))...)
			require.NoError(t, err)
			requirePlaintext(t, db, 50)
			require.NoError(t, db.Close())

			// A master key for a database made without encryption.
			require.NoError(t, mem.MkdirAll("plain", 0o755))
			db, err = lightning.Open("plain", opts()...)
			require.NoError(t, err)
			require.NoError(t, db.Put([]byte("k"), []byte("v")))
			require.NoError(t, db.Close())
			_, err = lightning.Open("plain", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))...)
			require.ErrorIs(t, err, lightning.ErrIncompatible)
			_, err = mem.Stat("plain/KEYS")
			require.ErrorIs(t, err, fs.ErrNotExist)

			_, err = lightning.Open("other", opts(lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))), lightning.WithCipher(raw))...)
			require.ErrorIs(t, err, lightning.ErrInvalidArgument)
		})
	}
}

// TestEncryptionOnlineRotation rotates the data key and the master key
// while writers run: nothing fails, the old master key no longer opens
// the database, the new one opens everything.
func TestEncryptionOnlineRotation(t *testing.T) {
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			mem := vfs.NewMem()
			db, err := lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine),
				lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))
			require.NoError(t, err)
			keys := lightning.KeyRegistry(db)
			require.NotNil(t, keys)
			var (
				wg      sync.WaitGroup
				stop    atomic.Bool
				written atomic.Int64
			)
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						k := fmt.Appendf(nil, "w%d/%06d", g, i)
						if err := db.Put(k, k); err != nil {
							t.Errorf("put: %v", err)
							return
						}
						if i%50 == 0 {
							if err := db.Flush(); err != nil {
								t.Errorf("flush: %v", err)
								return
							}
						}
						written.Add(1)
					}
				}()
			}
			waitFor := func(n int64) {
				for written.Load() < n && !t.Failed() {
					time.Sleep(time.Millisecond)
				}
			}
			waitFor(200)
			id, err := keys.RotateDataKey()
			require.NoError(t, err)
			require.Equal(t, aesgcm.KeyID(2), id)
			waitFor(400)
			require.NoError(t, keys.RotateMaster(aesgcm.StaticKey(masterKey(2))))
			waitFor(600)
			stop.Store(true)
			wg.Wait()
			st, err := keys.Status()
			require.NoError(t, err)
			require.Equal(t, aesgcm.KeyID(2), st.Current)
			require.NoError(t, db.Close())

			_, err = lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine),
				lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))
			require.ErrorIs(t, err, lightning.ErrKeyMismatch)
			db, err = lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine),
				lightning.WithMasterKey(aesgcm.StaticKey(masterKey(2))))
			require.NoError(t, err)
			defer db.Close()
			n := 0
			it, err := db.NewIterator(lightning.IterOptions{})
			require.NoError(t, err)
			for ok := it.First(); ok; ok = it.Next() {
				require.Equal(t, it.Key(), it.Value())
				n++
			}
			require.NoError(t, it.Close())
			require.Equal(t, int(written.Load()), n)
		})
	}
}

// TestEncryptionLimitForcesRotation: a tiny per-key limit moves a busy
// database through many data keys; none passes the limit, and everything
// reads back after a reopen.
func TestEncryptionLimitForcesRotation(t *testing.T) {
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			mem := vfs.NewMem()
			enc := lightning.WithEncryption(aesgcm.Options{Master: aesgcm.StaticKey(masterKey(1)), MaxEncryptionsPerKey: 64, ReserveChunk: 16})
			db, err := lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine), enc)
			require.NoError(t, err)
			writePlaintext(t, db, 600)
			for i := range 600 {
				require.NoError(t, db.Put(plaintextKey(i), plaintextValue(i)))
				if i%100 == 0 {
					require.NoError(t, db.Flush())
				}
			}
			require.NoError(t, db.Flush())
			st, err := lightning.KeyRegistry(db).Status()
			require.NoError(t, err)
			require.Greater(t, len(st.Keys), 3, "the limit forced no rotation")
			for _, k := range st.Keys {
				require.LessOrEqual(t, k.Reserved, uint64(64), "key %d", k.ID)
			}
			require.NoError(t, db.Close())
			db, err = lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine(engine), enc)
			require.NoError(t, err)
			defer db.Close()
			requirePlaintext(t, db, 600)
		})
	}
}

// TestEncryptionCompactionReencrypts: after a data-key rotation, a
// compaction that rewrites the LSM's tables writes them under the new key,
// so the old key appears in no table; once the WAL and manifest have moved
// on too, Prune removes it, and everything still reads. (A compaction
// that only moves a table to another level does not rewrite it: the
// table keeps its key until it is rewritten, and KeysInUse keeps the key.)
func TestEncryptionCompactionReencrypts(t *testing.T) {
	mem := vfs.NewMem()
	open := func() *lightning.DB {
		db, err := lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine("lsm"),
			lightning.WithEncryption(aesgcm.Options{Master: aesgcm.StaticKey(masterKey(1)), PruneGrace: -1}))
		require.NoError(t, err)
		return db
	}
	db := open()
	keys := lightning.KeyRegistry(db)
	// Key 1 seals the identity file's key check; data goes under key 2.
	_, err := keys.RotateDataKey()
	require.NoError(t, err)
	writePlaintext(t, db, 500)
	require.NoError(t, db.Flush())
	require.Equal(t, []aesgcm.KeyID{2}, tableKeys(t, keys, mem), "tables before the rotation")

	// Under key 3, overwrite every key: the new tables overlap every old
	// one, so compaction merges them all into tables sealed by key 3.
	_, err = keys.RotateDataKey()
	require.NoError(t, err)
	for i := 0; i <= 500; i++ {
		require.NoError(t, db.Put(plaintextKey(i), plaintextValue(i)))
	}
	require.NoError(t, db.Flush())
	require.Equal(t, []aesgcm.KeyID{2, 3}, tableKeys(t, keys, mem), "tables before compaction")
	require.NoError(t, db.Compact(nil, nil))
	// The compacted tables' files go in the background.
	assertEventually(t, func() bool { return slices.Equal([]aesgcm.KeyID{3}, tableKeys(t, keys, mem)) },
		10*time.Second, time.Millisecond, "a table is still sealed by key 2 after compaction")
	if t.Failed() {
		t.Log(mem.String())
		for name, b := range diskFiles(t, mem, "db/engine") {
			id, _ := aesgcm.KeyIDOf(b)
			t.Logf("%s: %d bytes, first block key %d", name, len(b), id)
		}
		t.FailNow()
	}
	requirePlaintext(t, db, 500)

	// Reopen twice, writing and flushing in between: new manifests and WAL
	// segments, under key 3.
	for range 2 {
		require.NoError(t, db.Close())
		db = open()
		require.NoError(t, db.Put([]byte("after"), []byte("rotation")))
		require.NoError(t, db.Flush())
	}
	keys = lightning.KeyRegistry(db)
	inUse, err := keys.KeysInUse(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{1, 3}, inUse)
	removed, err := keys.Prune(mem, "db")
	require.NoError(t, err)
	require.Equal(t, []aesgcm.KeyID{2}, removed)
	requirePlaintext(t, db, 500)
	require.NoError(t, db.Close())
	db = open()
	defer db.Close()
	requirePlaintext(t, db, 500)
	require.NoError(t, db.Check())
}

// tableKeys returns the keys that seal the LSM's tables.
func tableKeys(t *testing.T, keys *aesgcm.Cipher, mem *vfs.MemFS) []aesgcm.KeyID {
	t.Helper()
	only := vfs.NewMem()
	require.NoError(t, only.MkdirAll("sst", 0o755))
	for name, b := range diskFiles(t, mem, "db/engine") {
		if strings.HasSuffix(name, ".sst") {
			f, err := only.Create(filepath.Join("sst", filepath.Base(name)))
			require.NoError(t, err)
			_, err = f.Write(b)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
	}
	ids, err := keys.KeysInUse(only, "sst")
	require.NoError(t, err)
	return ids
}

// TestEncryptionSwappedBlocks moves sealed LSM blocks on disk, with their
// checksummed trailers, so only the cipher's additional data (the table's
// file number and the block's offset) can tell: a block swapped with
// another in its table, and a block copied from another table, both fail
// to read as corruption caused by ErrDecrypt.
func TestEncryptionSwappedBlocks(t *testing.T) {
	mem := vfs.NewMem()
	open := func() *lightning.DB {
		db, err := lightning.Open("db", lightning.WithFS(mem), lightning.WithEngine("lsm"), lightning.WithCodec("none"),
			lightning.WithMasterKey(aesgcm.StaticKey(masterKey(1))))
		require.NoError(t, err)
		return db
	}
	// Values larger than a block: one entry per data block, so every data
	// block of both tables has the same length.
	value := func(table, i int) []byte { return bytes.Repeat([]byte{byte(table), byte(i)}, 4<<10) }
	db := open()
	for table := range 2 {
		for i := range 8 {
			require.NoError(t, db.Put(fmt.Appendf(nil, "t%d/k%02d", table, i), value(table, i)))
		}
		require.NoError(t, db.Flush())
	}
	require.NoError(t, db.Close())
	var tables []string
	for name := range diskFiles(t, mem, "db/engine") {
		if strings.HasSuffix(name, ".sst") {
			tables = append(tables, name)
		}
	}
	slices.Sort(tables)
	require.Len(t, tables, 2)
	files := diskFiles(t, mem, "db/engine")
	a, b := files[tables[0]], files[tables[1]]
	blockLen := sealedBlockLen(t, a)
	require.Equal(t, blockLen, sealedBlockLen(t, b))
	save := func(path string, data []byte) {
		f, err := mem.Create(path)
		require.NoError(t, err)
		_, err = f.Write(data)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	readErr := func(key string) error {
		db := open()
		defer db.Close()
		_, err := db.Get([]byte(key))
		return err
	}
	require.NoError(t, readErr("t0/k00"))

	// Within a table: blocks 0 and 1 trade places.
	swapped := bytes.Clone(a)
	copy(swapped[:blockLen], a[blockLen:2*blockLen])
	copy(swapped[blockLen:2*blockLen], a[:blockLen])
	save(tables[0], swapped)
	for _, k := range []string{"t0/k00", "t0/k01"} {
		err := readErr(k)
		require.True(t, lightning.IsCorruption(err), "%s: %v", k, err)
		require.ErrorIs(t, err, interfaces.ErrDecrypt, k)
	}
	save(tables[0], a)
	require.NoError(t, readErr("t0/k01"))

	// Between tables: block 0 of the first table over block 0 of the
	// second.
	moved := bytes.Clone(b)
	copy(moved[:blockLen], a[:blockLen])
	save(tables[1], moved)
	err := readErr("t1/k00")
	require.True(t, lightning.IsCorruption(err), "%v", err)
	require.ErrorIs(t, err, interfaces.ErrDecrypt)
	require.NoError(t, readErr("t0/k00"))
}

// sealedBlockLen finds the length of the first data block of a sealed
// table, trailer included: the distance from the envelope at offset 0 to
// the next one with the same header.
func sealedBlockLen(t *testing.T, table []byte) int {
	t.Helper()
	id, err := aesgcm.KeyIDOf(table)
	require.NoError(t, err)
	hdr := binary.LittleEndian.AppendUint32([]byte{1}, uint32(id))
	require.Equal(t, hdr, table[:5])
	n := bytes.Index(table[1:], hdr) + 1
	require.Positive(t, n)
	require.Equal(t, hdr, table[2*n:2*n+5], "data blocks are not of one length")
	return n
}

func assertEventually(t *testing.T, cond func() bool, wait, tick time.Duration, msg string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Error(msg)
			return
		}
		time.Sleep(tick)
	}
}
