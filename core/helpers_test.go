package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/vfs"
)

const testDir = "db"

// memOptions returns options for a DB on the memory engine over fs, with
// background work slowed so that tests control every I/O.
func memOptions(fs vfs.FS) core.Options {
	return core.Options{
		StorageName: "memory",
		Storage: func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{FS: fs})
		},
		FS:         fs,
		Codec:      snappy.New(),
		GCInterval: time.Hour,
	}
}

// lsmOptions is memOptions on the LSM engine.
func lsmOptions(fs vfs.FS) core.Options {
	opts := memOptions(fs)
	opts.StorageName = "lsm"
	opts.Storage = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		return lsm.New(lsm.Options{Dir: dir}, lsm.Deps{FS: fs})
	}
	return opts
}

// openMem opens a fresh DB on a new MemFS and closes it at cleanup.
func openMem(t testing.TB, tune ...func(*core.Options)) (*core.DB, *vfs.MemFS) {
	t.Helper()
	fs := vfs.NewMem()
	opts := memOptions(fs)
	for _, fn := range tune {
		fn(&opts)
	}
	db, err := core.Open(testDir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, fs
}

func key(i int) []byte { return []byte(fmt.Sprintf("key-%06d", i)) }

// scan returns every key and value an iterator visits, in order.
func scan(t testing.TB, it *core.Iterator) (keys, values []string) {
	t.Helper()
	ok := it.First()
	for ; ok; ok = it.Next() {
		keys = append(keys, string(it.Key()))
		values = append(values, string(it.Value()))
	}
	require.NoError(t, it.Err())
	return keys, values
}
