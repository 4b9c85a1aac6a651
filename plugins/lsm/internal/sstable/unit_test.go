package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// TestHash64Golden pins the filter hash: XXH64 with seed 0. The values are
// the reference implementation's; changing them breaks every filter on
// disk.
func TestHash64Golden(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"lightning", 0xe38c56da2931dc09},
		{"0123456789abcdef0123456789abcdef0123", 0xc4255ba3d1af5461},
	} {
		require.Equal(t, c.want, hash64([]byte(c.in)), "%q", c.in)
	}
}

func TestFilter(t *testing.T) {
	for _, bits := range []int{1, 5, 10, 20} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			const n = 20000
			hashes := make([]uint64, n)
			for i := range hashes {
				hashes[i] = hash64(fmt.Appendf(nil, "present-%d", i))
			}
			raw := buildFilter(nil, hashes, bits)
			f, reason := decodeFilter(raw)
			require.Empty(t, reason)
			require.Equal(t, filterProbes(bits), f.probes)
			for _, h := range hashes {
				require.True(t, f.mayContain(h), "false negative")
			}
			fp := 0
			for i := range n {
				if f.mayContain(hash64(fmt.Appendf(nil, "absent-%d", i))) {
					fp++
				}
			}
			rate := float64(fp) / n
			t.Logf("%d bits/key: false-positive rate %.3f%%", bits, 100*rate)
			// The ideal blocked Bloom filter (512-bit lines, Poisson
			// keys per line) gives 63%, 9.3%, 0.96% and 0.020%; allow
			// sampling noise.
			bound := map[int]float64{1: 0.66, 5: 0.10, 10: 0.0115, 20: 0.0005}[bits]
			require.Less(t, rate, bound)
		})
	}
}

func TestDecodeFilterRejects(t *testing.T) {
	good := buildFilter(nil, []uint64{1, 2, 3}, 10)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, b := range map[string][]byte{
		"short":       {1, 2, 3},
		"no lines":    mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-4:], 0); return b }),
		"wrong lines": mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-4:], 2); return b }),
		"zero probes": mut(func(b []byte) []byte { b[len(b)-6] = 0; return b }),
		"31 probes":   mut(func(b []byte) []byte { b[len(b)-6] = 31; return b }),
		"hash":        mut(func(b []byte) []byte { b[len(b)-5] = 2; return b }),
		"truncated":   good[1:],
	} {
		_, reason := decodeFilter(b)
		require.NotEmpty(t, reason, name)
	}
}

func TestSeparators(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"abc", "abd", "abc"},           // c+1 == d: cannot shorten
		{"abcdef", "abzz", "abd"},       // shortened
		{"abc", "abcdef", "abc"},        // prefix
		{"a\xff\xff", "b", "a\xff\xff"}, // 0xff cannot be incremented
		{"", "a", ""},
		{"foo", "foo\x00", "foo"},
		{"fooa", "foob", "fooa"},
		{"helloworld", "hellp", "helloworld"},   // 'o'+1 == 'p'
		{"user1234567", "user2", "user1234567"}, // '1'+1 == '2'
		{"user1234567", "user3", "user2"},
	} {
		require.Equal(t, c.want, string(shortestSeparator(nil, []byte(c.a), []byte(c.b))), "%q %q", c.a, c.b)
	}
}

// TestSeparatorProperty checks last <= separator < next for random keys,
// including versions of one user key and the final block's successor.
func TestSeparatorProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alpha := rapid.SampledFrom([]byte{0, 1, 'a', 'b', 0xfe, 0xff})
		ukey := rapid.SliceOfN(alpha, 0, 6)
		a := base.MakeInternalKey(ukey.Draw(t, "a"), rapid.Uint64Range(0, 1<<20).Draw(t, "ta"), base.KindSet)
		b := base.MakeInternalKey(ukey.Draw(t, "b"), rapid.Uint64Range(0, 1<<20).Draw(t, "tb"), base.KindDelete)
		if base.Compare(a, b) > 0 {
			a, b = b, a
		}
		if base.Compare(a, b) == 0 {
			return
		}
		ea, eb := a.Append(nil), b.Append(nil)
		sep := appendSeparator(nil, ea, eb)
		if base.CompareEncoded(ea, sep) > 0 || base.CompareEncoded(sep, eb) >= 0 {
			t.Fatalf("separator %s not in [%s, %s)", decodeKey(sep), a, b)
		}
		if len(sep) > len(ea) {
			t.Fatalf("separator %s longer than %s", decodeKey(sep), a)
		}
		if last := appendSeparator(nil, ea, nil); !bytes.Equal(last, ea) {
			t.Fatalf("last separator %s is not the last key %s", decodeKey(last), a)
		}
	})
}

// buildBlock writes keys (encoded, sorted) and values as one block.
func buildBlock(keys [][]byte, values [][]byte, interval int) []byte {
	w := blockWriter{restartInterval: interval}
	for i, k := range keys {
		w.add(k, w.entryShared(k), values[i])
	}
	return bytes.Clone(w.finish())
}

// TestBlockIterModel drives a blockIter with random operations against a
// sorted slice, including turns of direction.
func TestBlockIterModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 80).Draw(t, "n")
		interval := rapid.IntRange(1, 20).Draw(t, "interval")
		set := map[string]bool{}
		var ks []base.InternalKey
		for len(ks) < n {
			k := base.MakeInternalKey([]byte(rapid.StringMatching(`[ab]{0,4}`).Draw(t, "k")),
				rapid.Uint64Range(1, 6).Draw(t, "ts"), base.KindSet)
			if s := string(k.Append(nil)); !set[s] {
				set[s] = true
				ks = append(ks, k)
			}
		}
		sort.Slice(ks, func(i, j int) bool { return base.Compare(ks[i], ks[j]) < 0 })
		keys, vals := make([][]byte, n), make([][]byte, n)
		for i, k := range ks {
			keys[i] = k.Append(nil)
			vals[i] = bytes.Repeat([]byte{byte(i)}, rapid.IntRange(0, 200).Draw(t, "vlen"))
		}
		b, reason := validateBlock(buildBlock(keys, vals, interval))
		if reason != "" {
			t.Fatal(reason)
		}
		var it blockIter
		it.init(b, "blk", 0)
		pos := -1 // model position; -1 or n when invalid
		check := func(ok bool) {
			if ok != (pos >= 0 && pos < n) {
				t.Fatalf("valid=%v, model pos %d of %d", ok, pos, n)
			}
			if it.err != nil {
				t.Fatal(it.err)
			}
			if ok {
				if base.Compare(it.ikey, ks[pos]) != 0 || !bytes.Equal(it.val, vals[pos]) {
					t.Fatalf("at %s, model %s", it.ikey, ks[pos])
				}
			}
		}
		for range rapid.IntRange(1, 60).Draw(t, "ops") {
			seek := base.MakeInternalKey([]byte(rapid.StringMatching(`[ab]{0,5}`).Draw(t, "seek")),
				rapid.Uint64Range(0, 7).Draw(t, "seekts"), base.KindSet)
			ge := sort.Search(n, func(i int) bool { return base.Compare(ks[i], seek) >= 0 })
			switch op := rapid.IntRange(0, 5).Draw(t, "op"); op {
			case 0:
				pos = 0
				check(it.First())
			case 1:
				pos = n - 1
				check(it.Last())
			case 2:
				pos = ge
				check(it.SeekGE(seek.UserKey, seek.Trailer))
			case 3:
				pos = ge - 1
				check(it.SeekLT(seek.UserKey, seek.Trailer))
			case 4:
				if pos < 0 || pos >= n {
					continue
				}
				pos++
				check(it.Next())
			case 5:
				if pos < 0 || pos >= n {
					continue
				}
				pos--
				check(it.Prev())
			}
		}
		// The point-lookup path agrees with SeekGE.
		for _, k := range ks {
			key, val, reason := b.seekGE(k.UserKey, k.Trailer, nil)
			if reason != "" || base.CompareEncoded(key, k.Append(nil)) != 0 || len(val) != len(vals[sort.Search(n, func(i int) bool { return base.Compare(ks[i], k) >= 0 })]) {
				t.Fatalf("seekGE(%s) = %q, %q", k, key, reason)
			}
		}
	})
}

func TestValidateBlockRejects(t *testing.T) {
	k := base.MakeInternalKey([]byte("key"), 1, base.KindSet).Append(nil)
	good := buildBlock([][]byte{k}, [][]byte{[]byte("v")}, 16)
	le := binary.LittleEndian
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, b := range map[string][]byte{
		"empty":            nil,
		"3 bytes":          {0, 0, 0},
		"no restarts":      {0, 0, 0, 0},
		"only restarts":    {0, 0, 0, 0, 1, 0, 0, 0},
		"huge count":       mut(func(b []byte) []byte { le.PutUint32(b[len(b)-4:], 1<<31); return b }),
		"first restart":    mut(func(b []byte) []byte { le.PutUint32(b[len(b)-8:], 1); return b }),
		"restart past end": append(bytes.Clone(good[:len(good)-4]), mut(func(b []byte) []byte { return le.AppendUint32(b[:0], 99) })[:4]...),
	} {
		_, reason := validateBlock(b)
		require.NotEmpty(t, reason, name)
	}
	two := buildBlock([][]byte{k, base.MakeInternalKey([]byte("key2"), 1, base.KindSet).Append(nil)}, [][]byte{nil, nil}, 1)
	bad := bytes.Clone(two)
	le.PutUint32(bad[len(bad)-8:], 0) // second restart == first
	_, reason := validateBlock(bad)
	require.NotEmpty(t, reason)
}

func TestKeyPrefixOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		a := make([]byte, rng.IntN(10))
		b := make([]byte, rng.IntN(10))
		for i := range a {
			a[i] = byte(rng.IntN(3))
		}
		for i := range b {
			b[i] = byte(rng.IntN(3))
		}
		pa, pb := base.KeyPrefix(a), base.KeyPrefix(b)
		if pa < pb {
			require.Negative(t, bytes.Compare(a, b))
		}
		if bytes.Compare(a, b) < 0 {
			require.LessOrEqual(t, pa, pb)
		}
	}
}
