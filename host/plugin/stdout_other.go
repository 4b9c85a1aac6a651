//go:build !unix

package plugin

import "os"

// realStdout is the process's standard output. Without dup2, only output
// through os.Stdout is filtered (startHandshakeFilter); output written to
// the descriptor directly is not.
var realStdout = os.Stdout
