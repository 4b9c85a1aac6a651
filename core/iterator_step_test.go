package core_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/btree"
	"github.com/lightningdb/lightning/vfs"
)

// A DB iterator steps its engine iterator directly while it moves one way
// (Iterator.Next's fast path, with the engine's NextKV when it has one);
// every other move goes the general way. These tests hold the two to the
// same answers.

// btreeOptions is memOptions on the B+tree engine, with small pages so
// that scans cross many leaves.
func btreeOptions(fs vfs.FS) core.Options {
	opts := memOptions(fs)
	opts.StorageName = "btree"
	opts.Storage = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
		return btree.New(btree.Options{Dir: dir, PageSize: btree.MinPageSize}, btree.Deps{FS: fs})
	}
	return opts
}

// iterModel is the reference for a DB iterator's moves over sorted keys,
// in the iterator's own terms (forward ops; a reverse iterator maps its
// moves onto them as core.Iterator does).
type iterModel struct {
	keys  []string
	pos   int
	valid bool
	dir   int // +1 after a forward positioning or move, -1 backward, 0 none
}

func (m *iterModel) set(pos, dir int) bool {
	m.pos, m.dir = pos, dir
	m.valid = pos >= 0 && pos < len(m.keys)
	return m.valid
}

func (m *iterModel) first() bool { return m.set(0, 1) }
func (m *iterModel) last() bool  { return m.set(len(m.keys)-1, -1) }

// seekGE finds the first key >= k (> k when strict).
func (m *iterModel) seekGE(k string, strict bool) bool {
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] > k || (!strict && m.keys[i] == k) })
	return m.set(i, 1)
}

// seekLE finds the last key <= k (< k when strict).
func (m *iterModel) seekLE(k string, strict bool) bool {
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] > k || (strict && m.keys[i] == k) })
	return m.set(i-1, -1)
}

func (m *iterModel) next() bool {
	switch {
	case !m.valid && m.dir <= 0:
		return m.first()
	case !m.valid:
		return false
	}
	return m.set(m.pos+1, 1)
}

func (m *iterModel) prev() bool {
	switch {
	case !m.valid && m.dir >= 0:
		return m.last()
	case !m.valid:
		return false
	}
	return m.set(m.pos-1, -1)
}

func TestIteratorStepsMatchModel(t *testing.T) {
	for _, engine := range []struct {
		name string
		opts func(vfs.FS) core.Options
	}{{"memory", memOptions}, {"btree", btreeOptions}, {"lsm", lsmOptions}} {
		t.Run(engine.name, func(t *testing.T) {
			// One DB for every case (opening one costs more than a case):
			// each case starts by deleting every key it may use.
			db, err := core.Open(testDir, engine.opts(vfs.NewMem()))
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			universe := []string{"", "a", "ab", "b", "ba", "c", "c\xff", "d", strings.Repeat("e", 200)}
			for i := range 30 {
				universe = append(universe, fmt.Sprintf("key/%04d", i*3))
			}
			rapid.Check(t, func(rt *rapid.T) {
				clearAll := db.NewBatch()
				for _, k := range universe {
					require.NoError(rt, clearAll.Delete([]byte(k)))
				}
				require.NoError(rt, db.Apply(clearAll))
				live := map[string]string{}
				for range rapid.IntRange(0, 2).Draw(rt, "rounds") {
					b := db.NewBatch()
					for _, k := range universe {
						switch rapid.IntRange(0, 3).Draw(rt, "op") {
						case 0:
							require.NoError(rt, b.Delete([]byte(k)))
							delete(live, k)
						case 1, 2:
							v := fmt.Sprintf("%s=%d", k, len(live))
							require.NoError(rt, b.Put([]byte(k), []byte(v)))
							live[k] = v
						}
					}
					require.NoError(rt, db.Apply(b))
					if rapid.Bool().Draw(rt, "flush") {
						// The engine's own state then holds it all: the
						// B+tree scans its tree alone.
						require.NoError(rt, db.Flush())
					}
				}

				opts := core.IterOptions{Reverse: rapid.Bool().Draw(rt, "reverse")}
				if rapid.Bool().Draw(rt, "bounds") {
					lo := rapid.SampledFrom(universe).Draw(rt, "lower")
					hi := rapid.SampledFrom(universe).Draw(rt, "upper")
					if lo > hi {
						lo, hi = hi, lo
					}
					opts.LowerBound, opts.UpperBound = []byte(lo), []byte(hi)
				}
				m := &iterModel{}
				for k := range live {
					if (opts.LowerBound == nil || k >= string(opts.LowerBound)) && (opts.UpperBound == nil || k < string(opts.UpperBound)) {
						m.keys = append(m.keys, k)
					}
				}
				slices.Sort(m.keys)
				it, err := db.NewIterator(opts)
				require.NoError(rt, err)
				defer func() { require.NoError(rt, it.Close()) }()

				for step := range rapid.IntRange(1, 80).Draw(rt, "steps") {
					var got, want bool
					op := rapid.IntRange(0, 9).Draw(rt, "move")
					target := rapid.SampledFrom(universe).Draw(rt, "target")
					switch op {
					case 0:
						got, want = it.First(), map[bool]func() bool{false: m.first, true: m.last}[opts.Reverse]()
					case 1:
						got, want = it.Last(), map[bool]func() bool{false: m.last, true: m.first}[opts.Reverse]()
					case 2:
						got = it.Seek([]byte(target))
						if opts.Reverse {
							want = m.seekLE(target, false)
						} else {
							want = m.seekGE(target, false)
						}
					case 3:
						got = it.SeekLT([]byte(target))
						if opts.Reverse {
							want = m.seekGE(target, true)
						} else {
							want = m.seekLE(target, true)
						}
					case 4:
						// A write after the iterator was made: invisible to it.
						require.NoError(rt, db.Put([]byte(target), []byte("later")))
						continue
					case 5, 6:
						got = it.Prev()
						want = map[bool]func() bool{false: m.prev, true: m.next}[opts.Reverse]()
					default:
						// Next is the most common move: runs of it take the
						// fast path.
						got = it.Next()
						want = map[bool]func() bool{false: m.next, true: m.prev}[opts.Reverse]()
					}
					require.Equal(rt, want, got, "step %d (move %d, target %q) valid", step, op, target)
					require.Equal(rt, want, it.Valid())
					if want {
						k := m.keys[m.pos]
						require.Equal(rt, k, string(it.Key()), "step %d (move %d, target %q) key", step, op, target)
						require.Equal(rt, live[k], string(it.Value()), "step %d key %q value", step, k)
					}
				}
				require.NoError(rt, it.Err())
			})
		})
	}
}

// failingStorage makes its iterators fail after a number of steps, with or
// without the NextKV method.
type failingStorage struct {
	interfaces.Storage
	after  int
	withKV bool
}

var errInjected = errors.New("injected iterator failure")

func (s *failingStorage) NewIterator(opts interfaces.IterOptions) (interfaces.Iterator, error) {
	it, err := s.Storage.NewIterator(opts)
	if err != nil {
		return nil, err
	}
	f := &failingIter{Iterator: it, left: s.after}
	if s.withKV {
		return &failingKVIter{f}, nil
	}
	return f, nil
}

type failingIter struct {
	interfaces.Iterator
	left int
	err  error
}

func (f *failingIter) Next() bool {
	if f.left--; f.left < 0 {
		f.err = errInjected
		return false
	}
	return f.Iterator.Next()
}

func (f *failingIter) Valid() bool { return f.err == nil && f.Iterator.Valid() }

func (f *failingIter) Err() error {
	if f.err != nil {
		return f.err
	}
	return f.Iterator.Err()
}

type failingKVIter struct{ *failingIter }

func (f *failingKVIter) NextKV() ([]byte, []byte, bool) {
	if f.Next() {
		return f.Key(), f.Value(), true
	}
	return nil, nil, false
}

func TestIteratorStepFailure(t *testing.T) {
	for _, withKV := range []bool{false, true} {
		t.Run(fmt.Sprintf("nextKV=%v", withKV), func(t *testing.T) {
			db, _ := openMem(t, func(o *core.Options) {
				open := o.Storage
				o.Storage = func(fs vfs.FS, dir string) (interfaces.Storage, error) {
					s, err := open(fs, dir)
					if err != nil {
						return nil, err
					}
					return &failingStorage{Storage: s, after: 5, withKV: withKV}, nil
				}
			})
			for i := range 20 {
				require.NoError(t, db.Put(key(i), []byte("v")))
			}
			it, err := db.NewIterator(core.IterOptions{})
			require.NoError(t, err)
			n := 0
			for ok := it.First(); ok; ok = it.Next() {
				require.Equal(t, string(key(n)), string(it.Key()))
				n++
			}
			require.Equal(t, 6, n, "First and five steps, then the failure")
			require.ErrorIs(t, it.Err(), errInjected)
			require.False(t, it.Valid())
			require.False(t, it.Next(), "a failed iterator stays failed")
			require.ErrorIs(t, it.Close(), errInjected)
		})
	}
}

// TestIteratorExhaustedThenTurned runs a forward scan off the end on the
// fast path, then moves back and forth.
func TestIteratorExhaustedThenTurned(t *testing.T) {
	db, _ := openMem(t)
	for i := range 5 {
		require.NoError(t, db.Put(key(i), []byte(fmt.Sprint(i))))
	}
	it, err := db.NewIterator(core.IterOptions{})
	require.NoError(t, err)
	defer it.Close()
	got, _ := scan(t, it)
	require.Len(t, got, 5)
	require.False(t, it.Next(), "past the end, Next stays there")
	require.True(t, it.Prev(), "Prev past the end goes to the last key")
	require.Equal(t, string(key(4)), string(it.Key()))
	require.True(t, it.Prev())
	require.Equal(t, string(key(3)), string(it.Key()))
	require.True(t, it.Next(), "turning forward again")
	require.Equal(t, string(key(4)), string(it.Key()))
	require.False(t, it.Next())
	require.NoError(t, it.Err())
	require.NoError(t, it.Close())
	require.False(t, it.Next(), "a closed iterator does not move")
	require.ErrorIs(t, it.Err(), core.ErrClosed)
}
