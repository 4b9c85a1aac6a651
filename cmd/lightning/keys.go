package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/aesgcm"
	"github.com/lightningdb/lightning/vfs"
)

// lockFile is the file the core locks in a database directory while the
// database is open (core/db.go); the keys commands take the same lock, so
// they never write a registry that a running database also writes.
const lockFile = "LOCK"

// keyFlags name a master key: a key file or an environment variable.
type keyFlags struct {
	file, env string
}

func (k *keyFlags) register(cmd *cobra.Command, prefix, what string) {
	cmd.Flags().StringVar(&k.file, prefix+"key-file", "", "file holding the "+what+" master key (64 hex digits, 44 base64 characters or 32 raw bytes)")
	cmd.Flags().StringVar(&k.env, prefix+"key-env", "", "environment variable holding the "+what+" master key (64 hex digits or 44 base64 characters)")
	cmd.MarkFlagsMutuallyExclusive(prefix+"key-file", prefix+"key-env")
}

func (k *keyFlags) set() bool { return k.file != "" || k.env != "" }

// provider returns the key source the flags name; prefix names the flags
// in the error when none is set.
func (k *keyFlags) provider(prefix string) (aesgcm.KeyProvider, error) {
	switch {
	case k.file != "":
		return aesgcm.KeyFile(k.file), nil
	case k.env != "":
		return aesgcm.KeyEnv(k.env), nil
	}
	return nil, fmt.Errorf("set --%skey-file or --%skey-env: %w", prefix, prefix, interfaces.ErrInvalidArgument)
}

// registryFlags are what every command that opens a database's key
// registry takes.
type registryFlags struct {
	dir    string
	master keyFlags
}

func (f *registryFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "the database directory (required); its key registry is DIR/"+aesgcm.RegistryFile)
	_ = cmd.MarkFlagRequired("dir")
	f.master.register(cmd, "", "current")
}

// openRegistry locks the database directory and opens its key registry
// with the master key, and any of old. The database must be closed: a
// registry has one writer. The caller closes the cipher, then the lock.
func (f *registryFlags) openRegistry(old ...aesgcm.KeyProvider) (*aesgcm.Cipher, io.Closer, error) {
	master, err := f.master.provider("")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(f.dir, aesgcm.RegistryFile)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s has no key registry (%s): is it an encrypted database, opened at least once?", f.dir, path)
		}
		return nil, nil, err
	}
	lock, err := vfs.Default.Lock(filepath.Join(f.dir, lockFile))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, nil, fmt.Errorf("%s is open in another process; rotate online with (*aesgcm.Cipher).RotateMaster, or close it first: %w", f.dir, err)
		}
		return nil, nil, fmt.Errorf("lock %s: %w", f.dir, err)
	}
	c, err := aesgcm.Open(aesgcm.Options{
		FS:         vfs.Default,
		Path:       path,
		Master:     master,
		OldMasters: old,
		MustExist:  true,
		// The database is closed and locked: no block is on its way to
		// disk, so a retired key no file holds can go at once.
		PruneGrace: -1,
	})
	if err != nil {
		_ = lock.Close()
		return nil, nil, err
	}
	return c, lock, nil
}

// closeRegistry closes c, then releases the lock.
func closeRegistry(c *aesgcm.Cipher, lock io.Closer) error {
	return errors.Join(c.Close(), lock.Close())
}

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage an encrypted database's keys: status, rotate, prune, generate",
		Long: `Manage the keys of a database encrypted with AES-256-GCM (plugins/aesgcm).

A master key, from a key file or an environment variable, wraps the key
registry DIR/KEYS, which holds the data keys that seal the database's
files. Every command but generate needs the database closed (it takes the
database's lock); a running database rotates online through its API
(lightning.KeyRegistry(db).RotateMaster). docs/OPERATIONS.md walks through
key setup and rotation.`,
	}
	cmd.AddCommand(keysStatusCmd(), keysRotateCmd(), keysPruneCmd(), keysGenerateCmd())
	return cmd
}

func keysStatusCmd() *cobra.Command {
	var (
		rf     registryFlags
		scan   bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status --dir DIR (--key-file F | --key-env VAR)",
		Short: "Show the key registry: data keys, their encryptions, which is current",
		Long: `Show the key registry of the database in DIR: every data key, when it was
created and retired, how many encryptions are reserved for it (an upper
bound of the blocks it has sealed, across every run; a key is retired
before it passes 2^32), and which key new writes use. With --scan, also
which keys the database's files still use (a retired key nobody uses can
be pruned). Key material is never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, lock, err := rf.openRegistry()
			if err != nil {
				return err
			}
			defer func() { _ = closeRegistry(c, lock) }()
			st, err := c.Status()
			if err != nil {
				return err
			}
			var inUse []aesgcm.KeyID
			if scan {
				if inUse, err = c.KeysInUse(vfs.Default, rf.dir); err != nil {
					return err
				}
			}
			if asJSON {
				return writeStatusJSON(cmd.OutOrStdout(), st, scan, inUse)
			}
			return writeStatus(cmd.OutOrStdout(), st, scan, inUse)
		},
	}
	rf.register(cmd)
	cmd.Flags().BoolVar(&scan, "scan", false, "read every file of the database to show which keys are in use")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// writeStatus prints st as a table.
func writeStatus(w io.Writer, st aesgcm.Status, scanned bool, inUse []aesgcm.KeyID) error {
	fmt.Fprintf(w, "registry    %s\n", st.Path)
	fmt.Fprintf(w, "generation  %d\n", st.Generation)
	fmt.Fprintf(w, "current     key %d\n", st.Current)
	if st.RewrapPending {
		fmt.Fprintln(w, "wrapping    by an old master key; the next write rewraps it")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "KEY\tSTATE\tCREATED\tRETIRED\tRESERVED ENCRYPTIONS"
	if scanned {
		header += "\tIN USE"
	}
	fmt.Fprintln(tw, header)
	for _, k := range st.Keys {
		state, retired := "retired", k.Retired.Format(time.RFC3339)
		if k.Current {
			state, retired = "current", "-"
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%d", k.ID, state, k.Created.Format(time.RFC3339), retired, k.Reserved)
		if scanned {
			line += "\t" + yesNo(slices.Contains(inUse, k.ID))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// statusJSON is the --json form of the status.
type statusJSON struct {
	Registry      string    `json:"registry"`
	Generation    uint64    `json:"generation"`
	Current       uint32    `json:"current"`
	RewrapPending bool      `json:"rewrap_pending"`
	Keys          []keyJSON `json:"keys"`
}

type keyJSON struct {
	ID       uint32     `json:"id"`
	Current  bool       `json:"current"`
	Created  time.Time  `json:"created"`
	Retired  *time.Time `json:"retired,omitempty"`
	Reserved uint64     `json:"reserved_encryptions"`
	// InUse is set only with --scan.
	InUse *bool `json:"in_use,omitempty"`
}

func writeStatusJSON(w io.Writer, st aesgcm.Status, scanned bool, inUse []aesgcm.KeyID) error {
	out := statusJSON{Registry: st.Path, Generation: st.Generation, Current: uint32(st.Current), RewrapPending: st.RewrapPending}
	for _, k := range st.Keys {
		kj := keyJSON{ID: uint32(k.ID), Current: k.Current, Created: k.Created, Reserved: k.Reserved}
		if !k.Retired.IsZero() {
			r := k.Retired
			kj.Retired = &r
		}
		if scanned {
			used := slices.Contains(inUse, k.ID)
			kj.InUse = &used
		}
		out.Keys = append(out.Keys, kj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func keysRotateCmd() *cobra.Command {
	var (
		rf      registryFlags
		next    keyFlags
		dataKey bool
	)
	cmd := &cobra.Command{
		Use:   "rotate --dir DIR (--key-file F | --key-env VAR) [--new-key-file F | --new-key-env VAR] [--data-key]",
		Short: "Rotate the master key (rewrap the key registry) and/or the data key",
		Long: `Rotate the master key of the database in DIR: the key registry is rewrapped
under the new master key, atomically (a crash leaves it wrapped by the old
key or the new one); no data is rewritten. Afterwards only the new key
opens the database. Running it again with the same keys after a crash, or
after it succeeded, is safe: a registry already under the new key is
accepted and rewrapped once more.

With --data-key, a new data key becomes current for new writes as well
(or alone, without a new master key); blocks written before keep their
key until compaction rewrites them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !next.set() && !dataKey {
				return fmt.Errorf("nothing to rotate: set --new-key-file or --new-key-env (the master key), --data-key, or both: %w",
					interfaces.ErrInvalidArgument)
			}
			var old []aesgcm.KeyProvider
			var nextKey aesgcm.KeyProvider
			if next.set() {
				p, err := next.provider("new-")
				if err != nil {
					return err
				}
				// A rotation that crashed after the rename, or ran before,
				// left the registry under the new key.
				nextKey, old = p, []aesgcm.KeyProvider{p}
			}
			c, lock, err := rf.openRegistry(old...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			err = func() error {
				if dataKey {
					id, err := c.RotateDataKey()
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "data key %d is current\n", id)
				}
				if nextKey != nil {
					if err := c.RotateMaster(nextKey); err != nil {
						return err
					}
					fmt.Fprintf(out, "key registry %s rewrapped under the master key from %s\n",
						filepath.Join(rf.dir, aesgcm.RegistryFile), nextKey)
				}
				return nil
			}()
			return errors.Join(err, closeRegistry(c, lock))
		},
	}
	rf.register(cmd)
	next.register(cmd, "new-", "new")
	cmd.Flags().BoolVar(&dataKey, "data-key", false, "also make a new data key current for new writes")
	return cmd
}

func keysPruneCmd() *cobra.Command {
	var (
		rf    registryFlags
		extra []string
	)
	cmd := &cobra.Command{
		Use:   "prune --dir DIR (--key-file F | --key-env VAR) [--also DIR]...",
		Short: "Remove retired data keys that no file of the database uses",
		Long: `Read every file under DIR (and every --also directory: a WAL archive or
backups kept elsewhere) for the keys that sealed them, and remove from the
key registry every retired data key none of them uses. The current key,
and any key a file still uses, are never removed. Blocks sealed by a
removed key can no longer be read: point --also at every place copies of
the database live.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, lock, err := rf.openRegistry()
			if err != nil {
				return err
			}
			removed, err := c.Prune(vfs.Default, append([]string{rf.dir}, extra...)...)
			if err == nil {
				if len(removed) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no data key to prune: every retired key is still in use")
				} else {
					ids := make([]string, len(removed))
					for i, id := range removed {
						ids[i] = fmt.Sprint(id)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "pruned data keys %s\n", strings.Join(ids, ", "))
				}
			}
			return errors.Join(err, closeRegistry(c, lock))
		},
	}
	rf.register(cmd)
	cmd.Flags().StringArrayVar(&extra, "also", nil, "another directory holding the database's files (repeatable)")
	return cmd
}

func keysGenerateCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Write a new random master key to a file (64 hex digits, mode 0600)",
		Long: `Write a new random 256-bit master key, from the operating system's secure
random source, to FILE as 64 hex digits and a newline, readable by its
owner only. FILE must not exist: a key is never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := aesgcm.GenerateKey()
			if err != nil {
				return err
			}
			defer clear(key)
			text := make([]byte, hex.EncodedLen(len(key)), hex.EncodedLen(len(key))+1)
			defer clear(text)
			hex.Encode(text, key)
			text = append(text, '\n')
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("write the key: %w", err)
			}
			_, err = f.Write(text)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				_ = os.Remove(out)
				return fmt.Errorf("write the key to %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a new master key to %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the file to create (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
