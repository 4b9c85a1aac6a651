package arc

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
)

var update = flag.Bool("update", false, "rewrite the expected states in testdata/*.txt from the implementation")

// TestGolden replays the traces in testdata/*.txt on a single-shard cache
// and compares the state after every step with the one written under it.
//
// A trace file is a sequence of lines:
//
//	# comment                 kept as is
//	capacity N                a new, empty cache of capacity N (one shard)
//	set NAME [CHARGE]         Set (charge 1 when omitted)
//	get NAME                  Get
//	del NAME                  Delete
//	<TAB>expected state       after each set/get/del
//
// A state reads "hit"/"miss" (for get), then each list from its LRU end to
// its MRU end (newest on the right), entries as NAME or NAME:CHARGE when
// the charge is not 1, then p:
//
//	hit  T1[a b:2] T2[c] B1[] B2[d] p=1
//
// Run with -update to rewrite the states from the implementation; the
// files are then reviewed by hand, which is the point of them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			got := replayGolden(t, string(data))
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				return
			}
			require.Equal(t, string(data), got, "the trace %s diverges (rerun with -update, then review the diff)", path)
		})
	}
}

// replayGolden runs a trace and returns it with the states the
// implementation reaches in place of the expected ones.
func replayGolden(t *testing.T, trace string) string {
	t.Helper()
	var out strings.Builder
	var c *Cache
	names := newKeyNames()
	sc := bufio.NewScanner(strings.NewReader(trace))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			continue // an expected state: regenerated below
		}
		out.WriteString(line + "\n")
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func() { t.Fatalf("line %d: cannot parse %q", lineNo, line) }
		if f[0] == "capacity" {
			if len(f) != 2 {
				bad()
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			c, err = New(Options{Capacity: n, Shards: 1})
			require.NoError(t, err)
			names = newKeyNames()
			continue
		}
		if c == nil {
			t.Fatalf("line %d: a step before the first capacity line", lineNo)
		}
		if len(f) < 2 {
			bad()
		}
		k := names.key(f[1])
		prefix := ""
		switch f[0] {
		case "set":
			charge := int64(1)
			switch len(f) {
			case 2:
			case 3:
				var err error
				charge, err = strconv.ParseInt(f[2], 10, 64)
				require.NoError(t, err)
			default:
				bad()
			}
			c.Set(k, []byte(f[1]), charge)
		case "get":
			if len(f) != 2 {
				bad()
			}
			v, ok := c.Get(k)
			prefix = "miss "
			if ok {
				require.Equal(t, f[1], string(v), "line %d: a hit returned another key's value", lineNo)
				prefix = "hit  "
			}
		case "del":
			if len(f) != 2 {
				bad()
			}
			c.Delete(k)
		default:
			bad()
		}
		require.NoError(t, c.check(), "line %d: %s", lineNo, line)
		out.WriteString("\t" + prefix + dumpShard(&c.shards[0], names) + "\n")
	}
	require.NoError(t, sc.Err())
	return out.String()
}

// keyNames maps the short names of a trace to keys and back.
type keyNames struct {
	byName map[string]interfaces.CacheKey
	byKey  map[interfaces.CacheKey]string
}

func newKeyNames() *keyNames {
	return &keyNames{byName: map[string]interfaces.CacheKey{}, byKey: map[interfaces.CacheKey]string{}}
}

func (n *keyNames) key(name string) interfaces.CacheKey {
	if k, ok := n.byName[name]; ok {
		return k
	}
	k := interfaces.CacheKey{Namespace: 1, File: 2, Offset: uint64(len(n.byName)) * 4096}
	n.byName[name], n.byKey[k] = k, name
	return k
}

func (n *keyNames) name(k interfaces.CacheKey) string {
	if s, ok := n.byKey[k]; ok {
		return s
	}
	return fmt.Sprint(k)
}

// dumpShard renders s's lists, LRU end first, and p.
func dumpShard(s *shard, names *keyNames) string {
	s.lockDrained()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, l := range []*lruList{&s.t1, &s.t2, &s.b1, &s.b2} {
		b.WriteString(l.id.String() + "[")
		first := true
		for e := l.root.prev; e != &l.root; e = e.prev {
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(names.name(e.key))
			if e.charge != 1 {
				b.WriteString(":" + strconv.FormatInt(e.charge, 10))
			}
		}
		b.WriteString("] ")
	}
	b.WriteString("p=" + strconv.FormatInt(s.p, 10))
	return b.String()
}
