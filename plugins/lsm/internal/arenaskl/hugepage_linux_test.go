package arenaskl

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHugePages checks that a large arena ends up on transparent huge
// pages when the system grants them on request.
func TestHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(mode), "[madvise]") {
		// With "always" every heap would get them, so the test could not
		// fail; with "never" none can.
		t.Skipf("transparent huge pages not in madvise mode (%q, %v)", mode, err)
	}
	if strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		t.Skip("GODEBUG=disablethp=1")
	}
	before := anonHugeKiB(t)
	l := New(32 << 20)
	val := bytes.Repeat([]byte{1}, 1<<20)
	for i := 0; l.Fits(8, len(val)); i++ {
		require.NoError(t, l.Add(ikey(fmt.Sprintf("k%07d", i), 1), val))
	}
	require.Greater(t, anonHugeKiB(t)-before, 8<<10, "at least 8 MiB of the arena on huge pages")
}

func anonHugeKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	m := regexp.MustCompile(`AnonHugePages:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return n
}
