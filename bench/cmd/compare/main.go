// Command compare runs the side-by-side comparison of Lightning with Pebble,
// Badger, bbolt and goleveldb, and writes a markdown table, a JSON file and
// charts.
//
//	cd bench && go run ./cmd/compare                 # full run (1M records)
//	cd bench && go run ./cmd/compare -quick          # about two minutes
//	cd bench && go run ./cmd/compare -list           # engines and workloads
//	cd bench && go run ./cmd/compare -render results/results.json
//
// Each engine runs in its own child process (this binary re-executed with
// -child), in a fresh directory, one after another, so engines never share a
// heap and each one's peak RSS is its own. The parent collects each child's
// JSON result, then renders the report.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lightningdb/lightning/bench"
	"github.com/lightningdb/lightning/bench/engines"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// options are the parsed command line.
type options struct {
	cfg       bench.Config
	engines   string
	out       string
	dataDir   string
	keep      bool
	timeout   time.Duration
	list      bool
	render    string
	childName string
	childCfg  string
	childDir  string
	childOut  string
}

// byteSize is a flag.Value for sizes like 256MiB, 64M or 1048576.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return strconv.FormatInt(*b.n, 10)
}

func (b byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b.n = n
	return nil
}

// parseBytes accepts a plain number of bytes or one with a K/M/G suffix
// (binary units; "KiB", "KB" and "K" all mean 1024).
func parseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
		{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := bench.DefaultConfig()
	o := &options{cfg: def}
	c := &o.cfg
	quick := fs.Bool("quick", false, "small run: 100k records, 1-s workloads, 64-MiB cache (about two minutes)")
	fs.Uint64Var(&c.N, "n", def.N, "records to load")
	fs.IntVar(&c.KeySize, "key-size", def.KeySize, "key size in bytes (at least 16)")
	fs.IntVar(&c.ValueSize, "value-size", def.ValueSize, "value size in bytes")
	fs.Float64Var(&c.CompressRatio, "compress-ratio", def.CompressRatio, "fraction of each value that is random (0.5: half-compressible)")
	fs.Var(byteSize{&c.CacheBytes}, "cache", "cache budget per engine, e.g. 256MiB")
	fs.IntVar(&c.BatchSize, "batch", def.BatchSize, "writes per batch in the batched fills")
	fs.DurationVar(&c.Duration, "duration", def.Duration, "length of each timed workload")
	fs.DurationVar(&c.Warmup, "warmup", def.Warmup, "untimed random reads before the first read workload")
	fs.IntVar(&c.SyncWriters, "sync-writers", def.SyncWriters, "concurrent writers in writesync-16")
	fs.IntVar(&c.YCSBThreads, "ycsb-threads", def.YCSBThreads, "YCSB client goroutines")
	fs.Float64Var(&c.Theta, "theta", def.Theta, "YCSB Zipfian constant")
	fs.IntVar(&c.ScanLength, "scan-length", def.ScanLength, "keys per short scan (and YCSB E's maximum)")
	fs.Uint64Var(&c.Seed, "seed", def.Seed, "seed of every key order, value and operation")
	workloads := fs.String("workloads", "all", "comma-separated workloads or groups (fill, read, scan, ycsb, sync); see -list")
	fs.StringVar(&o.engines, "engines", "default", "comma-separated engines: names, a family (lightning), default, available or all; see -list")
	fs.StringVar(&o.out, "out", "results", "directory for results.md, results.json and the charts")
	fs.StringVar(&o.dataDir, "dir", ".data", "directory the engines' data goes under (pick the disk to measure)")
	fs.BoolVar(&o.keep, "keep", false, "keep each engine's data directory")
	fs.DurationVar(&o.timeout, "timeout", 0, "per-engine time limit (default 60m, 5m with -quick)")
	fs.BoolVar(&o.list, "list", false, "list engines (with availability) and workloads, then exit")
	fs.StringVar(&o.render, "render", "", "re-render results.md and the charts from this results.json, without running")
	fs.StringVar(&o.childName, "child", "", "internal: run this engine in this process")
	fs.StringVar(&o.childCfg, "child-config", "", "internal: config JSON for -child")
	fs.StringVar(&o.childDir, "child-dir", "", "internal: data directory for -child")
	fs.StringVar(&o.childOut, "child-out", "", "internal: result JSON path for -child")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		// -quick changes the defaults; flags given explicitly still win.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		q := bench.QuickConfig()
		for name, apply := range map[string]func(){
			"n":        func() { c.N = q.N },
			"cache":    func() { c.CacheBytes = q.CacheBytes },
			"duration": func() { c.Duration = q.Duration },
			"warmup":   func() { c.Warmup = q.Warmup },
		} {
			if !set[name] {
				apply()
			}
		}
		if o.timeout == 0 {
			o.timeout = 5 * time.Minute
		}
	}
	if o.timeout == 0 {
		o.timeout = 60 * time.Minute
	}
	wl, err := bench.ParseWorkloads(*workloads)
	if err != nil {
		return nil, err
	}
	c.Workloads = wl
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case o.childName != "":
		return runChild(ctx, o, stderr)
	case o.render != "":
		return rerender(o, stdout, stderr)
	}
	reg, err := engines.Registry()
	if err != nil {
		return err
	}
	if o.list {
		return list(reg, stdout)
	}
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	selected, err := reg.Select(o.engines)
	if err != nil {
		return err
	}
	return runParent(ctx, o, args, selected, stdout, stderr)
}

func list(reg *bench.Registry, w io.Writer) error {
	fmt.Fprintln(w, "Engines (* = run by default):")
	for _, name := range reg.Names() {
		e, _ := reg.Lookup(name)
		mark := " "
		if e.Default {
			mark = "*"
		}
		if e.Unavailable != "" {
			fmt.Fprintf(w, " %s %-26s %s\n", mark, name, e.Unavailable)
			continue
		}
		fmt.Fprintf(w, " %s %-26s %s\n", mark, name, e.Settings)
	}
	fmt.Fprintln(w, "\nWorkloads (in run order):")
	for _, wl := range bench.Workloads() {
		fmt.Fprintf(w, "   %-14s [%s] %s\n", wl.Name, wl.Group, wl.Description)
	}
	return nil
}

// runParent runs each selected engine in a child process, one after
// another, and writes the report.
func runParent(ctx context.Context, o *options, args []string, selected []bench.Engine, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	runDir, err := os.MkdirTemp(o.dataDir, "run-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(runDir)
	}
	cfgPath := filepath.Join(runDir, "config.json")
	cfgJSON, err := json.Marshal(o.cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, cfgJSON, 0o644); err != nil {
		return err
	}

	rep := &bench.Report{
		Command: strings.TrimSpace("cd bench && go run ./cmd/compare " + strings.Join(args, " ")),
		Started: time.Now(),
		Machine: bench.DetectMachine(runDir),
		Config:  o.cfg,
	}
	fmt.Fprintf(stderr, "machine: %s\nconfig: %s\n", rep.Machine, rep.Config)
	var failed []string
	for _, e := range selected {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Unavailable != "" {
			fmt.Fprintf(stderr, "%s: %s\n", e.Name, e.Unavailable)
			rep.Engines = append(rep.Engines, bench.EngineResult{
				Engine: e.Name, Family: e.Family, Settings: e.Settings, Unavailable: e.Unavailable,
			})
			continue
		}
		res := runOne(ctx, o, exe, cfgPath, runDir, e, stderr)
		if res.Error != "" {
			failed = append(failed, e.Name)
		}
		rep.Engines = append(rep.Engines, res)
	}
	if err := writeOutputs(rep, o.out, stdout, stderr); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("engines failed: %s (see the report)", strings.Join(failed, ", "))
	}
	return nil
}

// runOne runs engine e in a child process and returns its result; a child
// that dies without writing one yields a result holding the error.
func runOne(ctx context.Context, o *options, exe, cfgPath, runDir string, e bench.Engine, stderr io.Writer) bench.EngineResult {
	dir := filepath.Join(runDir, e.Name)
	outPath := filepath.Join(runDir, e.Name+".json")
	fail := func(err error) bench.EngineResult {
		fmt.Fprintf(stderr, "%s: FAILED: %v\n", e.Name, err)
		return bench.EngineResult{Engine: e.Name, Family: e.Family, Settings: e.Settings, Error: err.Error()}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "-child", e.Name, "-child-config", cfgPath,
		"-child-dir", dir, "-child-out", outPath)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Interrupt first so the child can close its store; kill if it lingers.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	runErr := cmd.Run()
	b, readErr := os.ReadFile(outPath)
	if readErr != nil {
		if runErr == nil {
			runErr = readErr
		}
		if cctx.Err() != nil {
			runErr = fmt.Errorf("%w (limit %v)", cctx.Err(), o.timeout)
		}
		return fail(fmt.Errorf("child: %w", runErr))
	}
	var res bench.EngineResult
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(fmt.Errorf("child result: %w", err))
	}
	if runErr != nil && res.Error == "" {
		res.Error = runErr.Error()
	}
	if res.Error != "" {
		fmt.Fprintf(stderr, "%s: FAILED: %s\n", e.Name, res.Error)
	}
	return res
}

// runChild runs one engine in this process and writes its result JSON.
func runChild(ctx context.Context, o *options, stderr io.Writer) error {
	b, err := os.ReadFile(o.childCfg)
	if err != nil {
		return err
	}
	var cfg bench.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	reg, err := engines.Registry()
	if err != nil {
		return err
	}
	e, ok := reg.Lookup(o.childName)
	if !ok {
		return fmt.Errorf("unknown engine %q", o.childName)
	}
	r := &bench.Runner{Config: cfg, Engine: e, Dir: o.childDir, Log: stderr}
	res, runErr := r.Run(ctx)
	res.PeakRSS = bench.PeakRSS()
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.childOut, out, 0o644); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// writeOutputs writes results.json, results.md and the charts into dir, and
// the markdown to stdout.
func writeOutputs(rep *bench.Report, dir string, stdout, stderr io.Writer) error {
	jf, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(jf); err != nil {
		jf.Close()
		return err
	}
	if err := jf.Close(); err != nil {
		return err
	}
	return renderFiles(rep, dir, stdout, stderr)
}

func renderFiles(rep *bench.Report, dir string, stdout, stderr io.Writer) error {
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, md.String())
	paths, err := rep.WriteCharts(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s, %s and %s\n", filepath.Join(dir, "results.md"),
		filepath.Join(dir, "results.json"), strings.Join(paths, ", "))
	return nil
}

// rerender rebuilds results.md and the charts from a results.json, in the
// directory that holds it.
func rerender(o *options, stdout, stderr io.Writer) error {
	f, err := os.Open(o.render)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := bench.ReadReport(f)
	if err != nil {
		return err
	}
	return renderFiles(rep, filepath.Dir(o.render), stdout, stderr)
}
