package wal

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// fakePopulate records the ranges a prefaulter populates, as offsets into
// base, and can hold a call until released.
type fakePopulate struct {
	base []byte
	mu   sync.Mutex
	got  [][2]int
	err  error
	hold chan struct{} // when set, each call waits for a receive
}

func (f *fakePopulate) populate(b []byte) error {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(f.base))))
	f.got = append(f.got, [2]int{off, off + len(b)})
	return f.err
}

func (f *fakePopulate) ranges() [][2]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][2]int(nil), f.got...)
}

// covered returns the end of the contiguous populated prefix starting at
// from, failing if a range starts off a page or leaves a gap.
func covered(t *testing.T, rs [][2]int, from int) int {
	t.Helper()
	end := from
	for _, r := range rs {
		require.Zero(t, r[0]%os.Getpagesize(), "range %v starts off a page", r)
		require.LessOrEqual(t, r[0], end, "gap before %v", r)
		end = max(end, r[1])
	}
	return end
}

// TestPrefaulterKeepsAhead: the prefaulter populates from the page of the
// records' end to prefaultLead past it, in page-aligned ranges without
// gaps, asks again only when the writer passes half the lead, stops at the
// mapping's end, and starts afresh for a new mapping.
func TestPrefaulterKeepsAhead(t *testing.T) {
	data := make([]byte, 3*prefaultLead+12345)
	f := &fakePopulate{base: data}
	p := newPrefaulter(f.populate, nil)
	defer p.stop()

	pageUp := func(n int) int { return (n + os.Getpagesize() - 1) &^ (os.Getpagesize() - 1) }
	asked := p.ahead(data, 100)
	require.Equal(t, pageUp(100+prefaultLead), asked)
	require.Eventually(t, func() bool { return covered(t, f.ranges(), 0) >= asked }, 5*time.Second, time.Millisecond)
	require.Equal(t, 0, f.ranges()[0][0], "from the page holding the records' end")

	// Further on, the lead is measured from the new end.
	end := 2*prefaultLead + 77
	asked = p.ahead(data, end)
	require.Equal(t, pageUp(end+prefaultLead), asked)
	end = 2*prefaultLead + 20000
	asked = p.ahead(data, end)
	require.Equal(t, len(data), asked, "clipped at the mapping's end")
	require.Eventually(t, func() bool { return covered(t, f.ranges(), 0) == len(data) }, 5*time.Second, time.Millisecond)
	for _, r := range f.ranges() {
		require.LessOrEqual(t, r[1], len(data))
	}

	// A new mapping starts at its records' page, not at 0.
	data2 := make([]byte, 2*prefaultLead)
	f2 := &fakePopulate{base: data2}
	p.mu.Lock()
	p.populate = f2.populate
	p.mu.Unlock()
	asked = p.ahead(data2, 3*os.Getpagesize()+5)
	require.Equal(t, pageUp(3*os.Getpagesize()+5+prefaultLead), asked)
	require.Eventually(t, func() bool {
		rs := f2.ranges()
		return len(rs) > 0 && covered(t, rs, rs[0][0]) >= asked
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, 3*os.Getpagesize(), f2.ranges()[0][0])
}

// TestPrefaulterForgetWaits: forget, which precedes an unmap, returns only
// once a populate that is running has ended, and nothing more of the
// forgotten mapping is populated after it.
func TestPrefaulterForgetWaits(t *testing.T) {
	data := make([]byte, 4*prefaultLead)
	f := &fakePopulate{base: data, hold: make(chan struct{})}
	p := newPrefaulter(f.populate, nil)
	defer p.stop()
	p.ahead(data, 0)
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.busy }, 5*time.Second, time.Millisecond)

	forgotten := make(chan struct{})
	go func() { p.forget(data); close(forgotten) }()
	select {
	case <-forgotten:
		t.Fatal("forget returned while a populate was running")
	case <-time.After(50 * time.Millisecond):
	}
	f.hold <- struct{}{}
	<-forgotten
	n := len(f.ranges())
	// Asking again for the forgotten mapping would be a new mapping; no
	// one does, and the goroutine has nothing left to do.
	time.Sleep(20 * time.Millisecond)
	require.Len(t, f.ranges(), n)
}

// TestPrefaulterOffAfterAnError: the first error is reported once and
// turns populating off; later calls ask for nothing.
func TestPrefaulterOffAfterAnError(t *testing.T) {
	data := make([]byte, 4*prefaultLead)
	f := &fakePopulate{base: data, err: errors.New("no space")}
	var mu sync.Mutex
	var reported []error
	p := newPrefaulter(f.populate, func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() })
	defer p.stop()
	p.ahead(data, 0)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(reported) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, len(data), p.ahead(data, prefaultLead), "off: the writer is told not to ask again")
	time.Sleep(20 * time.Millisecond)
	require.Len(t, f.ranges(), 1)
	mu.Lock()
	require.Len(t, reported, 1)
	mu.Unlock()
}

// TestMappedLogPopulatesAhead: on Linux a mapped log keeps its active
// segment populated past its records, across rotations, and the records
// read back unchanged.
func TestMappedLogPopulatesAhead(t *testing.T) {
	opts := mappedOptions(t)
	if runtime.GOOS != "linux" {
		t.Skip("populating is Linux only")
	}
	opts.SegmentSize = 4 * prefaultLead
	l, _, _ := openReplay(t, opts, 0)
	require.NotNil(t, l.pf)
	var written []Record
	ts := uint64(1)
	for i := 0; i < 800; i++ {
		g := makeGroup(ts, 1+i%3, func() int { return 20000 })
		require.NoError(t, l.WriteGroup(g))
		written, ts = append(written, g...), ts+uint64(len(g))
	}
	require.Greater(t, l.Stats().Rotations, int64(0))
	seg := func() *segment { l.mu.Lock(); defer l.mu.Unlock(); return l.active() }()
	require.Eventually(t, func() bool {
		l.pf.mu.Lock()
		defer l.pf.mu.Unlock()
		require.False(t, l.pf.off, "populating turned off")
		return l.pf.done >= int(min(seg.written+prefaultLead/2, opts.SegmentSize))
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, l.Close())
	require.Nil(t, l.pf, "Close stops the goroutine")
	requireCleanReopen(t, opts, written)
}
