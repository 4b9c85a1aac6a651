// Command custom-engine composes a Lightning database in Go with fx, the
// way package host does from a configuration file: an engine, every codec
// (so old blocks stay readable) with zstd writing, and the core on top.
//
//	go run ./examples/custom-engine [-dir DIR]
//
// Swap the engine by changing newEngine's body (lsm.New, btree.New), and
// add encryption by providing an interfaces.Cipher (aesgcm) to the graph:
// core.Module and the engine pick it up.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"go.uber.org/fx"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lz4"
	"github.com/lightningdb/lightning/plugins/memory"
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

// newEngine provides the engine: its name, recorded in the database, and
// the opener the core calls once it has locked the directory and checked
// its identity.
func newEngine(in engineIn) core.Engine {
	var writing interfaces.Codec
	for _, c := range in.Codecs {
		if c.Describe().Name == zstd.Name {
			writing = c
		}
	}
	return core.Engine{
		Name: memory.Name,
		Open: func(fs vfs.FS, dir string) (interfaces.Storage, error) {
			return memory.New(memory.Options{Dir: dir}, memory.Deps{
				FS: fs, Codec: writing, Codecs: in.Codecs, Cipher: in.Cipher,
			})
		},
	}
}

// compose returns the fx options of a database in dir.
func compose(dir string) fx.Option {
	return fx.Options(
		// Every codec joins the "codecs" group; zstd writes.
		none.Module, snappy.Module, lz4.Module, zstd.Module,
		fx.Supply(core.Config{Dir: dir, Codec: zstd.Name, Options: core.Options{Sync: core.SyncAlways}}),
		fx.Provide(newEngine),
		core.Module,
	)
}

// run opens the database in dir, writes and reads a few keys, and closes
// it through the application's stop hooks.
func run(ctx context.Context, dir string, out *os.File) error {
	var db *core.DB
	app := fx.New(compose(dir), fx.Populate(&db), fx.NopLogger)
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
	fmt.Fprintf(out, "key-1 = %s (engine %s, codec zstd)\n", v, memory.Name)
	return app.Stop(ctx)
}

func main() {
	dir := flag.String("dir", "", "database directory (default: a temporary one)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "lightning-custom-engine-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(context.Background(), *dir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
