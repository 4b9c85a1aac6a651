package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/lightningdb/lightning/core"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	require.NoError(t, run(context.Background(), dir, out))
	require.NoError(t, out.Close())
	b, err := os.ReadFile(out.Name())
	require.NoError(t, err)
	require.Equal(t, "key-1 = value-1 (engine memory, codec zstd)\n", string(b))

	// The stop hooks closed the database: it opens again, with its data.
	var db *core.DB
	app := fx.New(compose(dir), fx.Populate(&db), fx.NopLogger)
	require.NoError(t, app.Start(context.Background()))
	v, err := db.Get([]byte("key-2"))
	require.NoError(t, err)
	require.Equal(t, "value-2", string(v))
	require.NoError(t, app.Stop(context.Background()))
	identity, err := os.ReadFile(filepath.Join(dir, "LIGHTNING"))
	require.NoError(t, err)
	require.True(t, strings.Contains(string(identity), "zstd"), "identity records the writing codec:\n%s", identity)
}
