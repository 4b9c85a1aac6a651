package ordered

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
)

// modelKeys are user keys chosen to stress the escaping and the ordering:
// the empty key, 0x00 and 0xff bytes, and keys that prefix each other.
var modelKeys = []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "\xff\x00", "\xff\xff"}

func genModelKey() *rapid.Generator[string] { return rapid.SampledFrom(modelKeys) }

// genBound draws an iterator bound: nil, or a key (not necessarily one
// that is stored).
func genBound(label string) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		if rapid.IntRange(0, 2).Draw(t, label+"Nil") == 0 {
			return nil
		}
		return []byte(rapid.OneOf(genModelKey(), rapid.SampledFrom([]string{"\x00\x00\x00", "a\x01", "aa", "c"})).Draw(t, label))
	})
}

// storeMakers are the Stores the model tests run the adapter over.
var storeMakers = []struct {
	name string
	make func() Store
}{
	{"mem", func() Store { return NewMemStore() }},
	{"live", func() Store { return liveStore{NewMemStore()} }},
}

// TestIteratorModel applies random commit groups and compares Get and
// random iterators (bounds, prefix, direction, AllVersions, read ts,
// Seek) with the reference model, including iterators opened before later
// Applies (the snapshot rule).
func TestIteratorModel(t *testing.T) {
	for _, sm := range storeMakers {
		t.Run(sm.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				s, err := New(sm.make(), Options{})
				require.NoError(rt, err)
				defer func() { require.NoError(rt, s.Close()) }()
				ref := refModel{}
				ts := uint64(0)

				type pending struct {
					it   interfaces.Iterator
					want []item
					opts interfaces.IterOptions
				}
				var open []pending
				defer func() {
					for _, p := range open {
						_ = p.it.Close()
					}
				}()

				steps := rapid.IntRange(1, 40).Draw(rt, "steps")
				for range steps {
					switch rapid.IntRange(0, 9).Draw(rt, "op") {
					case 0, 1, 2, 3:
						n := rapid.IntRange(1, 4).Draw(rt, "groupSize")
						var group []interfaces.Entry
						used := map[string]bool{}
						for range n {
							if rapid.Bool().Draw(rt, "bumpTs") || len(group) == 0 {
								ts++
							}
							k := genModelKey().Draw(rt, "key")
							if used[fmt.Sprint(k, ts)] {
								continue
							}
							used[fmt.Sprint(k, ts)] = true
							if rapid.IntRange(0, 3).Draw(rt, "del") == 0 {
								group = append(group, delE(k, ts))
							} else {
								group = append(group, setE(k, ts, rapid.StringMatching(`[a-z]{0,3}`).Draw(rt, "value")))
							}
						}
						require.NoError(rt, s.Apply(group))
						ref.apply(group...)
					case 4:
						// Open an iterator now and read it later.
						opts := drawOpts(rt, ts)
						it, err := s.NewIterator(opts)
						require.NoError(rt, err)
						open = append(open, pending{it, ref.expect(opts, ts, 0, false), opts})
					case 5:
						if len(open) == 0 {
							continue
						}
						p := open[0]
						open = open[1:]
						require.Equal(rt, p.want, drain(rt, p.it, p.it.First()), "snapshot %+v", p.opts)
						require.NoError(rt, p.it.Close())
					case 6:
						k := genModelKey().Draw(rt, "getKey")
						r := rapid.OneOf(rapid.Uint64Range(0, ts+1), rapid.Just(interfaces.MaxTs)).Draw(rt, "getTs")
						v, gotTs, err := s.Get([]byte(k), r)
						want, ok := ref.get(k, r)
						if !ok {
							require.ErrorIs(rt, err, interfaces.ErrNotFound, "Get(%q, %d)", k, r)
						} else {
							require.NoError(rt, err)
							require.Equal(rt, want.value, string(v), "Get(%q, %d)", k, r)
							require.Equal(rt, want.ts, gotTs)
						}
					default:
						opts := drawOpts(rt, ts)
						want := ref.expect(opts, ts, 0, false)
						it, err := s.NewIterator(opts)
						require.NoError(rt, err)
						if rapid.Bool().Draw(rt, "seek") {
							target := []byte(genModelKey().Draw(rt, "target"))
							i := seekIndex(want, target, opts.Reverse)
							require.Equal(rt, tail(want, i), drain(rt, it, it.Seek(target)), "%+v Seek(%q)", opts, target)
						}
						require.Equal(rt, want, drain(rt, it, it.First()), "%+v", opts)
						require.NoError(rt, it.Close())
					}
				}
				require.NoError(rt, s.Check())
			})
		})
	}
}

func drawOpts(rt *rapid.T, applied uint64) interfaces.IterOptions {
	opts := interfaces.IterOptions{
		ReadTs:      rapid.OneOf(rapid.Uint64Range(0, applied+1), rapid.Just(interfaces.MaxTs)).Draw(rt, "readTs"),
		LowerBound:  genBound("lower").Draw(rt, "lower"),
		UpperBound:  genBound("upper").Draw(rt, "upper"),
		Reverse:     rapid.Bool().Draw(rt, "reverse"),
		AllVersions: rapid.Bool().Draw(rt, "all"),
	}
	if rapid.IntRange(0, 3).Draw(rt, "hasPrefix") == 0 {
		opts.Prefix = []byte(rapid.SampledFrom([]string{"", "\x00", "a", "a\x00", "\xff"}).Draw(rt, "prefix"))
	}
	return opts
}

// TestCrashModel runs random Apply, Flush, SetDiscardTs, Compact, clean
// reopens and crashes (losing a random subset of unsynced Writes) over a
// CrashStore with tiny batches, and checks after each step that the
// Storage holds exactly the model's versions: after a crash, exactly those
// up to DurableTs, with the ones the discard ts lets go optional and every
// read at or above the discard ts exact.
func TestCrashModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		opts := Options{BatchOps: rapid.SampledFrom([]int{1, 2, 3, 1024}).Draw(rt, "batchOps")}
		cs := NewCrashStore()
		s, err := New(cs, opts)
		require.NoError(rt, err)
		defer func() { _ = s.Close() }()
		ref := refModel{}
		ts, applied, durable := uint64(0), uint64(0), uint64(0)
		// discard is the highest discard ts ever set: what it lets go is
		// optional from then on. known is the discard ts the Storage holds,
		// which a crash may set back (to no less than flushed, the value at
		// the last Flush); Compact must drop everything known lets go.
		discard, known, flushed := uint64(0), uint64(0), uint64(0)
		compacted := false

		verify := func(what string) {
			got, err := s.DurableTs()
			require.NoError(rt, err)
			require.Equal(rt, durable, got, what)
			all := walk(rt, s, allOpts)
			full := ref.expect(allOpts, applied, discard, false)
			must := ref.expect(allOpts, applied, discard, true)
			require.Subset(rt, full, all, "%s: a version that was never applied (or is above DurableTs)", what)
			require.Subset(rt, all, must, "%s: a version that may not be dropped is gone", what)
			if compacted {
				require.Subset(rt, ref.expect(allOpts, applied, known, true), all, "%s: a droppable version survived Compact", what)
			}
			for _, r := range []uint64{discard, durable, applied, interfaces.MaxTs} {
				if r < discard {
					continue
				}
				o := interfaces.IterOptions{ReadTs: r}
				require.Equal(rt, ref.expect(o, applied, 0, false), walk(rt, s, o), "%s: read at %d", what, r)
				o.Reverse = true
				require.Equal(rt, ref.expect(o, applied, 0, false), walk(rt, s, o), "%s: reverse read at %d", what, r)
				for _, k := range modelKeys {
					want, ok := ref.get(k, r)
					v, gotTs, err := s.Get([]byte(k), r)
					if !ok {
						require.ErrorIs(rt, err, interfaces.ErrNotFound, "%s: Get(%q, %d)", what, k, r)
						continue
					}
					require.NoError(rt, err)
					require.Equal(rt, want.value, string(v))
					require.Equal(rt, want.ts, gotTs)
				}
			}
			require.NoError(rt, s.Check(), what)
		}
		reopened := func() {
			ref.truncate(durable)
			applied = durable
			compacted = false
			st, err := s.Stats()
			require.NoError(rt, err)
			require.GreaterOrEqual(rt, st.DiscardTs, flushed, "the discard ts at the last Flush was lost")
			require.LessOrEqual(rt, st.DiscardTs, discard)
			known = st.DiscardTs
		}

		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); op {
			case 0, 1, 2, 3:
				var group []interfaces.Entry
				used := map[string]bool{}
				for range rapid.IntRange(1, 4).Draw(rt, "groupSize") {
					ts++
					k := genModelKey().Draw(rt, "key")
					if used[k] {
						continue
					}
					used[k] = true
					if rapid.IntRange(0, 2).Draw(rt, "del") == 0 {
						group = append(group, delE(k, ts))
					} else {
						group = append(group, setE(k, ts, fmt.Sprint(ts)))
					}
				}
				require.NoError(rt, s.Apply(group))
				ref.apply(group...)
				applied = group[len(group)-1].Ts
				compacted = false
			case 4:
				d, err := s.Flush()
				require.NoError(rt, err)
				require.Equal(rt, applied, d)
				durable = d
				flushed = known
			case 5:
				d := rapid.Uint64Range(0, ts+2).Draw(rt, "discard")
				require.NoError(rt, s.SetDiscardTs(d))
				known = max(known, d)
				if d > discard {
					discard = d
					compacted = false
				}
			case 6:
				require.NoError(rt, s.Compact(interfaces.KeyRange{}))
				// Compact may flush, to make the shadowing versions durable.
				if d, err := s.DurableTs(); err == nil && d != durable {
					durable, flushed = d, known
				}
				compacted = true
				verify("after Compact")
			case 7:
				require.NoError(rt, s.Close())
				s, err = New(cs.Reopen(), opts)
				require.NoError(rt, err)
				reopened()
				verify("after Close and reopen")
			default:
				keep := rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(rt, "keep")
				seed := rapid.Uint64().Draw(rt, "seed")
				cs = cs.Crash(keep, seed)
				_ = s.Close()
				s, err = New(cs, opts)
				require.NoError(rt, err)
				reopened()
				verify(fmt.Sprintf("after a crash keeping %.1f", keep))
			}
		}
		verify("at the end")
	})
}

// TestModelKeysAreDistinct guards the model's key list: duplicates would
// hide ordering bugs.
func TestModelKeysAreDistinct(t *testing.T) {
	sorted := slices.Clone(modelKeys)
	slices.Sort(sorted)
	require.Equal(t, len(sorted), len(slices.Compact(sorted)))
}
