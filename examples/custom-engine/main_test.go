package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/core"
)

// masterKey writes a master key file.
func masterKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	key := bytes.Repeat([]byte{0x5a}, 32)
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600))
	return path
}

func TestRun(t *testing.T) {
	cases := []struct {
		engine    string
		encrypted bool
		want      string
	}{
		{"btree", false, "key-1 = value-1 (engine btree, codec zstd, not encrypted)\n"},
		{"lsm", false, "key-1 = value-1 (engine lsm, codec zstd, not encrypted)\n"},
		{"btree", true, "key-1 = value-1 (engine btree, codec zstd, aesgcm)\n"},
		{"lsm", true, "key-1 = value-1 (engine lsm, codec zstd, aesgcm)\n"},
	}
	for _, c := range cases {
		name := c.engine
		if c.encrypted {
			name += "-aesgcm"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := ""
			if c.encrypted {
				keyFile = masterKey(t)
			}
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			require.NoError(t, err)
			require.NoError(t, run(context.Background(), dir, c.engine, keyFile, out))
			require.NoError(t, out.Close())
			b, err := os.ReadFile(out.Name())
			require.NoError(t, err)
			require.Equal(t, c.want, string(b))

			// The stop hooks closed the database: it opens again, with
			// its data.
			var db *core.DB
			app := fx.New(compose(dir, c.engine, keyFile), fx.Populate(&db), fx.NopLogger)
			require.NoError(t, app.Start(context.Background()))
			v, err := db.Get([]byte("key-2"))
			require.NoError(t, err)
			require.Equal(t, "value-2", string(v))
			require.NoError(t, app.Stop(context.Background()))
			identity, err := os.ReadFile(filepath.Join(dir, "LIGHTNING"))
			require.NoError(t, err)
			require.True(t, strings.Contains(string(identity), "engine: "+c.engine), "identity records the engine:\n%s", identity)
			require.True(t, strings.Contains(string(identity), "zstd"), "identity records the writing codec:\n%s", identity)
			if c.encrypted {
				require.FileExists(t, filepath.Join(dir, "KEYS"))
				// Without the key the database does not open.
				app := fx.New(compose(dir, c.engine, ""), fx.Populate(&db), fx.NopLogger)
				require.ErrorIs(t, app.Start(context.Background()), core.ErrKeyMismatch)
			}
		})
	}
	err := run(context.Background(), t.TempDir(), "memory", "", os.Stdout)
	require.ErrorContains(t, err, `engine "memory"`)
}
