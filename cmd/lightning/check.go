package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/lightningdb/lightning"
	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/vfs"
)

// errCheckFailed is returned when a check found damage; run maps it to
// exit status 1, as a failed conformance run.
var errCheckFailed = exitError{code: 1}

// infoCmd prints a database's identity without opening it.
func infoCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "info --dir DIR",
		Short: "Show which engine, codec and cipher made a database",
		Long: `Show what the identity file of the database in DIR records: the format
version, engine, codec and cipher it was created with, and when. It neither
opens nor locks the database, so it works while a process has it open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := core.ReadInfo(vfs.Default, dir)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), infoJSON(info))
			}
			writeInfo(cmd.OutOrStdout(), dir, info)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the database directory (required)")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// checkCmd opens a database and verifies everything it has on disk.
func checkCmd() *cobra.Command {
	var (
		dir    string
		master keyFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check --dir DIR [--key-file F | --key-env VAR]",
		Short: "Verify every checksum and structural invariant of a database",
		Long: `Open the database in DIR with the engine, codec and cipher its identity
file names, then verify the engine's files (every block or page checksum,
key order within and across files, the manifest or meta pages) and the
write-ahead log. An encrypted database needs its master key.

Opening recovers the database as any Open does (replaying the log), so the
database must not be open in another process. A log record that is
damaged with whole records after it stops the open; check reports it
rather than truncating the log.

The exit status is 0 when nothing is wrong, 1 when damage was found, and 2
when the check could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := core.ReadInfo(vfs.Default, dir)
			if err != nil {
				return err
			}
			if !slices.Contains(lightning.Engines(), info.Engine) {
				return fmt.Errorf("%s was made by engine %q, which this build does not have (it has %v)",
					dir, info.Engine, lightning.Engines())
			}
			opts := []lightning.Option{lightning.WithEngine(info.Engine), lightning.WithCodec(info.Codec)}
			if info.Encrypted() {
				p, err := master.provider("")
				if err != nil {
					return fmt.Errorf("%s is encrypted (cipher %s): %w", dir, info.Cipher, err)
				}
				opts = append(opts, lightning.WithMasterKey(p))
			}
			out := cmd.OutOrStdout()
			report := checkReport{Dir: dir, Info: infoJSON(info)}
			db, err := lightning.Open(dir, opts...)
			if err != nil {
				if !lightning.IsCorruption(err) {
					return err
				}
				report.Problems = []string{err.Error()}
				return finishCheck(out, report, asJSON)
			}
			checkErr := db.Check()
			st := db.Stats()
			report.Stats = &st
			if closeErr := db.Close(); closeErr != nil && checkErr == nil {
				return closeErr
			}
			if checkErr != nil {
				if !lightning.IsCorruption(checkErr) {
					return checkErr
				}
				report.Problems = problems(checkErr)
			}
			return finishCheck(out, report, asJSON)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the database directory (required)")
	_ = cmd.MarkFlagRequired("dir")
	master.register(cmd, "", "database's")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// checkReport is what check prints.
type checkReport struct {
	Dir      string           `json:"dir"`
	Info     map[string]any   `json:"info"`
	OK       bool             `json:"ok"`
	Problems []string         `json:"problems,omitempty"`
	Stats    *lightning.Stats `json:"stats,omitempty"`
}

func finishCheck(w io.Writer, r checkReport, asJSON bool) error {
	r.OK = len(r.Problems) == 0
	if asJSON {
		if err := writeJSON(w, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "database    %s\n", r.Dir)
		fmt.Fprintf(w, "made by     engine %v, codec %v, cipher %v (format %v)\n",
			r.Info["engine"], r.Info["codec"], r.Info["cipher"], r.Info["format"])
		if st := r.Stats; st != nil {
			fmt.Fprintf(w, "engine      %d bytes on disk, durable ts %d\n", st.Storage.DiskBytes, st.DurableTs)
			fmt.Fprintf(w, "wal         %d segments, %d bytes, %d commits replayed at open\n",
				st.WAL.Segments, st.WAL.LiveBytes, st.RecoveredCommits)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "DAMAGE      %s\n", p)
		}
		if r.OK {
			fmt.Fprintln(w, "ok")
		} else {
			fmt.Fprintf(w, "%d problem(s) found\n", len(r.Problems))
		}
	}
	if !r.OK {
		return errCheckFailed
	}
	return nil
}

// problems splits a joined error into its parts.
func problems(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func infoJSON(i core.Info) map[string]any {
	return map[string]any{
		"format":  i.Format,
		"engine":  i.Engine,
		"codec":   i.Codec,
		"cipher":  i.Cipher,
		"created": i.Created,
	}
}

func writeInfo(w io.Writer, dir string, i core.Info) {
	fmt.Fprintf(w, "database  %s\n", dir)
	fmt.Fprintf(w, "format    %d\n", i.Format)
	fmt.Fprintf(w, "engine    %s\n", i.Engine)
	fmt.Fprintf(w, "codec     %s\n", i.Codec)
	fmt.Fprintf(w, "cipher    %s\n", i.Cipher)
	fmt.Fprintf(w, "created   %s\n", i.Created)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
