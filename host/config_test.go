package host

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
)

const fullConfig = `
dir: data
engine:
  path: bin/lightning-memory
  sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  args: ["--verbose"]
codec:
  name: zstd
cache:
  name: arc
  size: 256MiB
cipher:
  path: bin/kms
  key:
    env: LIGHTNING_KEY
    encoding: base64
sync: 100ms
telemetry:
  log:
    level: debug
    format: json
    output: lightning.log
plugins:
  start_timeout: 10s
  call_timeout: 1m
`

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lightning.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fullConfig), 0o600))
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, "data", cfg.Dir)
	require.Equal(t, filepath.Join(dir, "data"), cfg.path(cfg.Dir))
	require.Equal(t, filepath.Join(dir, "bin/lightning-memory"), cfg.path(cfg.Engine.Path))
	require.Equal(t, []string{"--verbose"}, cfg.Engine.Args)
	require.Equal(t, "zstd", cfg.Codec.Name)
	require.Equal(t, ByteSize(256<<20), cfg.Cache.Size)
	require.Equal(t, "LIGHTNING_KEY", cfg.Cipher.Key.Env)
	require.Equal(t, Duration(10*time.Second), cfg.Plugins.StartTimeout)
	require.Equal(t, Duration(time.Minute), cfg.Plugins.CallTimeout)
	mode, err := cfg.syncMode()
	require.NoError(t, err)
	require.Equal(t, core.SyncInterval(100*time.Millisecond), mode)
	require.Equal(t, "/abs/x", cfg.path("/abs/x"))
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"empty":                  ``,
		"unknown field":          "dir: d\nengine: {name: memory}\nengin: {name: lsm}\n",
		"no dir":                 "engine: {name: memory}\n",
		"no engine":              "dir: d\n",
		"name and path":          "dir: d\nengine: {name: memory, path: ./x}\n",
		"sha256 on a name":       "dir: d\nengine: {name: memory, sha256: abc}\n",
		"cache without size":     "dir: d\nengine: {name: memory}\ncache: {name: arc}\n",
		"bad size":               "dir: d\nengine: {name: memory}\ncache: {name: arc, size: lots}\n",
		"cipher without key":     "dir: d\nengine: {name: memory}\ncipher: {name: aesgcm}\n",
		"cipher with two keys":   "dir: d\nengine: {name: memory}\ncipher: {name: aesgcm, key: {env: K, file: f}}\n",
		"bad key encoding":       "dir: d\nengine: {name: memory}\ncipher: {name: aesgcm, key: {env: K, encoding: rot13}}\n",
		"bad sync":               "dir: d\nengine: {name: memory}\nsync: sometimes\n",
		"negative sync":          "dir: d\nengine: {name: memory}\nsync: -1s\n",
		"bad level":              "dir: d\nengine: {name: memory}\ntelemetry: {log: {level: loud}}\n",
		"bad format":             "dir: d\nengine: {name: memory}\ntelemetry: {log: {format: xml}}\n",
		"bad duration":           "dir: d\nengine: {name: memory}\nplugins: {start_timeout: soon}\n",
		"codec with neither":     "dir: d\nengine: {name: memory}\ncodec: {}\n",
		"not yaml":               "dir: [\n",
		"wrong type for a field": "dir: d\nengine: memory\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(text))
			require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "4096": 4096, "64KiB": 64 << 10, "256MiB": 256 << 20, "1GiB": 1 << 30, "2TiB": 2 << 40,
		"1KB": 1000, "5MB": 5e6, "1GB": 1e9, "10B": 10, "1.5GiB": 3 << 29, " 8 MiB ": 8 << 20, "16M": 16 << 20,
	} {
		got, err := ParseByteSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "-1", "1XB", "1e30GiB", "9223372036854775807GiB"} {
		_, err := ParseByteSize(in)
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument, in)
	}
}

func TestReadKey(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{base: dir}
	key := []byte("0123456789abcdef0123456789abcdef")

	t.Setenv("K_HEX", "3031323334353637383961626364656630313233343536373839616263646566\n")
	got, err := cfg.readKey(KeySource{Env: "K_HEX"})
	require.NoError(t, err)
	require.Equal(t, key, got)

	t.Setenv("K_B64", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	got, err = cfg.readKey(KeySource{Env: "K_B64", Encoding: "base64"})
	require.NoError(t, err)
	require.Equal(t, key, got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "key"), key, 0o600))
	got, err = cfg.readKey(KeySource{File: "key"})
	require.NoError(t, err)
	require.Equal(t, key, got)

	_, err = cfg.readKey(KeySource{Env: "LIGHTNING_TEST_UNSET_KEY"})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	t.Setenv("K_BAD", "not hex")
	_, err = cfg.readKey(KeySource{Env: "K_BAD"})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
	_, err = cfg.readKey(KeySource{File: "missing"})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	_, err = cfg.readKey(KeySource{File: "empty"})
	require.ErrorIs(t, err, interfaces.ErrKeyMismatch)
}
