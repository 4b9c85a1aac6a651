package arenaskl

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// modelEntry is an entry of the reference model: a sorted slice.
type modelEntry struct {
	key   base.InternalKey
	value []byte
}

// skipModel runs random Adds, seeks and walks against a Skiplist and a
// sorted slice, and compares every answer.
type skipModel struct {
	l     *Skiplist
	it    Iterator
	model []modelEntry
	// last is the key most recently added (UserKey nil: none yet).
	last base.InternalKey
}

// genUserKey draws short keys from a tiny alphabet, so that keys share
// prefixes, collide, and straddle the two 8-byte words cached in nodes.
func genUserKey() *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		n := rapid.IntRange(0, 19).Draw(t, "len")
		k := make([]byte, n)
		for i := range k {
			k[i] = rapid.SampledFrom([]byte{0, 1, 'a', 'b', 0xff}).Draw(t, "byte")
		}
		return k
	})
}

func genInternalKey() *rapid.Generator[base.InternalKey] {
	return rapid.Custom(func(t *rapid.T) base.InternalKey {
		ukey := genUserKey().Draw(t, "ukey")
		ts := rapid.Uint64Range(0, 6).Draw(t, "ts")
		kind := rapid.SampledFrom([]base.Kind{base.KindSet, base.KindDelete, base.KindMax}).Draw(t, "kind")
		return base.MakeInternalKey(ukey, ts, kind)
	})
}

// search returns the index of the first model entry >= key.
func (m *skipModel) search(key base.InternalKey) int {
	i, _ := slices.BinarySearchFunc(m.model, key, func(e modelEntry, k base.InternalKey) int {
		return base.Compare(e.key, k)
	})
	return i
}

// requireAt checks that the iterator is at model entry i (or invalid when
// i is out of range).
func (m *skipModel) requireAt(t *rapid.T, ok bool, i int) {
	if i < 0 || i >= len(m.model) {
		require.False(t, ok, "iterator valid, model exhausted")
		require.False(t, m.it.Valid())
		return
	}
	require.True(t, ok, "iterator exhausted, model at %s", m.model[i].key)
	require.True(t, m.it.Valid())
	require.Zero(t, base.Compare(m.model[i].key, m.it.Key()), "got %s want %s", m.it.Key(), m.model[i].key)
	require.Equal(t, m.model[i].key.UserKey, m.it.Key().UserKey)
	require.True(t, bytes.Equal(m.model[i].value, m.it.Value()), "value of %s", m.model[i].key)
}

// walk steps up to n times forward (dir 1) or backward (dir -1) from
// model entry i, checking every step.
func (m *skipModel) walk(t *rapid.T, i, dir, n int) {
	for ; n > 0; n-- {
		var ok bool
		if dir > 0 {
			ok, i = m.it.Next(), i+1
		} else {
			ok, i = m.it.Prev(), i-1
		}
		m.requireAt(t, ok, i)
		if !ok {
			return
		}
	}
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Small arenas make ErrArenaFull part of the run.
		capacity := rapid.SampledFrom([]int{0, 600, 2 << 10, 1 << 20}).Draw(t, "capacity")
		m := &skipModel{l: New(capacity)}
		// Heights come from a random seed; drawing it keeps failures
		// reproducible.
		m.l.rng = rapid.Uint64().Draw(t, "seed")
		m.it.Init(m.l)
		t.Repeat(map[string]func(*rapid.T){
			"": func(t *rapid.T) {
				require.Equal(t, len(m.model), m.l.Len())
				require.NoError(t, m.l.Check())
			},
			"Add": func(t *rapid.T) {
				key := genInternalKey().Draw(t, "key")
				value := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "value")
				fits := m.l.Fits(len(key.UserKey), len(value))
				size := m.l.Size()
				err := m.l.Add(key, value)
				i := m.search(key)
				switch {
				case i < len(m.model) && base.Compare(m.model[i].key, key) == 0:
					require.ErrorIs(t, err, ErrRecordExists)
				case !fits:
					require.ErrorIs(t, err, ErrArenaFull)
				default:
					require.NoError(t, err)
					m.model = slices.Insert(m.model, i, modelEntry{key.Clone(), slices.Clone(value)})
					m.last = m.model[i].key
					require.Greater(t, m.l.Size(), size)
					return
				}
				require.Equal(t, size, m.l.Size())
			},
			"AddExisting": func(t *rapid.T) {
				// Half the time the key just added, which the cached splice
				// starts at.
				if m.last.UserKey == nil || rapid.Bool().Draw(t, "random") {
					if len(m.model) == 0 {
						t.Skip("empty")
					}
					m.last = m.model[rapid.IntRange(0, len(m.model)-1).Draw(t, "i")].key
				}
				size := m.l.Size()
				require.ErrorIs(t, m.l.Add(m.last, []byte("dup")), ErrRecordExists)
				require.Equal(t, size, m.l.Size())
			},
			"AddAscending": func(t *rapid.T) {
				// Runs of ascending keys go through the cached splice.
				if len(m.model) == 0 {
					t.Skip("empty")
				}
				last := m.model[len(m.model)-1].key
				n := rapid.IntRange(1, 5).Draw(t, "n")
				for j := 0; j < n; j++ {
					ukey := append(slices.Clone(last.UserKey), byte(j))
					key := base.MakeInternalKey(ukey, 1, base.KindSet)
					if !m.l.Fits(len(ukey), 0) {
						require.ErrorIs(t, m.l.Add(key, nil), ErrArenaFull)
						return
					}
					i := m.search(key)
					if i < len(m.model) && base.Compare(m.model[i].key, key) == 0 {
						require.ErrorIs(t, m.l.Add(key, nil), ErrRecordExists)
						continue
					}
					require.NoError(t, m.l.Add(key, nil))
					m.model = slices.Insert(m.model, i, modelEntry{key.Clone(), []byte{}})
					m.last = m.model[i].key
				}
			},
			"SeekGE": func(t *rapid.T) {
				key := genInternalKey().Draw(t, "key")
				i := m.search(key)
				m.requireAt(t, m.it.SeekGE(key), i)
				if i < len(m.model) {
					m.walk(t, i, 1, rapid.IntRange(0, 5).Draw(t, "steps"))
				}
			},
			"SeekLT": func(t *rapid.T) {
				key := genInternalKey().Draw(t, "key")
				i := m.search(key) - 1
				m.requireAt(t, m.it.SeekLT(key), i)
				if i >= 0 {
					m.walk(t, i, -1, rapid.IntRange(0, 5).Draw(t, "steps"))
				}
			},
			"SeekGEThenPrev": func(t *rapid.T) {
				// Turning around is not in the contract, but works.
				key := genInternalKey().Draw(t, "key")
				i := m.search(key)
				if m.it.SeekGE(key) {
					m.walk(t, i, -1, 2)
				}
			},
			"Scan": func(t *rapid.T) {
				m.requireAt(t, m.it.First(), 0)
				m.walk(t, 0, 1, len(m.model)+1)
				m.requireAt(t, m.it.Last(), len(m.model)-1)
				m.walk(t, len(m.model)-1, -1, len(m.model)+1)
			},
		})
	})
}
