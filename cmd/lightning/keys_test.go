package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/plugins/aesgcm"
)

// newKeyFile makes a master key file with `keys generate`.
func newKeyFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	code, out, errOut := cli("keys", "generate", "--out", path)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, path)
	return path
}

// makeEncryptedDB creates an encrypted database in a new directory with
// n keys under the master key in keyFile.
func makeEncryptedDB(t *testing.T, keyFile string, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile(keyFile)))
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%03d", i)))
	}
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
	return dir
}

// requireOpens opens dir with the master key in keyFile and checks its n
// keys.
func requireOpens(t *testing.T, dir, keyFile string, n int) {
	t.Helper()
	db, err := lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile(keyFile)))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for i := range n {
		v, err := db.Get(fmt.Appendf(nil, "k%03d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("v%03d", i), string(v))
	}
}

func statusOf(t *testing.T, args ...string) statusJSON {
	t.Helper()
	code, out, errOut := cli(append([]string{"keys", "status", "--json"}, args...)...)
	require.Equal(t, 0, code, errOut)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	return st
}

func TestKeysGenerate(t *testing.T) {
	path := newKeyFile(t, "master.key")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, 65)
	require.Equal(t, byte('\n'), b[64])
	_, err = hex.DecodeString(string(b[:64]))
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	k, err := aesgcm.KeyFile(path).MasterKey()
	require.NoError(t, err)
	require.Len(t, k, aesgcm.KeySize)

	// Never overwrites a key; two keys differ.
	code, _, errOut := cli("keys", "generate", "--out", path)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "exists")
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, again)
	other, err := os.ReadFile(newKeyFile(t, "other.key"))
	require.NoError(t, err)
	require.NotEqual(t, b, other)
}

func TestKeysStatus(t *testing.T) {
	key := newKeyFile(t, "master.key")
	dir := makeEncryptedDB(t, key, 10)

	code, out, errOut := cli("keys", "status", "--dir", dir, "--key-file", key, "--scan")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "registry    "+filepath.Join(dir, "KEYS"))
	require.Contains(t, out, "current     key 1")
	require.Regexp(t, `(?m)^KEY\s+STATE\s+CREATED\s+RETIRED\s+RESERVED ENCRYPTIONS\s+IN USE$`, out)
	require.Regexp(t, `(?m)^1\s+current\s+\S+\s+-\s+\d+\s+yes$`, out)

	st := statusOf(t, "--dir", dir, "--key-file", key, "--scan")
	require.Equal(t, uint32(1), st.Current)
	require.Len(t, st.Keys, 1)
	require.True(t, st.Keys[0].Current)
	require.Nil(t, st.Keys[0].Retired)
	require.NotNil(t, st.Keys[0].InUse)
	require.True(t, *st.Keys[0].InUse)
	// The reservation bounds the encryptions done: at least the ones of
	// this test's writes.
	require.Positive(t, st.Keys[0].Reserved)

	// The key from the environment, as hex.
	k, err := aesgcm.KeyFile(key).MasterKey()
	require.NoError(t, err)
	t.Setenv("LIGHTNING_TEST_MASTER", hex.EncodeToString(k))
	require.Equal(t, st.Current, statusOf(t, "--dir", dir, "--key-env", "LIGHTNING_TEST_MASTER").Current)
	// Status writes nothing.
	require.Equal(t, st.Generation, statusOf(t, "--dir", dir, "--key-file", key).Generation)
}

func TestKeysRefusals(t *testing.T) {
	key := newKeyFile(t, "master.key")
	dir := makeEncryptedDB(t, key, 3)
	registry := filepath.Join(dir, "KEYS")
	before, err := os.ReadFile(registry)
	require.NoError(t, err)

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong master key", []string{"status", "--dir", dir, "--key-file", newKeyFile(t, "wrong.key")}, "encryption key mismatch"},
		{"missing key file", []string{"status", "--dir", dir, "--key-file", filepath.Join(t.TempDir(), "nosuch")}, "encryption key mismatch"},
		{"unset variable", []string{"status", "--dir", dir, "--key-env", "LIGHTNING_TEST_NO_SUCH_VARIABLE"}, "is not set"},
		{"no key", []string{"status", "--dir", dir}, "--key-file or --key-env"},
		{"two keys", []string{"status", "--dir", dir, "--key-file", key, "--key-env", "X"}, "none of the others can be"},
		{"no directory", []string{"status", "--key-file", key}, `"dir" not set`},
		{"not encrypted", []string{"status", "--dir", t.TempDir(), "--key-file", key}, "no key registry"},
		{"nothing to rotate", []string{"rotate", "--dir", dir, "--key-file", key}, "nothing to rotate"},
		{"wrong key rotates nothing", []string{"rotate", "--dir", dir, "--key-file", newKeyFile(t, "wrong2.key"), "--new-key-file", newKeyFile(t, "new.key")}, "encryption key mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := cli(append([]string{"keys"}, c.args...)...)
			require.Equal(t, 2, code)
			require.Contains(t, errOut, c.want)
			after, err := os.ReadFile(registry)
			require.NoError(t, err)
			require.Equal(t, before, after, "the registry changed")
		})
	}

	// An open database is locked: nothing is rotated under it.
	db, err := lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile(key)))
	require.NoError(t, err)
	newKey := newKeyFile(t, "new2.key")
	code, _, errOut := cli("keys", "rotate", "--dir", dir, "--key-file", key, "--new-key-file", newKey)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "open in another process")
	require.NoError(t, db.Close())
	requireOpens(t, dir, key, 3)
}

func TestKeysRotateMaster(t *testing.T) {
	oldKey, newKey := newKeyFile(t, "old.key"), newKeyFile(t, "new.key")
	dir := makeEncryptedDB(t, oldKey, 50)
	dataBefore := dataFiles(t, dir)

	code, out, errOut := cli("keys", "rotate", "--dir", dir, "--key-file", oldKey, "--new-key-file", newKey)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "rewrapped under the master key from file "+newKey)
	// Only the registry changed: no data rewritten.
	require.Equal(t, dataBefore, dataFiles(t, dir))

	_, err := lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile(oldKey)))
	require.ErrorIs(t, err, lightning.ErrKeyMismatch)
	requireOpens(t, dir, newKey, 50)

	// Running it again (as after a crash past the rename) is harmless.
	code, _, errOut = cli("keys", "rotate", "--dir", dir, "--key-file", oldKey, "--new-key-file", newKey)
	require.Equal(t, 0, code, errOut)
	requireOpens(t, dir, newKey, 50)
	require.Equal(t, uint32(1), statusOf(t, "--dir", dir, "--key-file", newKey).Current)
}

func TestKeysRotateDataKeyAndPrune(t *testing.T) {
	key := newKeyFile(t, "master.key")
	dir := makeEncryptedDB(t, key, 20)

	code, out, errOut := cli("keys", "rotate", "--dir", dir, "--key-file", key, "--data-key")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "data key 2 is current")
	// Key 2 sealed nothing; key 3 takes over, and key 2 is unused.
	code, _, errOut = cli("keys", "rotate", "--dir", dir, "--key-file", key, "--data-key")
	require.Equal(t, 0, code, errOut)

	st := statusOf(t, "--dir", dir, "--key-file", key, "--scan")
	require.Equal(t, uint32(3), st.Current)
	require.Len(t, st.Keys, 3)
	inUse := map[uint32]bool{}
	for _, k := range st.Keys {
		inUse[k.ID] = *k.InUse
		require.Equal(t, k.ID == 3, k.Current)
		require.Equal(t, k.ID != 3, k.Retired != nil)
	}
	require.Equal(t, map[uint32]bool{1: true, 2: false, 3: false}, inUse)

	code, out, errOut = cli("keys", "prune", "--dir", dir, "--key-file", key)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "pruned data keys 2\n", out)
	code, out, errOut = cli("keys", "prune", "--dir", dir, "--key-file", key)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "no data key to prune")
	st = statusOf(t, "--dir", dir, "--key-file", key)
	require.Len(t, st.Keys, 2)

	// The data written under key 1 still reads; new writes use key 3.
	requireOpens(t, dir, key, 20)

	// Both rotations at once.
	newKey := newKeyFile(t, "new.key")
	code, out, errOut = cli("keys", "rotate", "--dir", dir, "--key-file", key, "--new-key-file", newKey, "--data-key")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "data key 4 is current")
	require.Contains(t, out, "rewrapped")
	requireOpens(t, dir, newKey, 20)
}

// dataFiles returns the database's files but the key registry, by path.
func dataFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.HasPrefix(filepath.Base(path), "KEYS") {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	}))
	return out
}
