// Command testplugin is the plugin host's tests use: it serves the memory
// engine, a small LRU cache, an AES-GCM cipher and the none codec, and
// misbehaves on demand, as the environment says:
//
//	LIGHTNING_TESTPLUGIN_NOISE=1          print to standard output before
//	                                      and while serving, through
//	                                      fmt, os.Stdout and descriptor 1
//	LIGHTNING_TESTPLUGIN_CRASH_APPLY=N    exit abruptly (status 3) in the
//	                                      Nth Apply
//	LIGHTNING_TESTPLUGIN_HANG_GET=1       block forever in every Get
//	LIGHTNING_TESTPLUGIN_DROP_DELETES=1   drop tombstones in Apply (a bug
//	                                      the storage suite must catch)
//	LIGHTNING_TESTPLUGIN_PIDFILE=PATH     write the process id to PATH
//	LIGHTNING_TESTPLUGIN_LOG=1            log a line through plugin.Logger
//	                                      when a storage opens
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lightningdb/lightning/host/plugin"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/memory"
	"github.com/lightningdb/lightning/plugins/none"
)

func init() {
	if os.Getenv("LIGHTNING_TESTPLUGIN_NOISE") != "" {
		fmt.Println("noise from init: this line is not a handshake")
	}
}

func main() {
	if path := os.Getenv("LIGHTNING_TESTPLUGIN_PIDFILE"); path != "" {
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "testplugin: pid file: %v\n", err)
			os.Exit(1)
		}
	}
	if os.Getenv("LIGHTNING_TESTPLUGIN_NOISE") != "" {
		fmt.Println("1|1|unix|/nonexistent|netrpc|")
		fmt.Fprintln(os.Stdout, "noise from main through os.Stdout")
		_, _ = syscall.Write(1, []byte("noise through descriptor 1\n"))
		go func() {
			for i := 0; ; i++ {
				fmt.Printf("noise while serving %d\n", i)
				_, _ = syscall.Write(1, []byte("raw noise while serving\n"))
				time.Sleep(time.Millisecond)
			}
		}()
	}
	crashAt, _ := strconv.ParseInt(os.Getenv("LIGHTNING_TESTPLUGIN_CRASH_APPLY"), 10, 64)
	hangGet := os.Getenv("LIGHTNING_TESTPLUGIN_HANG_GET") != ""
	logOpen := os.Getenv("LIGHTNING_TESTPLUGIN_LOG") != ""
	dropDeletes := os.Getenv("LIGHTNING_TESTPLUGIN_DROP_DELETES") != ""
	var applies atomic.Int64
	plugin.Serve(plugin.Parts{
		Storage: func(dir string) (interfaces.Storage, error) {
			e, err := memory.New(memory.Options{Dir: dir}, memory.Deps{Logger: plugin.Logger()})
			if err != nil {
				return nil, err
			}
			if logOpen {
				plugin.Logger().Warn("testplugin opened a storage", "dir", dir, "answer", 42)
			}
			if crashAt == 0 && !hangGet && !dropDeletes {
				return e, nil
			}
			return &faulty{Engine: e, crashAt: crashAt, applies: &applies, hangGet: hangGet, dropDeletes: dropDeletes}, nil
		},
		Cache:  func(capacity int64) (interfaces.Cache, error) { return newLRU(capacity), nil },
		Codec:  none.New(),
		Cipher: newGCM,
	})
}

// faulty is the memory engine with the faults the environment asks for.
type faulty struct {
	*memory.Engine
	crashAt int64
	applies *atomic.Int64
	hangGet bool
	// dropDeletes makes Apply forget tombstones.
	dropDeletes bool
}

func (f *faulty) Apply(entries []interfaces.Entry) error {
	if f.crashAt > 0 && f.applies.Add(1) >= f.crashAt {
		os.Exit(3)
	}
	if f.dropDeletes {
		kept := make([]interfaces.Entry, 0, len(entries))
		for _, e := range entries {
			if e.Kind != interfaces.KindDelete {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	return f.Engine.Apply(entries)
}

func (f *faulty) Get(key []byte, readTs uint64) ([]byte, uint64, error) {
	if f.hangGet {
		select {}
	}
	return f.Engine.Get(key, readTs)
}
