package cachewarm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/interfaces/cachewarm"
	"github.com/lightningdb/lightning/vfs"
)

func hotKeys(n int) []interfaces.CacheKey {
	keys := make([]interfaces.CacheKey, n)
	for i := range keys {
		keys[i] = interfaces.CacheKey{Namespace: 0xfeedface, File: uint64(i / 7), Offset: uint64(i) * 4096}
	}
	return keys
}

func TestEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 2, 1000} {
		keys := hotKeys(n)
		data, err := cachewarm.Append(nil, keys)
		require.NoError(t, err)
		require.Len(t, data, 20+24*n)
		got, err := cachewarm.Decode(data)
		require.NoError(t, err)
		require.Equal(t, len(keys), len(got))
		if n > 0 {
			require.Equal(t, keys, got)
		}
	}
	// Appending keeps what dst held.
	data, err := cachewarm.Append([]byte("prefix"), hotKeys(3))
	require.NoError(t, err)
	require.Equal(t, "prefix", string(data[:6]))
	got, err := cachewarm.Decode(data[6:])
	require.NoError(t, err)
	require.Equal(t, hotKeys(3), got)
}

// TestLayout pins the format of doc.go byte by byte.
func TestLayout(t *testing.T) {
	data, err := cachewarm.Append(nil, []interfaces.CacheKey{{Namespace: 1, File: 2, Offset: 3}})
	require.NoError(t, err)
	want := []byte("LTNGHOTK")
	want = append(want, 1, 0, 0, 0, 1, 0, 0, 0)
	want = append(want, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	require.Equal(t, want, data)
}

// reseal recomputes the trailing checksum of a hot-key file, so that a
// test can change a field and reach the checks behind the checksum.
func reseal(data []byte) []byte {
	body := len(data) - 4
	binary.LittleEndian.PutUint32(data[body:], crc32.Checksum(data[:body], crc32.MakeTable(crc32.Castagnoli)))
	return data
}

func TestDamage(t *testing.T) {
	good, err := cachewarm.Append(nil, hotKeys(5))
	require.NoError(t, err)
	corrupt := func(name string, data []byte, offset int64) {
		t.Helper()
		_, err := cachewarm.Decode(data)
		var ce *interfaces.CorruptionError
		require.ErrorAs(t, err, &ce, name)
		require.ErrorIs(t, err, interfaces.ErrCorrupt, name)
		require.Equal(t, offset, ce.Offset, name)
	}
	// Every single flipped bit is caught.
	for i := range good {
		for bit := range 8 {
			d := bytes.Clone(good)
			d[i] ^= 1 << bit
			_, err := cachewarm.Decode(d)
			require.True(t, interfaces.IsCorruption(err), "byte %d bit %d: %v", i, bit, err)
		}
	}
	// Every truncation and extension is caught.
	for n := range len(good) {
		_, err := cachewarm.Decode(good[:n])
		require.True(t, interfaces.IsCorruption(err), "truncated to %d: %v", n, err)
	}
	_, err = cachewarm.Decode(append(bytes.Clone(good), 0))
	require.True(t, interfaces.IsCorruption(err))

	corrupt("empty", nil, 0)
	corrupt("short", good[:19], 0)
	d := bytes.Clone(good)
	d[0] = 'X'
	corrupt("magic", d, 0)
	d = bytes.Clone(good)
	d[30] ^= 1
	corrupt("checksum", d, int64(len(d)-4))
	d = bytes.Clone(good)
	binary.LittleEndian.PutUint16(d[10:], 1)
	corrupt("reserved", reseal(d), 10)
	d = bytes.Clone(good)
	binary.LittleEndian.PutUint32(d[12:], 6)
	corrupt("count above the keys", reseal(d), 12)
	d = bytes.Clone(good)
	binary.LittleEndian.PutUint32(d[12:], 0xffffffff)
	corrupt("huge count", reseal(d), 12)
	d = reseal(append(bytes.Clone(good), make([]byte, 10)...))
	corrupt("a partial key", d, 12)

	// Another version, intact: incompatible, not corrupt.
	d = bytes.Clone(good)
	binary.LittleEndian.PutUint16(d[8:], 2)
	_, err = cachewarm.Decode(reseal(d))
	require.ErrorIs(t, err, interfaces.ErrIncompatible)
	require.False(t, interfaces.IsCorruption(err))
}

func TestTooMany(t *testing.T) {
	_, err := cachewarm.Append(nil, make([]interfaces.CacheKey, cachewarm.MaxKeys+1))
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}

func TestWriteLoad(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("db", 0o755))
	require.NoError(t, mem.SyncDir("."))
	_, err := cachewarm.Load(mem, "db/HOTKEYS")
	require.ErrorIs(t, err, fs.ErrNotExist, "no file: nothing to warm")

	keys := hotKeys(100)
	require.NoError(t, cachewarm.Write(mem, "db/HOTKEYS", keys))
	got, err := cachewarm.Load(mem, "db/HOTKEYS")
	require.NoError(t, err)
	require.Equal(t, keys, got)
	names, err := mem.List("db")
	require.NoError(t, err)
	require.Equal(t, []string{"HOTKEYS"}, names, "no temporary file is left")

	// The file survives a crash that keeps nothing unsynced.
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	got, err = cachewarm.Load(crashed, "db/HOTKEYS")
	require.NoError(t, err)
	require.Equal(t, keys, got)

	// A second write replaces the first.
	require.NoError(t, cachewarm.Write(mem, "db/HOTKEYS", keys[:3]))
	got, err = cachewarm.Load(mem, "db/HOTKEYS")
	require.NoError(t, err)
	require.Equal(t, keys[:3], got)

	// Damage on disk is reported with the file's name.
	f, err := mem.OpenReadWrite("db/HOTKEYS")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, 30)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = cachewarm.Load(mem, "db/HOTKEYS")
	var ce *interfaces.CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "db/HOTKEYS", ce.File)
}

// TestWriteFailures: whichever step fails, the old file is intact
// and no temporary file stays behind.
func TestWriteFailures(t *testing.T) {
	old := hotKeys(10)
	for _, kind := range []vfs.OpKind{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpClose, vfs.OpRename, vfs.OpSyncDir} {
		t.Run(kind.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			require.NoError(t, cachewarm.Write(mem, "HOTKEYS", old))
			efs := vfs.NewErrorFS(mem, vfs.FailNth(1, kind, "", true))
			err := cachewarm.Write(efs, "HOTKEYS", hotKeys(20))
			require.ErrorIs(t, err, vfs.ErrInjected)
			got, err := cachewarm.Load(mem, "HOTKEYS")
			require.NoError(t, err)
			if kind == vfs.OpSyncDir {
				// The rename happened; only its durability is in doubt.
				require.Equal(t, hotKeys(20), got)
			} else {
				require.Equal(t, old, got)
			}
			names, err := mem.List(".")
			require.NoError(t, err)
			require.Equal(t, []string{"HOTKEYS"}, names)
		})
	}
}

// TestSave: a cache shared by three databases; each saves exactly its own
// hot keys, hottest first, and warms a new cache from them.
func TestSave(t *testing.T) {
	c := newLRUCache(1 << 20)
	key := func(ns, i uint64) interfaces.CacheKey {
		return interfaces.CacheKey{Namespace: ns, File: i / 7, Offset: i * 4096}
	}
	for i := uint64(0); i < 50; i++ {
		for _, ns := range []uint64{1, 2, 3} {
			c.Set(key(ns, i), []byte("v"), 100)
		}
	}
	for i := uint64(0); i < 10; i++ { // namespace 1's ten hottest
		c.Get(key(1, i))
	}
	for i := uint64(0); i < 50; i++ { // the other namespaces are hotter still
		c.Get(key(2, i))
		c.Get(key(3, i))
	}
	mem := vfs.NewMem()
	require.NoError(t, cachewarm.Save(mem, "HOTKEYS", c, 1, 30))
	got, err := cachewarm.Load(mem, "HOTKEYS")
	require.NoError(t, err)
	want, err := c.HotKeys(1, 30)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Len(t, got, 30)
	for _, k := range got {
		require.Equal(t, uint64(1), k.Namespace)
	}
	var hottest []interfaces.CacheKey
	for i := uint64(0); i < 10; i++ {
		hottest = append(hottest, key(1, i))
	}
	require.ElementsMatch(t, hottest, got[:10], "the ten keys read come first")

	// Warm a new cache under a new namespace, as an engine does after a
	// restart: coldest first, so the hottest end up most recently used.
	warm := newLRUCache(1 << 20)
	for i := len(got) - 1; i >= 0; i-- {
		k := got[i]
		k.Namespace = 99
		warm.Set(k, []byte("v"), 100)
	}
	again, err := warm.HotKeys(99, 30)
	require.NoError(t, err)
	for i, k := range again {
		require.Equal(t, got[i].File, k.File)
		require.Equal(t, got[i].Offset, k.Offset)
	}

	// Limits: none, fewer than present, more than present, above MaxKeys.
	for _, tc := range []struct{ limit, want int }{{-5, 0}, {0, 0}, {1, 1}, {50, 50}, {1000, 50}, {cachewarm.MaxKeys + 1, 50}} {
		require.NoError(t, cachewarm.Save(mem, "HOTKEYS", c, 2, tc.limit))
		got, err := cachewarm.Load(mem, "HOTKEYS")
		require.NoError(t, err)
		require.Len(t, got, tc.want, "limit %d", tc.limit)
	}
	// An unused namespace saves an empty file.
	require.NoError(t, cachewarm.Save(mem, "HOTKEYS", c, 4, 10))
	got, err = cachewarm.Load(mem, "HOTKEYS")
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestSaveFailures: a cache that cannot list its keys leaves the old file
// as it was, and says why.
func TestSaveFailures(t *testing.T) {
	mem := vfs.NewMem()
	old := hotKeys(5)
	require.NoError(t, cachewarm.Write(mem, "HOTKEYS", old))

	c := newLRUCache(1 << 20)
	c.Set(interfaces.CacheKey{Namespace: 1}, []byte("v"), 1)
	require.NoError(t, c.Close())
	require.ErrorIs(t, cachewarm.Save(mem, "HOTKEYS", c, 1, 10), interfaces.ErrClosed)

	unsupported := rogueCache{lruCache: newLRUCache(100), err: fmt.Errorf("no: %w", interfaces.ErrUnsupported)}
	require.ErrorIs(t, cachewarm.Save(mem, "HOTKEYS", unsupported, 1, 10), interfaces.ErrUnsupported)

	got, err := cachewarm.Load(mem, "HOTKEYS")
	require.NoError(t, err)
	require.Equal(t, old, got)
	names, err := mem.List(".")
	require.NoError(t, err)
	require.Equal(t, []string{"HOTKEYS"}, names)
}

// TestSaveDropsForeignKeys: keys a broken cache should not have returned
// (another namespace, past the limit) stay out of the file.
func TestSaveDropsForeignKeys(t *testing.T) {
	keys := []interfaces.CacheKey{
		{Namespace: 1, File: 1}, {Namespace: 2, File: 2}, {Namespace: 1, File: 3},
		{Namespace: 0, File: 4}, {Namespace: 1, File: 5}, {Namespace: 1, File: 6},
	}
	c := rogueCache{lruCache: newLRUCache(100), keys: keys}
	mem := vfs.NewMem()
	require.NoError(t, cachewarm.Save(mem, "HOTKEYS", c, 1, 3))
	got, err := cachewarm.Load(mem, "HOTKEYS")
	require.NoError(t, err)
	require.Equal(t, []interfaces.CacheKey{{Namespace: 1, File: 1}, {Namespace: 1, File: 3}, {Namespace: 1, File: 5}}, got)
}

// TestFileSystems: the vfs file systems are FS as they are, whether held
// as the vfs.FS interface or as their own types (F is inferred).
func TestFileSystems(t *testing.T) {
	var _ cachewarm.FS[vfs.File] = vfs.FS(nil)
	var _ cachewarm.FS[vfs.File] = vfs.NewMem()
	mem := vfs.NewMem()
	for name, fs := range map[string]vfs.FS{
		"vfs.FS":  mem,
		"errorfs": vfs.NewErrorFS(mem, vfs.FailNth(1000, vfs.OpWrite, "", true)),
		"os":      vfs.Default,
	} {
		t.Run(name, func(t *testing.T) {
			path := "HOTKEYS-" + name
			if name == "os" {
				path = filepath.Join(t.TempDir(), "HOTKEYS")
			}
			require.NoError(t, cachewarm.Write(fs, path, hotKeys(3)))
			got, err := cachewarm.Load(fs, path)
			require.NoError(t, err)
			require.Equal(t, hotKeys(3), got)
		})
	}
	require.NoError(t, cachewarm.Write(mem, "direct", hotKeys(2))) // *vfs.MemFS
	got, err := cachewarm.Load(mem, "direct")
	require.NoError(t, err)
	require.Equal(t, hotKeys(2), got)
}

// TestRoundTripRapid: any key list encodes to 20+24n bytes and decodes
// back to itself.
func TestRoundTripRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		key := rapid.Custom(func(rt *rapid.T) interfaces.CacheKey {
			return interfaces.CacheKey{
				Namespace: rapid.Uint64().Draw(rt, "ns"),
				File:      rapid.Uint64().Draw(rt, "file"),
				Offset:    rapid.Uint64().Draw(rt, "offset"),
			}
		})
		keys := rapid.SliceOfN(key, 0, 200).Draw(rt, "keys")
		data, err := cachewarm.Append(nil, keys)
		require.NoError(rt, err)
		require.Len(rt, data, 20+24*len(keys))
		got, err := cachewarm.Decode(data)
		require.NoError(rt, err)
		require.Len(rt, got, len(keys))
		for i := range keys {
			require.Equal(rt, keys[i], got[i])
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		data, err := cachewarm.Append(nil, hotKeys(n))
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)-1])
		bad := bytes.Clone(data)
		bad[len(bad)/2] ^= 0x40
		f.Add(bad)
	}
	v2, _ := cachewarm.Append(nil, hotKeys(2))
	binary.LittleEndian.PutUint16(v2[8:], 9)
	f.Add(reseal(v2))
	huge, _ := cachewarm.Append(nil, nil)
	binary.LittleEndian.PutUint32(huge[12:], 1<<31)
	f.Add(reseal(huge))
	f.Add([]byte{})
	f.Add([]byte("LTNGHOTK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := cachewarm.Decode(data)
		if err != nil {
			if !interfaces.IsCorruption(err) && !errors.Is(err, interfaces.ErrIncompatible) {
				t.Fatalf("an error that is neither corruption nor incompatibility: %v", err)
			}
			if keys != nil {
				t.Fatalf("keys returned with an error")
			}
			return
		}
		// What decodes re-encodes to the same bytes: the format has one
		// encoding per key list.
		again, err := cachewarm.Append(nil, keys)
		if err != nil {
			t.Fatalf("re-encoding %d decoded keys: %v", len(keys), err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decoded %d keys that re-encode differently", len(keys))
		}
	})
}
