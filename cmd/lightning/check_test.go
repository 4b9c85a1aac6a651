package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

// makeDB creates a database on engine in a new directory with n keys,
// flushed so the engine has files.
func makeDB(t *testing.T, engine string, n int, opts ...lightning.Option) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := lightning.Open(dir, append([]lightning.Option{lightning.WithEngine(engine)}, opts...)...)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key-%05d", i), fmt.Appendf(nil, "value-%05d", i)))
	}
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	return dir
}

func TestCheckHealthy(t *testing.T) {
	for _, engine := range lightning.Engines() {
		t.Run(engine, func(t *testing.T) {
			dir := makeDB(t, engine, 500)
			code, out, errOut := cli("check", "--dir", dir)
			require.Equal(t, 0, code, "%s\n%s", out, errOut)
			require.Contains(t, out, "engine "+engine)
			require.Contains(t, out, "\nok\n")

			code, out, errOut = cli("check", "--dir", dir, "--json")
			require.Equal(t, 0, code, errOut)
			var r checkReport
			require.NoError(t, json.Unmarshal([]byte(out), &r), out)
			require.True(t, r.OK)
			require.Empty(t, r.Problems)
			require.Equal(t, engine, r.Info["engine"])
			require.NotNil(t, r.Stats)
			require.Positive(t, r.Stats.DurableTs)
		})
	}
}

func TestCheckFindsDamage(t *testing.T) {
	dir := makeDB(t, "lsm", 2000)
	tables, err := filepath.Glob(filepath.Join(dir, "engine", "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	// A byte inside the first data block: Open reads only the footer,
	// index and filter, so the damage is for Check to find.
	f, err := os.OpenFile(tables[0], os.O_RDWR, 0)
	require.NoError(t, err)
	var b [1]byte
	_, err = f.ReadAt(b[:], 20)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b[:], 20)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	code, out, errOut := cli("check", "--dir", dir)
	require.Equal(t, 1, code, "%s\n%s", out, errOut)
	require.Contains(t, out, "DAMAGE")
	require.Contains(t, out, filepath.Base(tables[0]))
	require.Contains(t, out, "1 problem(s) found")

	code, out, _ = cli("check", "--dir", dir, "--json")
	require.Equal(t, 1, code)
	var r checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	require.False(t, r.OK)
	require.Len(t, r.Problems, 1)
}

func TestCheckEncrypted(t *testing.T) {
	keyFile := newKeyFile(t, "master.key")
	dir := makeDB(t, "lsm", 300, lightning.WithMasterKey(aesgcm.KeyFile(keyFile)))

	code, _, errOut := cli("check", "--dir", dir)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "is encrypted")

	code, out, errOut := cli("check", "--dir", dir, "--key-file", keyFile)
	require.Equal(t, 0, code, "%s\n%s", out, errOut)
	require.Contains(t, out, "cipher aesgcm")
	require.Contains(t, out, "\nok\n")

	other := newKeyFile(t, "other.key")
	code, _, errOut = cli("check", "--dir", dir, "--key-file", other)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "key")
}

func TestInfo(t *testing.T) {
	dir := makeDB(t, "memory", 10)
	// info takes no lock: it works while the database is open.
	db, err := lightning.Open(dir, lightning.WithEngine("memory"))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()

	code, out, errOut := cli("info", "--dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "engine    memory")
	require.Contains(t, out, "cipher    none")

	code, out, errOut = cli("info", "--dir", dir, "--json")
	require.Equal(t, 0, code, errOut)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Equal(t, "memory", info["engine"])
	require.Equal(t, "snappy", info["codec"])
	require.EqualValues(t, 1, info["format"])

	code, _, errOut = cli("info", "--dir", filepath.Join(t.TempDir(), "none"))
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "LIGHTNING")
}
