// Command custom-engine composes a Lightning database in Go with fx, the
// way package host does from a configuration file: an engine (the B+tree
// or the LSM tree), every codec (so old blocks stay readable) with zstd
// writing, optionally AES-256-GCM encryption, and the core on top.
//
//	go run ./examples/custom-engine [-dir DIR] [-engine btree|lsm] [-key-file FILE]
//
// With -key-file (32 bytes: 64 hex digits, e.g. from `lightning keys
// generate`), aesgcm.Module provides the cipher, whose data keys live in
// DIR/KEYS wrapped by that master key; core.Module and the engine pick it
// up from the graph.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"go.uber.org/fx"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/plugins/lsm"
	"github.com/lightningdb/lightning/plugins/lz4"
	"github.com/lightningdb/lightning/plugins/none"
	"github.com/lightningdb/lightning/plugins/snappy"
	"github.com/lightningdb/lightning/plugins/zstd"
	"github.com/lightningdb/lightning/vfs"
)

// engineIn is what the engine takes from the graph: every codec, and a
// cipher when one is provided.
type engineIn struct {
	fx.In
	Codecs []interfaces.Codec `group:"codecs"`
	Cipher interfaces.Cipher  `optional:"true"`
}

// newEngine returns the provider of the named engine: its name, recorded
// in the database, and the opener the core calls once it has locked the
// directory and checked its identity.
func newEngine(name string) func(in engineIn) (core.Engine, error) {
	return func(in engineIn) (core.Engine, error) {
		var writing interfaces.Codec
		for _, c := range in.Codecs {
			if c.Describe().Name == zstd.Name {
				writing = c
			}
		}
		var open func(fs vfs.FS, dir string) (interfaces.Storage, error)
		switch name {
		case btree.Name:
			open = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
				return btree.New(btree.Options{Dir: dir}, btree.Deps{
					FS: fs, Codec: writing, Codecs: in.Codecs, Cipher: in.Cipher,
				})
			}
		case lsm.Name:
			open = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
				return lsm.New(lsm.Options{Dir: dir}, lsm.Deps{
					FS: fs, Codec: writing, Codecs: in.Codecs, Cipher: in.Cipher,
				})
			}
		default:
			return core.Engine{}, fmt.Errorf("custom-engine: engine %q: this example composes %q or %q", name, btree.Name, lsm.Name)
		}
		return core.Engine{Name: name, Open: open}, nil
	}
}

// compose returns the fx options of a database in dir on the named
// engine, encrypted under the master key in keyFile unless it is empty.
func compose(dir, engine, keyFile string) fx.Option {
	opts := []fx.Option{
		// Every codec joins the "codecs" group; zstd writes.
		none.Module, snappy.Module, lz4.Module, zstd.Module,
		fx.Supply(core.Config{Dir: dir, Codec: zstd.Name, Options: core.Options{Sync: core.SyncAlways}}),
		fx.Provide(newEngine(engine)),
		core.Module,
	}
	if keyFile != "" {
		opts = append(opts,
			fx.Supply(aesgcm.Options{Path: filepath.Join(dir, aesgcm.RegistryFile), Master: aesgcm.KeyFile(keyFile)}),
			aesgcm.Module,
		)
	}
	return fx.Options(opts...)
}

// run opens the database in dir, writes and reads a few keys, and closes
// it through the application's stop hooks.
func run(ctx context.Context, dir, engine, keyFile string, out *os.File) error {
	var db *core.DB
	app := fx.New(compose(dir, engine, keyFile), fx.Populate(&db), fx.NopLogger)
	if err := app.Start(ctx); err != nil {
		return err
	}
	for i := range 3 {
		if err := db.Put(fmt.Appendf(nil, "key-%d", i), fmt.Appendf(nil, "value-%d", i)); err != nil {
			_ = app.Stop(ctx)
			return err
		}
	}
	v, err := db.Get([]byte("key-1"))
	if err != nil {
		_ = app.Stop(ctx)
		return err
	}
	encrypted := "not encrypted"
	if keyFile != "" {
		encrypted = "aesgcm"
	}
	fmt.Fprintf(out, "key-1 = %s (engine %s, codec zstd, %s)\n", v, engine, encrypted)
	return app.Stop(ctx)
}

func main() {
	dir := flag.String("dir", "", "database directory (default: a temporary one)")
	engine := flag.String("engine", btree.Name, "engine: btree or lsm")
	keyFile := flag.String("key-file", "", "encrypt under the master key in this file (64 hex digits)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "lightning-custom-engine-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(context.Background(), *dir, *engine, *keyFile, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
