package host_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

func TestAESGCMRegistered(t *testing.T) {
	require.Contains(t, host.Ciphers(), "aesgcm")
}

// TestAESGCMOutOfProcessConformance runs the cipher suite against the
// lightning-aesgcm plugin binary through the plugin protocol.
func TestAESGCMOutOfProcessConformance(t *testing.T) {
	plugintest.Run(shortT{t}, binary(t, "cmd/plugins/lightning-aesgcm"), plugintest.Options{
		Kinds: []interfaces.Kind{interfaces.KindCipher},
	})
}

// TestAESGCMFromConfig opens encrypted databases from YAML with the aesgcm
// cipher in process (a key registry under the configured key) and out of
// process (no registry: data keys derived from the key, one per plugin
// process). Each mode reopens its own database across restarts, the two
// in-process key sources of one key open each other's, no file holds the
// plaintext, another key fails with ErrKeyMismatch with no file changed,
// and each mode refuses the other's database with ErrIncompatible.
func TestAESGCMFromConfig(t *testing.T) {
	const env = "LIGHTNING_TEST_AESGCM_KEY"
	t.Setenv(env, hex.EncodeToString(plugintest.CipherKey(0)))
	keyFile := filepath.Join(t.TempDir(), "master.key")
	require.NoError(t, os.WriteFile(keyFile, plugintest.CipherKey(0), 0o600))
	plugin := binary(t, "cmd/plugins/lightning-aesgcm")
	inProcess := []string{fmt.Sprintf("name: aesgcm, key: {env: %s}", env), fmt.Sprintf("name: aesgcm, key: {file: %s}", keyFile)}
	outOfProcess := fmt.Sprintf("path: %s, key: {env: %s}", plugin, env)
	config := func(dir, cipher string) string {
		return fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {%s}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir, cipher)
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "PLAINTEXT-KEY-%04d", i) }
	value := func(i int) []byte { return fmt.Appendf(nil, "PLAINTEXT-VALUE-%04d", i) }
	const perOpen = 100
	// run opens dir with each cipher in turn, reads what the earlier opens
	// wrote, and writes its own share.
	run := func(dir string, ciphers ...string) {
		for m, cipher := range ciphers {
			a, err := openConfig(t, config(dir, cipher))
			require.NoError(t, err, cipher)
			for i := 0; i < m*perOpen; i++ {
				v, err := a.DB.Get(key(i))
				require.NoError(t, err, "%s: key %d", cipher, i)
				require.Equal(t, value(i), v)
			}
			for i := m * perOpen; i < (m+1)*perOpen; i++ {
				require.NoError(t, a.DB.Put(key(i), value(i)))
			}
			require.NoError(t, a.DB.Flush())
			closeApp(t, a)
		}
	}
	regDir, staticDir := t.TempDir(), t.TempDir()
	run(regDir, inProcess[0], inProcess[1], inProcess[0])
	run(staticDir, outOfProcess, outOfProcess, outOfProcess)

	for _, dir := range []string{regDir, staticDir} {
		requireNoPlaintext(t, dir)
		identity, err := os.ReadFile(filepath.Join(dir, "LIGHTNING"))
		require.NoError(t, err)
		require.Contains(t, string(identity), "aesgcm")
	}
	_, err := os.Stat(filepath.Join(regDir, "KEYS"))
	require.NoError(t, err, "the in-process cipher keeps a key registry")
	_, err = os.Stat(filepath.Join(staticDir, "KEYS"))
	require.ErrorIs(t, err, fs.ErrNotExist, "the plugin keeps none")

	// Each mode refuses the other's database, saying why, with nothing
	// changed.
	for _, tc := range []struct{ dir, cipher, says string }{
		{staticDir, inProcess[0], "no key registry"},
		{regDir, outOfProcess, "in-process cipher"},
	} {
		before := dirFiles(t, tc.dir)
		_, err := openConfig(t, config(tc.dir, tc.cipher))
		require.ErrorIs(t, err, interfaces.ErrIncompatible, tc.cipher)
		require.ErrorContains(t, err, tc.says)
		require.Equal(t, before, dirFiles(t, tc.dir))
	}

	// Another key: ErrKeyMismatch, with no file touched.
	t.Setenv(env, hex.EncodeToString(plugintest.CipherKey(1)))
	for _, tc := range []struct{ dir, cipher string }{{regDir, inProcess[0]}, {staticDir, outOfProcess}} {
		before := dirFiles(t, tc.dir)
		_, err := openConfig(t, config(tc.dir, tc.cipher))
		require.ErrorIs(t, err, interfaces.ErrKeyMismatch, tc.cipher)
		require.Equal(t, before, dirFiles(t, tc.dir), tc.cipher)
	}
	// A key of the wrong size is refused before anything opens.
	t.Setenv(env, "00")
	for _, tc := range []struct{ dir, cipher string }{{regDir, inProcess[0]}, {staticDir, outOfProcess}} {
		_, err = openConfig(t, config(tc.dir, tc.cipher))
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument, tc.cipher)
	}
}

// TestAESGCMConfigIsLibraryDatabase: a database a YAML configuration
// makes with the in-process aesgcm cipher is the database
// lightning.Open(dir, lightning.WithMasterKey(aesgcm.KeyFile(...))) makes:
// each opens the other's, and the library sees the registry the YAML
// database keeps.
func TestAESGCMConfigIsLibraryDatabase(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "master.key")
	require.NoError(t, os.WriteFile(keyFile, plugintest.CipherKey(0), 0o600))
	yaml := func(dir string) string {
		return fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {name: aesgcm, key: {file: %s}}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir, keyFile)
	}
	library := func(dir string) *lightning.DB {
		db, err := lightning.Open(dir, lightning.WithEngine("lsm"), lightning.WithCodec(host.DefaultCodec),
			lightning.WithSync(lightning.SyncNone), lightning.WithMasterKey(aesgcm.KeyFile(keyFile)))
		require.NoError(t, err)
		return db
	}

	// Made by YAML, then the library, then YAML again.
	dir := t.TempDir()
	a, err := openConfig(t, yaml(dir))
	require.NoError(t, err)
	require.NoError(t, a.DB.Put([]byte("yaml"), []byte("1")))
	require.NoError(t, a.DB.Flush())
	closeApp(t, a)
	db := library(dir)
	v, err := db.Get([]byte("yaml"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	st, err := lightning.KeyRegistry(db).Status()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, aesgcm.RegistryFile), st.Path)
	require.True(t, st.OnDisk)
	require.NoError(t, db.Put([]byte("library"), []byte("2")))
	require.NoError(t, db.Close())
	a, err = openConfig(t, yaml(dir))
	require.NoError(t, err)
	for k, want := range map[string]string{"yaml": "1", "library": "2"} {
		v, err := a.DB.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, want, string(v))
	}
	closeApp(t, a)

	// Made by the library, then YAML.
	dir = t.TempDir()
	db = library(dir)
	require.NoError(t, db.Put([]byte("library"), []byte("3")))
	require.NoError(t, db.Close())
	a, err = openConfig(t, yaml(dir))
	require.NoError(t, err)
	v, err = a.DB.Get([]byte("library"))
	require.NoError(t, err)
	require.Equal(t, "3", string(v))
	closeApp(t, a)
	requireNoPlaintext(t, dir)
}

// TestAESGCMConfigKeysCLI manages a YAML database's keys with the lightning
// CLI: status reads its registry, an offline master-key rotation makes the
// old key fail (ErrKeyMismatch, nothing changed) and the new key open it,
// and a data-key rotation is seen by the next open.
func TestAESGCMConfigKeysCLI(t *testing.T) {
	cli := binary(t, "cmd/lightning")
	keys := t.TempDir()
	oldKey, newKey := filepath.Join(keys, "old.key"), filepath.Join(keys, "new.key")
	require.NoError(t, os.WriteFile(oldKey, plugintest.CipherKey(0), 0o600))
	require.NoError(t, os.WriteFile(newKey, plugintest.CipherKey(1), 0o600))
	dir := t.TempDir()
	yaml := func(key string) string {
		return fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {name: aesgcm, key: {file: %s}}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir, key)
	}
	lightningCLI := func(args ...string) string {
		out, err := exec.Command(cli, args...).CombinedOutput()
		require.NoError(t, err, "lightning %v: %s", args, out)
		return string(out)
	}

	a, err := openConfig(t, yaml(oldKey))
	require.NoError(t, err)
	require.NoError(t, a.DB.Put([]byte("k"), []byte("v")))
	require.NoError(t, a.DB.Flush())
	closeApp(t, a)
	var status struct {
		Current uint32 `json:"current"`
	}
	require.NoError(t, json.Unmarshal([]byte(lightningCLI("keys", "status", "--dir", dir, "--key-file", oldKey, "--json")), &status))
	require.Equal(t, uint32(1), status.Current)

	lightningCLI("keys", "rotate", "--dir", dir, "--key-file", oldKey, "--new-key-file", newKey, "--data-key")
	before := dirFiles(t, dir)
	_, err = openConfig(t, yaml(oldKey))
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	require.Equal(t, before, dirFiles(t, dir), "a wrong key changed files")

	a, err = openConfig(t, yaml(newKey))
	require.NoError(t, err)
	v, err := a.DB.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, a.DB.Put([]byte("k2"), []byte("v2")))
	require.NoError(t, a.DB.Flush())
	closeApp(t, a)
	require.NoError(t, json.Unmarshal([]byte(lightningCLI("keys", "status", "--dir", dir, "--key-file", newKey, "--json")), &status))
	require.Equal(t, uint32(2), status.Current)
}

// requireNoPlaintext checks that no file under dir holds "PLAINTEXT-" or
// the test values, and that there are files.
func requireNoPlaintext(t *testing.T, dir string) {
	t.Helper()
	files := dirFiles(t, dir)
	require.Greater(t, len(files), 2)
	for path, b := range files {
		require.NotContains(t, b, "PLAINTEXT-", "%s holds plaintext", path)
	}
}

// dirFiles returns every file under dir by path, with its contents.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		files[path] = string(b)
		return nil
	}))
	return files
}

// depsCipher is an in-process cipher registered by a test, as a third
// party registers theirs: it records what its factory was given.
var (
	registerDeps sync.Once
	depsSeen     = make(chan host.CipherDeps, 1)
)

// TestCipherDepsFromConfig: an in-process cipher's factory gets the
// database's absolute directory, the file system WithCoreOptions gives the
// core, the application's logger and the key; and aesgcm keeps its
// registry on that file system, beside the database.
func TestCipherDepsFromConfig(t *testing.T) {
	registerDeps.Do(func() {
		host.RegisterCipher("test-deps", func(deps host.CipherDeps, key []byte) (interfaces.Cipher, error) {
			depsSeen <- deps
			defer clear(key)
			c, err := aesgcm.New(key)
			if err != nil {
				return nil, err
			}
			return c, nil
		})
	})
	require.Contains(t, host.Ciphers(), "test-deps")
	const env = "LIGHTNING_TEST_DEPS_KEY"
	t.Setenv(env, hex.EncodeToString(plugintest.CipherKey(0)))
	logger := slog.New(slog.DiscardHandler)
	for _, name := range []string{"test-deps", "aesgcm"} {
		mem := vfs.NewMem()
		cfg, err := host.ParseConfig(fmt.Appendf(nil, "dir: db-%s\nengine: {name: lsm}\ncipher: {name: %s, key: {env: %s}}\nsync: none\n", name, name, env))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, err := host.Open(ctx, cfg, host.WithLogger(logger), host.WithCoreOptions(func(o *core.Options) { o.FS = mem }))
		require.NoError(t, err, name)
		require.NoError(t, a.DB.Put([]byte("k"), []byte("v")))
		closeApp(t, a)
		wd, err := os.Getwd()
		require.NoError(t, err)
		dir := filepath.Join(wd, "db-"+name)
		_, err = os.Stat(dir)
		require.ErrorIs(t, err, fs.ErrNotExist, "the database went to the OS, not the configured file system")
		_, err = mem.Stat(filepath.Join(dir, "LIGHTNING"))
		require.NoError(t, err)
		if name == "test-deps" {
			deps := <-depsSeen
			require.Equal(t, dir, deps.Dir)
			require.Same(t, mem, deps.FS)
			require.Same(t, logger, deps.Logger)
			continue
		}
		_, err = mem.Stat(filepath.Join(dir, aesgcm.RegistryFile))
		require.NoError(t, err, "aesgcm's key registry is not beside the database")
	}
}

// TestAESGCMOldKeysRotateTheMaster rotates the master key of a configured
// database: the new key alone is refused until one open lists the old key
// under old_keys, whose first write rewraps the registry; then the new key
// alone opens it and the old one no longer does.
func TestAESGCMOldKeysRotateTheMaster(t *testing.T) {
	keyDir := t.TempDir()
	keyA, keyB := filepath.Join(keyDir, "a.key"), filepath.Join(keyDir, "b.key")
	require.NoError(t, os.WriteFile(keyA, plugintest.CipherKey(1), 0o600))
	require.NoError(t, os.WriteFile(keyB, plugintest.CipherKey(2), 0o600))
	dir := t.TempDir()
	config := func(cipher string) string {
		return fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {%s}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir, cipher)
	}
	withA := fmt.Sprintf("name: aesgcm, key: {file: %s}", keyA)
	withB := fmt.Sprintf("name: aesgcm, key: {file: %s}", keyB)
	withBOldA := fmt.Sprintf("name: aesgcm, key: {file: %s}, old_keys: [{file: %s}]", keyB, keyA)

	write := func(cipher string, from, to int) {
		a, err := openConfig(t, config(cipher))
		require.NoError(t, err, cipher)
		for i := 0; i < from; i++ {
			v, err := a.DB.Get(fmt.Appendf(nil, "k%03d", i))
			require.NoError(t, err, "%s: key %d", cipher, i)
			require.Equal(t, fmt.Sprintf("v%03d", i), string(v))
		}
		for i := from; i < to; i++ {
			require.NoError(t, a.DB.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%03d", i)))
		}
		require.NoError(t, a.DB.Flush())
		closeApp(t, a)
	}
	refused := func(cipher string) {
		before := dirFiles(t, dir)
		_, err := openConfig(t, config(cipher))
		require.ErrorIs(t, err, interfaces.ErrKeyMismatch, cipher)
		require.Equal(t, before, dirFiles(t, dir), "a refused open changes nothing")
	}

	write(withA, 0, 50)
	refused(withB)
	write(withBOldA, 50, 100)
	write(withB, 100, 150)
	refused(withA)
	requireNoPlaintext(t, dir)

	// A plugin cipher takes one key: old_keys there is a configuration error.
	cfg := fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {path: ./p, key: {file: %s}, old_keys: [{file: %s}]}\n", dir, keyB, keyA)
	_, err := host.LoadConfig(writeConfig(t, cfg))
	require.ErrorContains(t, err, "old_keys")
}
