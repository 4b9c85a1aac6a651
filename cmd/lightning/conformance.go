package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/host/plugintest"
	"github.com/lightningdb/lightning/interfaces"
)

// pluginFlags are the flags every command that starts a plugin takes.
type pluginFlags struct {
	path         string
	sha256       string
	startTimeout time.Duration
	callTimeout  time.Duration
	logLevel     string
}

func (f *pluginFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "plugin", "", "path of the plugin binary (required)")
	cmd.Flags().StringVar(&f.sha256, "sha256", "", "expected SHA-256 of the binary, in hex: a binary that differs is not started")
	cmd.Flags().DurationVar(&f.startTimeout, "start-timeout", host.DefaultStartTimeout, "bound on the plugin's start and handshake")
	cmd.Flags().DurationVar(&f.callTimeout, "call-timeout", time.Minute, "bound on each call to the plugin (0: none), so a hung plugin fails instead of hanging")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "warn", "level of the plugin's logs shown on standard error (debug, info, warn, error)")
	_ = cmd.MarkFlagRequired("plugin")
}

func (f *pluginFlags) options(stderr io.Writer) (host.PluginOptions, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return host.PluginOptions{}, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	return host.PluginOptions{
		SHA256:       f.sha256,
		StartTimeout: f.startTimeout,
		CallTimeout:  f.callTimeout,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}, nil
}

func conformanceCmd() *cobra.Command {
	var (
		pf      pluginFlags
		pattern string
		short   bool
		verbose bool
		kinds   []string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "conformance --plugin PATH",
		Short: "Run the conformance suites against a plugin binary",
		Long: `conformance starts the plugin binary, asks what it serves (its Describe), and
runs the conformance suite of each part — Storage, Cache, Codec, Cipher — against
it, out of process. Storage instances each get a process of their own, so the
crash tests kill it (SIGKILL) and reopen the storage in a new one.

Results are printed as go test prints them; the last line is "N passed, M failed"
(leaf tests). The exit status is 0 when every test passed, 1 when one failed,
and 2 on a usage error. Randomised tests print their seed when they fail;
LIGHTNING_CONFORMANCE_SEED=SEED replays it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := pf.options(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var filter []*regexp.Regexp
			if pattern != "" {
				if filter, err = compileRun(pattern); err != nil {
					return err
				}
			}
			var ks []interfaces.Kind
			for _, k := range kinds {
				ks = append(ks, interfaces.Kind(strings.ToLower(k)))
			}
			out := cmd.OutOrStdout()
			r := newRoot(out, filter, verbose, short)
			if timeout > 0 {
				t := time.AfterFunc(timeout, func() {
					fmt.Fprintf(out, "panic: test timed out after %v\nFAIL\t%s\n0 passed, 1 failed\n", timeout, pf.path)
					os.Exit(1)
				})
				defer t.Stop()
			}
			start := time.Now()
			r.run(func(t *T) {
				plugintest.Run(t, pf.path, plugintest.Options{Plugin: opts, Kinds: ks})
			})
			passed, failed := r.counts()
			status := "ok  "
			if failed > 0 {
				status = "FAIL"
			}
			fmt.Fprintf(out, "%s\t%s\t%.3fs\n", status, pf.path, time.Since(start).Seconds())
			if sk := r.skipped(); sk > 0 {
				fmt.Fprintf(out, "%d skipped\n", sk)
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVar(&pattern, "run", "", "run only the tests matching the regular expression, as go test -run (Storage/Crash, Codec/RoundTrip)")
	cmd.Flags().BoolVar(&short, "short", false, "shorter randomised runs, as go test -short")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test and its log, as go test -v")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "run only the suites of these kinds (storage, cache, codec, cipher)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "fail the whole run after this long (0: never)")
	return cmd
}

func describeCmd() *cobra.Command {
	var pf pluginFlags
	cmd := &cobra.Command{
		Use:   "describe --plugin PATH",
		Short: "Print the parts a plugin binary serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := pf.options(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := host.StartPlugin(pf.path, opts)
			if err != nil {
				return err
			}
			defer p.Close()
			for _, d := range p.Parts() {
				caps := make([]string, len(d.Capabilities))
				for i, c := range d.Capabilities {
					caps[i] = string(c)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\tcontract v%d\t%s\n",
					d.Kind, d.Name, d.Version, d.ContractVersion, strings.Join(caps, ","))
			}
			return nil
		},
	}
	pf.register(cmd)
	return cmd
}

// compileRun splits a -run pattern into one regular expression per level
// of test names, as go test does (slashes separate levels, except inside
// brackets or parentheses).
func compileRun(pattern string) ([]*regexp.Regexp, error) {
	var (
		parts []string
		depth int
		cur   strings.Builder
	)
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			cur.WriteByte(c)
			i++
			cur.WriteByte(pattern[i])
			continue
		case c == '[' || c == '(':
			depth++
		case (c == ']' || c == ')') && depth > 0:
			depth--
		case c == '/' && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	parts = append(parts, cur.String())
	out := make([]*regexp.Regexp, len(parts))
	for i, p := range parts {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("--run %q: %w", pattern, err)
		}
		out[i] = re
	}
	return out, nil
}
