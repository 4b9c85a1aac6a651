package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles the main package in pkgDir (a directory, or a package
// path run from the current module) into a temporary directory and
// returns the binary's path. It fails t when the build fails. The binary
// is removed when t ends.
func Build(t testing.TB, pkgDir string, flags ...string) string {
	t.Helper()
	name := filepath.Base(filepath.Clean(pkgDir))
	if name == "." || name == string(filepath.Separator) {
		name = "plugin"
	}
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, pkgDir)
	cmd := exec.Command("go", args...)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}
