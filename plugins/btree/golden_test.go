package btree

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree/internal/page"
	"github.com/lightningdb/lightning/vfs"
)

// The golden tests drive the engine with scripts in testdata/*.txt and
// compare what it prints — mostly the shape of the tree — with the expected
// output in the file. Run with -update to rewrite the expectations after a
// deliberate change, and read the diff.
//
// A script is a sequence of blocks:
//
//	command arg=value ...
//	input lines (optional)
//	----
//	expected output
//	(blank line)
//
// Commands:
//
//	open [page-size=N]          a fresh engine on a fresh MemFS
//	apply                       one Apply of the input lines, "key@ts=value"
//	                            or "key@ts:del"
//	fill prefix=P n=N ts=T [from=F] [value=V]
//	                            one Apply setting keys P0000.. at ts T
//	delete prefix=P from=F to=T ts=S
//	                            one Apply deleting keys P<F>..P<T-1>
//	flush                       Flush; prints the durable ts
//	discard ts=N                SetDiscardTs
//	compact                     Compact(all)
//	get key [ts=N]              Get
//	tree                        the tree: every node, its page and keys
//	check                       Check; prints ok or the problems
//	reopen                      Close and New on the same file system

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runGolden(t, file)
		})
	}
}

type goldenBlock struct {
	cmd    string
	input  []string
	expect []string
}

func parseGolden(t *testing.T, file string) []goldenBlock {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var blocks []goldenBlock
	var cur *goldenBlock
	inExpect := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
			blocks = append(blocks, goldenBlock{cmd: line})
		case cur == nil:
			blocks = append(blocks, goldenBlock{cmd: line})
			cur = &blocks[len(blocks)-1]
			inExpect = false
		case !inExpect && line == "----":
			inExpect = true
		case !inExpect:
			cur.input = append(cur.input, line)
		case line == "":
			cur = nil
		default:
			cur.expect = append(cur.expect, line)
		}
	}
	require.NoError(t, sc.Err())
	return blocks
}

func runGolden(t *testing.T, file string) {
	blocks := parseGolden(t, file)
	g := &golden{t: t}
	defer g.close()
	var out bytes.Buffer
	for i := range blocks {
		b := &blocks[i]
		if b.cmd == "" || strings.HasPrefix(b.cmd, "#") {
			out.WriteString(b.cmd + "\n")
			continue
		}
		got := g.run(b.cmd, b.input)
		out.WriteString(b.cmd + "\n")
		for _, l := range b.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range got {
			out.WriteString(l + "\n")
		}
		out.WriteString("\n")
		if !*update && strings.Join(got, "\n") != strings.Join(b.expect, "\n") {
			t.Errorf("%s: %s:\n got:\n%s\n want:\n%s", file, b.cmd, strings.Join(got, "\n"), strings.Join(b.expect, "\n"))
		}
	}
	if *update {
		require.NoError(t, os.WriteFile(file, append(bytes.TrimRight(out.Bytes(), "\n"), '\n'), 0o644))
	}
}

type golden struct {
	t  *testing.T
	fs *vfs.MemFS
	e  *Engine
	ps int
}

func (g *golden) close() {
	if g.e != nil {
		require.NoError(g.t, g.e.Close())
		g.e = nil
	}
}

func (g *golden) open() {
	e, err := New(Options{Dir: "db", PageSize: g.ps}, Deps{FS: g.fs})
	require.NoError(g.t, err)
	g.e = e
}

func goldenArgs(t *testing.T, fields []string) map[string]string {
	args := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			args[f] = ""
			continue
		}
		args[k] = v
	}
	return args
}

func (g *golden) num(args map[string]string, name string, def uint64) uint64 {
	s, ok := args[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	require.NoError(g.t, err, "argument %s", name)
	return n
}

func (g *golden) run(cmd string, input []string) []string {
	fields := strings.Fields(cmd)
	args := goldenArgs(g.t, fields[1:])
	errOut := func(err error) []string {
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{"ok"}
	}
	switch fields[0] {
	case "open":
		g.close()
		g.fs = vfs.NewMem()
		g.ps = int(g.num(args, "page-size", DefaultPageSize))
		g.open()
		return nil
	case "reopen":
		g.close()
		g.open()
		return nil
	case "apply":
		var es []interfaces.Entry
		for _, l := range input {
			es = append(es, parseGoldenEntry(g.t, l))
		}
		return errOut(g.e.Apply(es))
	case "fill":
		n, from, ts := g.num(args, "n", 0), g.num(args, "from", 0), g.num(args, "ts", 1)
		var es []interfaces.Entry
		for i := from; i < from+n; i++ {
			v := args["value"]
			if v == "" {
				v = fmt.Sprintf("v%d", i)
			}
			es = append(es, interfaces.Entry{Key: []byte(fmt.Sprintf("%s%04d", args["prefix"], i)), Ts: ts, Kind: interfaces.KindSet, Value: []byte(v)})
		}
		return errOut(g.e.Apply(es))
	case "delete":
		from, to, ts := g.num(args, "from", 0), g.num(args, "to", 0), g.num(args, "ts", 1)
		var es []interfaces.Entry
		for i := from; i < to; i++ {
			es = append(es, interfaces.Entry{Key: []byte(fmt.Sprintf("%s%04d", args["prefix"], i)), Ts: ts, Kind: interfaces.KindDelete})
		}
		return errOut(g.e.Apply(es))
	case "flush":
		d, err := g.e.Flush()
		if err != nil {
			return errOut(err)
		}
		return []string{fmt.Sprintf("durable %d", d)}
	case "discard":
		return errOut(g.e.SetDiscardTs(g.num(args, "ts", 0)))
	case "compact":
		return errOut(g.e.Compact(interfaces.KeyRange{}))
	case "get":
		ts := g.num(args, "ts", math.MaxUint64)
		v, vts, err := g.e.Get([]byte(fields[1]), ts)
		if errors.Is(err, interfaces.ErrNotFound) {
			return []string{"not found"}
		}
		if err != nil {
			return errOut(err)
		}
		return []string{fmt.Sprintf("%s@%d", v, vts)}
	case "check":
		err := g.e.Check()
		if err == nil {
			return []string{"ok"}
		}
		return strings.Split(err.Error(), "\n")
	case "tree":
		return g.dumpTree()
	}
	g.t.Fatalf("unknown golden command %q", cmd)
	return nil
}

func parseGoldenEntry(t *testing.T, l string) interfaces.Entry {
	key, rest, ok := strings.Cut(l, "@")
	require.True(t, ok, "entry %q", l)
	if tsStr, ok := strings.CutSuffix(rest, ":del"); ok {
		ts, err := strconv.ParseUint(tsStr, 10, 64)
		require.NoError(t, err)
		return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindDelete}
	}
	tsStr, value, ok := strings.Cut(rest, "=")
	require.True(t, ok, "entry %q", l)
	ts, err := strconv.ParseUint(tsStr, 10, 64)
	require.NoError(t, err)
	return interfaces.Entry{Key: []byte(key), Ts: ts, Kind: interfaces.KindSet, Value: []byte(value)}
}

// dumpTree prints the committed tree: a summary line, then each node
// depth-first, a branch with its separators, a leaf with its first and
// last versions and its count.
func (g *golden) dumpTree() []string {
	e := g.e
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	v := e.state.Load().tree
	out := []string{fmt.Sprintf("gen %d, height %d, %d pages (%d free, %d waiting), %d versions",
		v.gen, v.height, v.pageCount, e.fl.free.count, e.fl.pendingCount(), v.versions)}
	if v.root == 0 {
		return append(out, "empty")
	}
	var walk func(id, gen uint64, level, depth int)
	walk = func(id, gen uint64, level, depth int) {
		indent := strings.Repeat("  ", depth)
		if level == 0 {
			n, err := e.p.readNode(v, id, gen, page.TypeLeaf)
			if err != nil {
				out = append(out, indent+"error: "+err.Error())
				return
			}
			l, _ := page.ParseLeaf(n.img)
			ver := func(i int) string {
				en := l.Entry(i)
				s := fmt.Sprintf("%s@%d", l.AppendKey(nil, i), en.Ts)
				if en.Kind == interfaces.KindDelete {
					s += ":del"
				}
				return s
			}
			var list string
			if l.Len() <= 4 {
				parts := make([]string, l.Len())
				for i := range parts {
					parts[i] = ver(i)
				}
				list = strings.Join(parts, " ")
			} else {
				list = ver(0) + " .. " + ver(l.Len()-1)
			}
			out = append(out, fmt.Sprintf("%sleaf p%d: %s (%d)", indent, id, list, l.Len()))
			return
		}
		n, err := e.p.readNode(v, id, gen, page.TypeBranch)
		if err != nil {
			out = append(out, indent+"error: "+err.Error())
			return
		}
		b, _ := page.ParseBranch(n.img)
		parts := []string{fmt.Sprintf("p%d", b.Child(0).Page)}
		for i := 1; i < b.Len(); i++ {
			k, ts := b.AppendSeparator(nil, i)
			tsStr := "max"
			if ts != math.MaxUint64 {
				tsStr = strconv.FormatUint(ts, 10)
			}
			parts = append(parts, fmt.Sprintf("%q@%s p%d", k, tsStr, b.Child(i).Page))
		}
		out = append(out, fmt.Sprintf("%sbranch p%d: %s", indent, id, strings.Join(parts, " | ")))
		for i := range b.Len() {
			c := b.Child(i)
			walk(c.Page, c.Gen, level-1, depth+1)
		}
	}
	walk(v.root, v.rootGen, v.height-1, 0)
	return out
}
