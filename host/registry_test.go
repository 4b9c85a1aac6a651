package host_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
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

// TestAESGCMFromConfig opens an encrypted database from YAML with the
// aesgcm cipher in process and out of process, alternately: each reads
// what the other wrote (the plugin makes the cipher the registry does),
// no file under the directory holds the plaintext, and another key fails
// with ErrKeyMismatch.
func TestAESGCMFromConfig(t *testing.T) {
	const env = "LIGHTNING_TEST_AESGCM_KEY"
	t.Setenv(env, hex.EncodeToString(plugintest.CipherKey(0)))
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "master.key")
	require.NoError(t, os.WriteFile(keyFile, plugintest.CipherKey(0), 0o600))
	modes := []struct{ name, cipher string }{
		{"in process, key from env", fmt.Sprintf("name: aesgcm, key: {env: %s}", env)},
		{"out of process, key from env", fmt.Sprintf("path: %s, key: {env: %s}", binary(t, "cmd/plugins/lightning-aesgcm"), env)},
		{"in process, raw key file", fmt.Sprintf("name: aesgcm, key: {file: %s}", keyFile)},
	}
	config := func(cipher string) string {
		return fmt.Sprintf("dir: %s\nengine: {name: lsm}\ncipher: {%s}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir, cipher)
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "PLAINTEXT-KEY-%04d", i) }
	value := func(i int) []byte { return fmt.Appendf(nil, "PLAINTEXT-VALUE-%04d", i) }
	const perMode = 100
	for m, mode := range modes {
		a, err := openConfig(t, config(mode.cipher))
		require.NoError(t, err, mode.name)
		for i := 0; i < m*perMode; i++ {
			v, err := a.DB.Get(key(i))
			require.NoError(t, err, "%s: key %d", mode.name, i)
			require.Equal(t, value(i), v)
		}
		for i := m * perMode; i < (m+1)*perMode; i++ {
			require.NoError(t, a.DB.Put(key(i), value(i)))
		}
		require.NoError(t, a.DB.Flush())
		closeApp(t, a)
	}

	var files int
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.False(t, bytes.Contains(b, []byte("PLAINTEXT-")), "%s holds plaintext", path)
		files++
		return nil
	}))
	require.Greater(t, files, 2)
	identity, err := os.ReadFile(filepath.Join(dir, "LIGHTNING"))
	require.NoError(t, err)
	require.Contains(t, string(identity), "aesgcm")

	t.Setenv(env, hex.EncodeToString(plugintest.CipherKey(1)))
	for _, mode := range modes[:2] {
		_, err := openConfig(t, config(mode.cipher))
		require.ErrorIs(t, err, interfaces.ErrKeyMismatch, mode.name)
	}
	// A key of the wrong size is refused before anything opens.
	t.Setenv(env, "00")
	_, err = openConfig(t, config(modes[0].cipher))
	require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
}
