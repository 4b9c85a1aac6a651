// Command lightning is Lightning's command-line tool.
//
//	lightning conformance --plugin PATH [--sha256 SUM] [--run REGEX] [--short] [-v]
//	lightning describe --plugin PATH [--sha256 SUM]
//	lightning keys status|rotate|prune --dir DIR (--key-file F | --key-env VAR) ...
//	lightning keys generate --out FILE
//	lightning check --dir DIR [--key-file F | --key-env VAR] [--json]
//	lightning info --dir DIR [--json]
//
// conformance runs the conformance suite of every part a plugin binary
// serves (by its Describe) against the binary, out of process, and prints
// go-test-style results ending with a line "N passed, M failed"; the exit
// status is 1 when any test failed. describe prints what a plugin serves.
// keys manages an encrypted database's master and data keys (keys.go).
// check opens a database and verifies its files and log; info prints which
// engine, codec and cipher made it (check.go).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries a command's exit status out of cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "lightning",
		Short:         "Lightning, an embedded ordered key-value database: tools",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(conformanceCmd(), describeCmd(), keysCmd(), checkCmd(), infoCmd())
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if e, ok := err.(exitError); ok {
		return e.code
	}
	fmt.Fprintf(stderr, "lightning: %v\n", err)
	return 2
}
