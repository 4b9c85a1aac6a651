package lsm

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden tests")

// TestCompactionPicker runs the golden files in testdata/compaction_picker:
// each describes LSM shapes and the compactions picked from them. A case
// is a command line, its input lines, "----", and the expected output up
// to a blank line. Run with -update to rewrite the expected outputs.
//
// Commands:
//
//	define [l0-trigger=N] [base=SIZE] [multiplier=N] [target=SIZE] [compress-l0]
//	  followed by levels: "L<n>" lines, then one table per line:
//	  "<num> <smallest>-<largest> ts=<min>-<max> size=<SIZE> [compacting]
//	  [compressed] [entries=N] [dels=N] [userkeys=N] [gc=TS]"; prints the
//	  levels and their scores
//	pick                       the background compaction pickAuto picks
//	manual level=N [start=K] [end=K] [l0max=TS]
//	                           the next step of a manual compaction
//	rewrite level=N discard=TS [start=K] [end=K]
//	                           the next bottommost rewrite
func TestCompactionPicker(t *testing.T) {
	files, err := filepath.Glob("testdata/compaction_picker/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) { runGolden(t, path, pickerCommand) })
	}
}

// goldenCase is one case of a golden file.
type goldenCase struct {
	cmd    string
	input  []string
	output []string
	// pre holds the comment and blank lines before the case.
	pre []string
}

// runGolden runs every case of a golden file through run, comparing its
// output (or rewriting it with -update).
func runGolden(t *testing.T, path string, run func(t *testing.T, st *pickerState, c *goldenCase) string) {
	f, err := os.Open(path)
	require.NoError(t, err)
	var cases []*goldenCase
	var pre []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			pre = append(pre, line)
			continue
		}
		c := &goldenCase{cmd: line, pre: pre}
		pre = nil
		for sc.Scan() && sc.Text() != "----" {
			c.input = append(c.input, sc.Text())
		}
		for sc.Scan() && strings.TrimSpace(sc.Text()) != "" {
			c.output = append(c.output, sc.Text())
		}
		pre = append(pre, "")
		cases = append(cases, c)
	}
	require.NoError(t, sc.Err())
	require.NoError(t, f.Close())

	st := &pickerState{}
	var out strings.Builder
	for _, c := range cases {
		got := strings.TrimRight(run(t, st, c), "\n")
		for _, p := range c.pre {
			out.WriteString(p + "\n")
		}
		out.WriteString(c.cmd + "\n")
		for _, in := range c.input {
			out.WriteString(in + "\n")
		}
		out.WriteString("----\n" + got + "\n")
		if !*update {
			require.Equal(t, strings.Join(c.output, "\n"), got, "%s: %s", path, c.cmd)
		}
	}
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644))
	}
}

// pickerState is what a golden file's cases share: the last defined
// version and options.
type pickerState struct {
	v    *version
	opts Options
}

func parseSize(t *testing.T, s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "size %q", s)
	return n * mult
}

// args parses "k=v" words.
func args(words []string) map[string]string {
	m := map[string]string{}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		m[k] = v
	}
	return m
}

func pickerCommand(t *testing.T, st *pickerState, c *goldenCase) string {
	words := strings.Fields(c.cmd)
	a := args(words[1:])
	switch words[0] {
	case "define":
		st.opts = Options{Dir: "x"}
		if s, ok := a["l0-trigger"]; ok {
			st.opts.L0CompactionTrigger = int(parseSize(t, s))
		}
		if s, ok := a["base"]; ok {
			st.opts.BaseLevelBytes = parseSize(t, s)
		}
		if s, ok := a["multiplier"]; ok {
			st.opts.LevelMultiplier = int(parseSize(t, s))
		}
		if s, ok := a["target"]; ok {
			st.opts.TargetFileSize = parseSize(t, s)
		}
		_, st.opts.CompressL0 = a["compress-l0"]
		st.opts.EnsureDefaults()
		require.NoError(t, st.opts.Validate())
		st.v = defineVersion(t, c.input)
		return describeVersion(st.v, &st.opts)
	case "pick":
		if c := pickAuto(st.v, &st.opts); c != nil {
			return c.String()
		}
		return "none"
	case "manual", "rewrite":
		level := int(parseSize(t, a["level"]))
		var r interfaces.KeyRange
		if s, ok := a["start"]; ok {
			r.Start = []byte(s)
		}
		if s, ok := a["end"]; ok {
			r.End = []byte(s)
		}
		var (
			c    *compaction
			wait bool
		)
		if words[0] == "manual" {
			l0max := base.MaxTs
			if s, ok := a["l0max"]; ok {
				l0max = uint64(parseSize(t, s))
			}
			c, wait = pickManual(st.v, &st.opts, level, r, l0max)
		} else {
			c, wait = pickRewrite(st.v, &st.opts, level, r, uint64(parseSize(t, a["discard"])))
		}
		switch {
		case wait:
			return "wait"
		case c == nil:
			return "none"
		}
		return c.String()
	}
	t.Fatalf("unknown command %q", c.cmd)
	return ""
}

// defineVersion builds a version from level and table lines.
func defineVersion(t *testing.T, lines []string) *version {
	ve := &versionEdit{}
	level := -1
	var compacting []*fileMeta
	gc := map[*fileMeta]uint64{}
	for _, line := range lines {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if strings.HasPrefix(words[0], "L") {
			n, err := strconv.Atoi(words[0][1:])
			require.NoError(t, err, line)
			level = n
			continue
		}
		require.GreaterOrEqual(t, level, 0, "table before a level: %q", line)
		num, err := strconv.ParseUint(words[0], 10, 64)
		require.NoError(t, err, line)
		small, large, ok := strings.Cut(words[1], "-")
		require.True(t, ok, line)
		a := args(words[2:])
		minTs, maxTs := uint64(1), uint64(1)
		if s, ok := a["ts"]; ok {
			lo, hi, _ := strings.Cut(s, "-")
			minTs, maxTs = uint64(parseSize(t, lo)), uint64(parseSize(t, hi))
		}
		f := &fileMeta{
			num: num, size: uint64(parseSize(t, a["size"])),
			smallest: ik(small, maxTs, base.KindSet), largest: ik(large, minTs, base.KindSet),
			minTs: minTs, maxTs: maxTs, entries: 10, deletions: 0, userKeys: 10,
		}
		if s, ok := a["entries"]; ok {
			f.entries = uint64(parseSize(t, s))
		}
		if s, ok := a["dels"]; ok {
			f.deletions = uint64(parseSize(t, s))
		}
		if s, ok := a["userkeys"]; ok {
			f.userKeys = uint64(parseSize(t, s))
		}
		if s, ok := a["gc"]; ok {
			gc[f] = uint64(parseSize(t, s))
		}
		if _, ok := a["compacting"]; ok {
			compacting = append(compacting, f)
		}
		_, f.compressed = a["compressed"]
		ve.added = append(ve.added, newFileEntry{level: level, meta: f})
	}
	v, err := applyEdit(nil, ve, nil)
	require.NoError(t, err)
	for _, f := range compacting {
		f.compacting = true
	}
	for f, ts := range gc {
		f.gcTs = ts
	}
	return v
}

// describeVersion prints the levels, their tables and scores.
func describeVersion(v *version, o *Options) string {
	var b strings.Builder
	for l := range v.levels {
		if len(v.levels[l]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d %d bytes", l, v.levelBytes[l])
		if l < NumLevels-1 {
			fmt.Fprintf(&b, " score=%.2f", levelScore(v, o, l))
		}
		b.WriteString(":")
		for _, f := range v.levels[l] {
			fmt.Fprintf(&b, " %06d", f.num)
			if f.compacting {
				b.WriteString("*")
			}
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

func TestLevelTargets(t *testing.T) {
	o := (&Options{Dir: "x", BaseLevelBytes: 100, LevelMultiplier: 10}).EnsureDefaults()
	for level, want := range map[int]int64{1: 100, 2: 1000, 3: 10000, 6: 10000000} {
		require.Equal(t, want, o.levelTarget(level))
	}
}
