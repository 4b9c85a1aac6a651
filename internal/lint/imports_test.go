package lint

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/lightningdb/lightning"

// A rule says which of our packages a package may import. dir is the
// package's directory relative to the module root, with slashes.
type rule struct {
	name    string
	applies func(dir string) bool
	// allowed reports whether a package in dir may import ours (a path
	// relative to the module root). Test files get testAllowed as well.
	allowed     func(dir, imp string) bool
	testAllowed func(dir, imp string) bool
	// forbiddenStd lists standard-library or third-party imports a package
	// must never have (by import path).
	forbiddenStd []string
}

func under(dir, root string) bool { return dir == root || strings.HasPrefix(dir, root+"/") }

// pluginRoot returns "plugins/x" for any dir under plugins/x.
func pluginRoot(dir string) string {
	parts := strings.SplitN(dir, "/", 3)
	if len(parts) < 2 {
		return dir
	}
	return parts[0] + "/" + parts[1]
}

// The rules of DESIGN.md, "Layout and the direction of imports".
var rules = []rule{
	{
		name:    "interfaces imports nothing of ours",
		applies: func(dir string) bool { return under(dir, "interfaces") },
		allowed: func(dir, imp string) bool { return under(imp, "interfaces") },
		testAllowed: func(dir, imp string) bool {
			return under(imp, "interfaces") || imp == "vfs" || imp == "conformance"
		},
	},
	{
		name:        "vfs imports nothing of ours",
		applies:     func(dir string) bool { return under(dir, "vfs") },
		allowed:     func(dir, imp string) bool { return under(imp, "vfs") },
		testAllowed: func(dir, imp string) bool { return under(imp, "vfs") },
	},
	{
		name:    "plugins import only interfaces and vfs (and their own subpackages)",
		applies: func(dir string) bool { return under(dir, "plugins") },
		allowed: func(dir, imp string) bool {
			return under(imp, "interfaces") || under(imp, "vfs") || under(imp, pluginRoot(dir))
		},
		testAllowed: func(dir, imp string) bool { return imp == "conformance" || under(imp, "internal/testutil") },
	},
	{
		name:    "core imports only interfaces and vfs, never a plugin or host",
		applies: func(dir string) bool { return under(dir, "core") },
		allowed: func(dir, imp string) bool {
			return under(imp, "interfaces") || under(imp, "vfs") || under(imp, "core")
		},
		testAllowed: func(dir, imp string) bool {
			return imp == "conformance" || under(imp, "plugins") || under(imp, "internal/testutil")
		},
	},
	{
		name:    "conformance imports only interfaces and vfs",
		applies: func(dir string) bool { return under(dir, "conformance") },
		allowed: func(dir, imp string) bool {
			return under(imp, "interfaces") || under(imp, "vfs") || under(imp, "conformance")
		},
		testAllowed: func(dir, imp string) bool { return true },
	},
	{
		name:         "the encryption plugin never uses math/rand",
		applies:      func(dir string) bool { return under(dir, "plugins/aesgcm") },
		allowed:      func(dir, imp string) bool { return true },
		testAllowed:  func(dir, imp string) bool { return true },
		forbiddenStd: []string{"math/rand", "math/rand/v2"},
	},
}

type goFile struct {
	dir     string // relative to the module root
	path    string
	test    bool
	imports []string
}

// violations checks files against rules and returns one line per broken
// rule, sorted.
func violations(files []goFile) []string {
	var out []string
	for _, f := range files {
		for _, r := range rules {
			if !r.applies(f.dir) {
				continue
			}
			for _, imp := range f.imports {
				for _, bad := range r.forbiddenStd {
					if imp == bad {
						out = append(out, f.path+": imports "+imp+": "+r.name)
					}
				}
				rel, ours := strings.CutPrefix(imp, module+"/")
				if !ours {
					continue
				}
				if r.allowed(f.dir, rel) || (f.test && r.testAllowed(f.dir, rel)) {
					continue
				}
				out = append(out, f.path+": imports "+imp+": breaks \""+r.name+"\"")
			}
		}
	}
	sort.Strings(out)
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "no go.mod above the test")
		dir = parent
	}
}

// parseTree reads the imports of every .go file of the main module: it skips
// testdata and directories holding their own go.mod (bench/, examples with
// their own module), which are other modules.
func parseTree(t *testing.T, root string) []goFile {
	t.Helper()
	var files []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		af, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		f := goFile{
			dir:  filepath.ToSlash(filepath.Dir(rel)),
			path: filepath.ToSlash(rel),
			test: strings.HasSuffix(path, "_test.go"),
		}
		for _, is := range af.Imports {
			p, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return err
			}
			f.imports = append(f.imports, p)
		}
		files = append(files, f)
		return nil
	})
	require.NoError(t, err)
	return files
}

func TestImportDirection(t *testing.T) {
	files := parseTree(t, moduleRoot(t))
	require.NotEmpty(t, files)
	require.Empty(t, violations(files), "imports that break the layout of DESIGN.md")
}

// TestRulesCatchViolations proves the rules can fail: each case is an import
// the layout forbids (or allows), checked against the rule set.
func TestRulesCatchViolations(t *testing.T) {
	cases := []struct {
		dir, imp string
		test     bool
		bad      bool
	}{
		{"interfaces", module + "/vfs", false, true},
		{"interfaces", module + "/core", false, true},
		{"interfaces/ordered", module + "/interfaces", false, false},
		{"interfaces/ordered", module + "/conformance", true, false},
		{"vfs", module + "/interfaces", false, true},
		{"plugins/lsm", module + "/core", false, true},
		{"plugins/lsm", module + "/plugins/arc", false, true},
		{"plugins/lsm", module + "/host", false, true},
		{"plugins/lsm/internal/sst", module + "/plugins/lsm/internal/arena", false, false},
		{"plugins/lsm", module + "/interfaces", false, false},
		{"plugins/lsm", module + "/vfs", false, false},
		{"plugins/lsm", module + "/conformance", false, true},
		{"plugins/lsm", module + "/conformance", true, false},
		{"core", module + "/plugins/memory", false, true},
		{"core", module + "/host", false, true},
		{"core", module + "/plugins/memory", true, false},
		{"core/internal/wal", module + "/vfs", false, false},
		{"conformance", module + "/plugins/memory", false, true},
		{"plugins/aesgcm", "math/rand", false, true},
		{"plugins/aesgcm", "math/rand/v2", true, true},
		{"plugins/aesgcm", "crypto/rand", false, false},
		{"host", module + "/plugins/lsm", false, false},
		{".", module + "/plugins/lsm", false, false},
	}
	for _, c := range cases {
		got := violations([]goFile{{dir: c.dir, path: c.dir + "/x.go", test: c.test, imports: []string{c.imp}}})
		require.Equal(t, c.bad, len(got) > 0, "%s importing %s (test=%v): %v", c.dir, c.imp, c.test, got)
	}
}

// TestNoPeerDependencies keeps the comparison engines (and anything else
// heavy) out of the main module: they belong to bench/'s own go.mod.
func TestNoPeerDependencies(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	require.NoError(t, err)
	for _, peer := range []string{
		"github.com/cockroachdb/pebble",
		"github.com/dgraph-io/badger",
		"go.etcd.io/bbolt",
		"github.com/syndtr/goleveldb",
		"github.com/hashicorp/golang-lru",
	} {
		require.NotContains(t, string(data), peer, "peer engines live in bench/go.mod, never in the main module")
	}
}
