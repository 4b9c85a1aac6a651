package host_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lightning.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func openConfig(t *testing.T, text string) (*host.App, error) {
	t.Helper()
	cfg, err := host.LoadConfig(writeConfig(t, text))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return host.Open(ctx, cfg)
}

func closeApp(t *testing.T, a *host.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, a.Close(ctx))
}

func TestOpenInProcess(t *testing.T) {
	dir := t.TempDir()
	text := fmt.Sprintf("dir: %s\nengine: {name: memory}\ncodec: {name: lz4}\ncache: {name: arc, size: 4MiB}\nsync: none\ntelemetry: {log: {output: discard}}\n", dir)
	a, err := openConfig(t, text)
	require.NoError(t, err)
	require.NoError(t, a.DB.Put([]byte("k"), []byte("v")))
	closeApp(t, a)

	a, err = openConfig(t, text)
	require.NoError(t, err)
	v, err := a.DB.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	closeApp(t, a)
	identity, err := os.ReadFile(filepath.Join(dir, "LIGHTNING"))
	require.NoError(t, err)
	require.Contains(t, string(identity), "lz4")
}

func TestOpenRefusesUnknownParts(t *testing.T) {
	for name, text := range map[string]string{
		"engine": "engine: {name: nosuch}\n",
		"codec":  "engine: {name: memory}\ncodec: {name: nosuch}\n",
		"cache":  "engine: {name: memory}\ncache: {name: nosuch, size: 1MiB}\n",
		"cipher": "engine: {name: memory}\ncipher: {name: nosuch, key: {env: LIGHTNING_TEST_KEY}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("LIGHTNING_TEST_KEY", "00")
			_, err := openConfig(t, fmt.Sprintf("dir: %s\n%s", t.TempDir(), text))
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
		})
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	return pid
}

// TestOpenWithPlugins composes a database from four plugin processes (the
// engine, the codec, the cache and the cipher each by path), checks that
// it works and survives a reopen, and that closing it stops every plugin
// after the DB closed cleanly.
func TestOpenWithPlugins(t *testing.T) {
	memoryBin := binary(t, "cmd/plugins/lightning-memory")
	zstdBin := binary(t, "cmd/plugins/lightning-zstd")
	tp := testPlugin(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("LIGHTNING_TESTPLUGIN_PIDFILE", pidFile)
	t.Setenv("LIGHTNING_TEST_KEY", hex.EncodeToString(plugintest.CipherKey(0)))
	dir := t.TempDir()
	text := fmt.Sprintf(`
dir: %s
engine: {path: %s, sha256: %s}
codec: {path: %s, sha256: %s}
cache: {path: %s, size: 8MiB}
cipher:
  path: %s
  key: {env: LIGHTNING_TEST_KEY}
telemetry: {log: {output: discard}}
`, dir, memoryBin, sha256File(t, memoryBin), zstdBin, sha256File(t, zstdBin), tp, tp)
	a, err := openConfig(t, text)
	require.NoError(t, err)
	pid := readPid(t, pidFile)
	require.True(t, alive(pid))
	for i := range 100 {
		require.NoError(t, a.DB.Put(fmt.Appendf(nil, "key%03d", i), fmt.Appendf(nil, "value%03d-%0500d", i, 0)))
	}
	closeApp(t, a)
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond,
		"the cache and cipher plugin outlived the application")

	a, err = openConfig(t, text)
	require.NoError(t, err)
	for i := range 100 {
		v, err := a.DB.Get(fmt.Appendf(nil, "key%03d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("value%03d-%0500d", i, 0), string(v))
	}
	closeApp(t, a)

	// The WAL was sealed by the cipher plugin: another key is refused.
	t.Setenv("LIGHTNING_TEST_KEY", hex.EncodeToString(plugintest.CipherKey(1)))
	_, err = openConfig(t, text)
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
}

// TestOpenFailureStopsStartedPlugins: when composition fails after a
// plugin started, the plugin is stopped, and a tampered binary never
// starts at all.
func TestOpenFailureStopsStartedPlugins(t *testing.T) {
	tp := testPlugin(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("LIGHTNING_TESTPLUGIN_PIDFILE", pidFile)
	// The database directory is a file: the core fails to open after the
	// engine plugin started.
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	_, err := openConfig(t, fmt.Sprintf("dir: %s\nengine: {path: %s}\ntelemetry: {log: {output: discard}}\n", notDir, tp))
	require.Error(t, err)
	pid := readPid(t, pidFile)
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, os.Remove(pidFile))
	_, err = openConfig(t, fmt.Sprintf("dir: %s\nengine: {path: %s, sha256: %064d}\ntelemetry: {log: {output: discard}}\n", t.TempDir(), tp, 0))
	require.ErrorIs(t, err, host.ErrChecksumMismatch)
	_, err = os.Stat(pidFile)
	require.ErrorIs(t, err, os.ErrNotExist)
}
