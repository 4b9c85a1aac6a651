package arenaskl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// concurrentKey returns the user key of entry i: 8 bytes derived from i
// (so that insertion order is random in key order), then i itself. A
// reader can tell from a key alone whether it is one the writer made.
func concurrentKey(i int) []byte {
	k := binary.BigEndian.AppendUint64(nil, mix64(uint64(i)))
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

// concurrentValue returns the value of entry i: its key repeated to a
// length that depends on i, so a torn or misplaced value shows.
func concurrentValue(i int) []byte {
	return bytes.Repeat(concurrentKey(i), 1+i%7)[:12*(1+i%7)-i%5]
}

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// checkEntry verifies the iterator's entry and returns its index.
func checkEntry(it *Iterator) (int, error) {
	k := it.Key()
	if len(k.UserKey) != 12 {
		return 0, fmt.Errorf("key %q of %d bytes", k.UserKey, len(k.UserKey))
	}
	i := int(binary.BigEndian.Uint32(k.UserKey[8:]))
	if !bytes.Equal(k.UserKey, concurrentKey(i)) {
		return 0, fmt.Errorf("key %x was never added", k.UserKey)
	}
	if k.Ts() != uint64(i)+1 || k.Kind() != base.KindSet {
		return 0, fmt.Errorf("key %d: trailer %d,%d", i, k.Ts(), k.Kind())
	}
	if !bytes.Equal(it.Value(), concurrentValue(i)) {
		return 0, fmt.Errorf("key %d: torn value %x", i, it.Value())
	}
	return i, nil
}

// TestConcurrentReaders runs one writer and several readers that scan in
// both directions and seek while the writer adds. Each reader checks that
// it sees only keys the writer added, whole, in strict order, and that a
// scan sees at least every entry whose Add returned before it started.
func TestConcurrentReaders(t *testing.T) {
	n := 30_000
	if testing.Short() {
		n = 5_000
	}
	l := New(n * (EntrySize(12, 84) + nodeAlign))
	var added atomic.Int64 // Adds that have returned
	var writerDone atomic.Bool

	// scan walks the whole list forward or backward and checks it.
	scan := func(forward bool) error {
		before := int(added.Load())
		var it Iterator
		it.Init(l)
		ok := it.Last()
		if forward {
			ok = it.First()
		}
		var prev base.InternalKey
		seen := 0
		for ; ok; ok = step(&it, forward) {
			i, err := checkEntry(&it)
			if err != nil {
				return err
			}
			if i >= int(added.Load())+1 {
				return fmt.Errorf("key %d visible before Add %d started", i, i)
			}
			if prev.UserKey != nil {
				c := base.Compare(prev, it.Key())
				if forward && c >= 0 || !forward && c <= 0 {
					return fmt.Errorf("order: %s then %s (forward %v)", prev, it.Key(), forward)
				}
			}
			prev = it.Key()
			if i < before {
				seen++
			}
		}
		if seen != before {
			return fmt.Errorf("scan (forward %v) saw %d of the %d entries added before it", forward, seen, before)
		}
		return nil
	}
	// seeks looks up keys already added, and checks SeekLT answers.
	seeks := func(rng *rand.Rand) error {
		count := int(added.Load())
		if count == 0 {
			return nil
		}
		var it Iterator
		it.Init(l)
		for range 200 {
			j := rng.IntN(count)
			target := concurrentKey(j)
			if !it.SeekGE(base.InternalKey{UserKey: target, Trailer: base.SeekTrailer(interfaces.MaxTs)}) {
				return fmt.Errorf("SeekGE: key %d not found", j)
			}
			if i, err := checkEntry(&it); err != nil || i != j {
				return fmt.Errorf("SeekGE to %d found %d (%v)", j, i, err)
			}
			search := base.MakeInternalKey(target, uint64(j)+1, base.KindSet)
			if it.SeekLT(search) {
				if _, err := checkEntry(&it); err != nil {
					return err
				}
				if base.Compare(it.Key(), search) >= 0 {
					return fmt.Errorf("SeekLT(%s) found %s", search, it.Key())
				}
				if it.Next() && base.Compare(it.Key(), search) > 0 {
					return fmt.Errorf("SeekLT(%s) skipped it, then found %s", search, it.Key())
				}
			}
		}
		return nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				// Read writerDone first: a last round after it is set sees
				// the final list.
				done := writerDone.Load()
				for _, err := range []error{scan(r%2 == 0), seeks(rng), scan(r%2 == 1)} {
					if err != nil {
						errs <- fmt.Errorf("reader %d: %w", r, err)
						return
					}
				}
				if done {
					return
				}
			}
		}()
	}
	for i := range n {
		if err := l.Add(base.MakeInternalKey(concurrentKey(i), uint64(i)+1, base.KindSet), concurrentValue(i)); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
		added.Add(1)
	}
	writerDone.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Equal(t, n, l.Len())
	require.NoError(t, l.Check())
}

func step(it *Iterator, forward bool) bool {
	if forward {
		return it.Next()
	}
	return it.Prev()
}
