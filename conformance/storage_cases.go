package conformance

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/lightningdb/lightning/interfaces"
)

// The targeted cases about reads: visibility, tombstones, buffers, limits
// and iterators.

var knownStorageCaps = []interfaces.Capability{
	interfaces.CapDurable, interfaces.CapDiscard, interfaces.CapCompact, interfaces.CapCheck,
}

func (sc *storageSuite) testDescribe(t T) {
	d := sc.desc
	if d.Kind != interfaces.KindStorage {
		t.Errorf("conformance: Describe().Kind = %q; want %q", d.Kind, interfaces.KindStorage)
	}
	if d.ContractVersion != interfaces.StorageContractVersion {
		t.Errorf("conformance: Describe().ContractVersion = %d; this suite tests %d", d.ContractVersion, interfaces.StorageContractVersion)
	}
	if d.Name == "" {
		t.Errorf("conformance: Describe().Name is empty")
	}
	if d.Version == "" {
		t.Errorf("conformance: Describe().Version is empty")
	}
	seen := map[interfaces.Capability]bool{}
	for _, c := range d.Capabilities {
		if seen[c] {
			t.Errorf("conformance: Describe() claims %q twice", c)
		}
		seen[c] = true
		if !slices.Contains(knownStorageCaps, c) {
			t.Logf("conformance: Describe() claims %q, which this suite does not know", c)
		}
	}
	t.Logf("conformance: testing %s %s, capabilities %v", d.Name, d.Version, d.Capabilities)
	// Every instance describes itself the same way.
	in := sc.open(t)
	d2 := in.s.Describe()
	if d2.Kind != d.Kind || d2.Name != d.Name || d2.Version != d.Version ||
		d2.ContractVersion != d.ContractVersion || !slices.Equal(d2.Capabilities, d.Capabilities) {
		t.Errorf("conformance: two instances describe themselves differently: %+v and %+v", d, d2)
	}
}

func (sc *storageSuite) testEmpty(t T) {
	in := sc.open(t)
	for _, k := range []string{"", "a", "\xff"} {
		in.wantAbsent(k, interfaces.MaxTs)
		in.wantAbsent(k, 1)
	}
	for _, opts := range []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs},
		{ReadTs: interfaces.MaxTs, Reverse: true},
		{ReadTs: interfaces.MaxTs, AllVersions: true},
		{ReadTs: 1, Reverse: true, AllVersions: true},
	} {
		in.wantItems("walk of an empty store "+fmtOpts(opts), in.walk(opts), nil)
		it, err := in.s.NewIterator(opts)
		if err != nil {
			t.Fatalf("conformance: NewIterator(%s): %v", fmtOpts(opts), err)
		}
		if it.Valid() {
			t.Errorf("conformance: a new iterator is valid before First or Seek")
		}
		if it.Seek([]byte("a")) || it.Valid() {
			t.Errorf("conformance: Seek on an empty store %s is valid", fmtOpts(opts))
		}
		if it.Next() {
			t.Errorf("conformance: Next on an exhausted iterator %s returned true", fmtOpts(opts))
		}
		in.closeIter(it, opts)
	}
	if d := in.durableTs(); d != 0 {
		t.Errorf("conformance: DurableTs of an empty store = %d; want 0", d)
	}
}

func (sc *storageSuite) testVisibility(t T) {
	in := sc.open(t)
	in.apply(set("k", 10, "v10"))
	in.apply(set("k", 20, "v20"))
	in.apply(set("k", 30, "v30"), set("other", 30, "o"))
	for _, ts := range []uint64{1, 9} {
		in.wantAbsent("k", ts)
	}
	for _, c := range []struct {
		readTs, ts uint64
		value      string
	}{
		{10, 10, "v10"}, {15, 10, "v10"}, {19, 10, "v10"},
		{20, 20, "v20"}, {25, 20, "v20"}, {29, 20, "v20"},
		{30, 30, "v30"}, {31, 30, "v30"}, {1 << 40, 30, "v30"}, {interfaces.MaxTs, 30, "v30"},
	} {
		in.wantGet("k", c.readTs, c.value, c.ts)
	}
	in.wantAbsent("other", 29)
	in.wantGet("other", 30, "o", 30)
	for _, k := range []string{"", "j", "k\x00", "kk", "l"} {
		in.wantAbsent(k, interfaces.MaxTs)
	}

	// One commit group: a key at several ts, and another key, in one call.
	in.apply(set("g", 40, "a"), set("g", 41, "b"), set("h", 41, "h"), set("g", 42, "c"))
	in.wantAbsent("g", 39)
	in.wantGet("g", 40, "a", 40)
	in.wantGet("g", 41, "b", 41)
	in.wantGet("g", 42, "c", 42)
	in.wantGet("g", interfaces.MaxTs, "c", 42)
	in.wantAbsent("h", 40)
	in.wantGet("h", 41, "h", 41)

	for _, c := range []struct {
		readTs uint64
		want   []item
	}{
		{5, nil},
		{15, []item{setItem("k", 10, "v10")}},
		{35, []item{setItem("k", 30, "v30"), setItem("other", 30, "o")}},
		{41, []item{setItem("g", 41, "b"), setItem("h", 41, "h"), setItem("k", 30, "v30"), setItem("other", 30, "o")}},
		{interfaces.MaxTs, []item{setItem("g", 42, "c"), setItem("h", 41, "h"), setItem("k", 30, "v30"), setItem("other", 30, "o")}},
	} {
		opts := interfaces.IterOptions{ReadTs: c.readTs}
		in.wantItems("walk "+fmtOpts(opts), in.walk(opts), c.want)
		opts.Reverse = true
		rev := slices.Clone(c.want)
		slices.Reverse(rev)
		in.wantItems("walk "+fmtOpts(opts), in.walk(opts), rev)
	}
}

func (sc *storageSuite) testTombstones(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "x"))
	in.apply(del("a", 2))
	in.apply(set("a", 3, "y"), set("b", 3, "b"))
	in.apply(del("c", 4)) // a tombstone for a key that never had a value
	in.apply(del("b", 5))
	// A set and a tombstone of one key in one call.
	in.apply(set("d", 6, "d"), del("d", 7))
	// A tombstone's value is ignored.
	in.apply(interfaces.Entry{Key: []byte("e"), Ts: 8, Kind: interfaces.KindDelete, Value: []byte("junk")})

	in.wantGet("a", 1, "x", 1)
	in.wantAbsent("a", 2)
	in.wantGet("a", 3, "y", 3)
	in.wantGet("a", interfaces.MaxTs, "y", 3)
	in.wantGet("b", 4, "b", 3)
	in.wantAbsent("b", 5)
	in.wantAbsent("b", interfaces.MaxTs)
	in.wantAbsent("c", 4)
	in.wantAbsent("c", interfaces.MaxTs)
	in.wantGet("d", 6, "d", 6)
	in.wantAbsent("d", 7)
	in.wantAbsent("e", interfaces.MaxTs)

	walks := []struct {
		opts interfaces.IterOptions
		want []item
	}{
		{interfaces.IterOptions{ReadTs: 2}, nil},
		{interfaces.IterOptions{ReadTs: 3}, []item{setItem("a", 3, "y"), setItem("b", 3, "b")}},
		{interfaces.IterOptions{ReadTs: 6}, []item{setItem("a", 3, "y"), setItem("d", 6, "d")}},
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs}, []item{setItem("a", 3, "y")}},
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: true}, []item{setItem("a", 3, "y")}},
		{interfaces.IterOptions{ReadTs: 2, Reverse: true}, nil},
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}, []item{
			setItem("a", 3, "y"), delItem("a", 2), setItem("a", 1, "x"),
			delItem("b", 5), setItem("b", 3, "b"), delItem("c", 4),
			delItem("d", 7), setItem("d", 6, "d"), delItem("e", 8),
		}},
	}
	for _, w := range walks {
		in.wantItems("walk "+fmtOpts(w.opts), in.walk(w.opts), w.want)
	}
	if in.has(interfaces.CapDurable) {
		in.flush()
		in.reopen()
		in.wantAbsent("b", interfaces.MaxTs)
		in.wantGet("a", 1, "x", 1)
		in.wantAbsent("a", 2)
		in.wantItems("walk after Flush and Reopen", in.walk(walks[6].opts), walks[6].want)
	}
}

func (sc *storageSuite) testValueOwnership(t T) {
	in := sc.open(t)
	// Keys and values cut from one buffer the caller reuses.
	buf := []byte("k1value-onek2VALUE-TWO")
	e1 := interfaces.Entry{Key: buf[0:2], Ts: 1, Kind: interfaces.KindSet, Value: buf[2:11]}
	e2 := interfaces.Entry{Key: buf[11:13], Ts: 1, Kind: interfaces.KindSet, Value: buf[13:22]}
	in.apply(e1, e2)
	scribble(buf)
	in.wantGet("k1", interfaces.MaxTs, "value-one", 1)
	in.wantGet("k2", interfaces.MaxTs, "VALUE-TWO", 1)
	in.wantAbsent(string(buf[0:2]), interfaces.MaxTs)

	// A value Get returns belongs to the caller: later calls do not change
	// it, and changing it does not change the store.
	v1, _, err := in.s.Get([]byte("k1"), interfaces.MaxTs)
	if err != nil {
		t.Fatalf("conformance: Get(k1): %v", err)
	}
	v2, _, err := in.s.Get([]byte("k2"), interfaces.MaxTs)
	if err != nil {
		t.Fatalf("conformance: Get(k2): %v", err)
	}
	in.apply(set("k1", 2, "other-val"), set("k3", 2, "third-val"))
	if _, err := in.s.Flush(); err != nil {
		t.Fatalf("conformance: Flush: %v", err)
	}
	_ = in.walk(interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true})
	if _, _, err := in.s.Get([]byte("k3"), interfaces.MaxTs); err != nil {
		t.Fatalf("conformance: Get(k3): %v", err)
	}
	if string(v1) != "value-one" || string(v2) != "VALUE-TWO" {
		t.Fatalf("conformance: values returned by Get changed after later calls: %q, %q; want %q, %q",
			v1, v2, "value-one", "VALUE-TWO")
	}
	scribble(v1)
	scribble(v2)
	in.wantGet("k1", 1, "value-one", 1)
	in.wantGet("k2", interfaces.MaxTs, "VALUE-TWO", 1)

	// Iterator keys and values are the iterator's: the test copies them.
	// The bounds passed to NewIterator and the key passed to Seek are the
	// caller's, reusable once the call returns.
	lower, upper := []byte("k1"), []byte("k3")
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: lower, UpperBound: upper}
	it, err := in.s.NewIterator(opts)
	if err != nil {
		t.Fatalf("conformance: NewIterator: %v", err)
	}
	scribble(lower)
	scribble(upper)
	var got []item
	target := []byte("k2")
	for ok := it.Seek(target); ok; ok = it.Next() {
		scribble(target)
		got = append(got, in.current(it, opts))
	}
	in.closeIter(it, opts)
	in.wantItems("Seek(k2) in [k1, k3) after the caller reused the bounds", got, []item{setItem("k2", 1, "VALUE-TWO")})
}

func (sc *storageSuite) testEmptyKeyAndValue(t T) {
	in := sc.open(t)
	in.apply(
		set("", 1, "empty-key"),
		set("a", 1, ""),
		interfaces.Entry{Key: []byte("b"), Ts: 1, Kind: interfaces.KindSet, Value: nil},
	)
	check := func(when string) {
		in.wantGet("", interfaces.MaxTs, "empty-key", 1)
		if v, ts, err := in.s.Get(nil, interfaces.MaxTs); err != nil || string(v) != "empty-key" || ts != 1 {
			t.Errorf("conformance: %s: Get(nil key) = %q at %d, %v; want the empty key's value", when, v, ts, err)
		}
		for _, k := range []string{"a", "b"} {
			v, ts, err := in.s.Get([]byte(k), interfaces.MaxTs)
			if err != nil || len(v) != 0 || ts != 1 {
				t.Errorf("conformance: %s: Get(%q) = %q at %d, %v; want the empty value at 1", when, k, v, ts, err)
			}
		}
		all := []item{setItem("", 1, "empty-key"), setItem("a", 1, ""), setItem("b", 1, "")}
		for _, c := range []struct {
			opts interfaces.IterOptions
			want []item
		}{
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs}, all},
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs, Prefix: []byte{}}, all},
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: []byte{}}, all},
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs, UpperBound: []byte("a")}, all[:1]},
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs, UpperBound: []byte{}}, nil},
			{interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: true}, []item{all[2], all[1], all[0]}},
		} {
			in.wantItems(when+": walk "+fmtOpts(c.opts), in.walk(c.opts), c.want)
		}
		for _, reverse := range []bool{false, true} {
			opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: reverse}
			it, err := in.s.NewIterator(opts)
			if err != nil {
				t.Fatalf("conformance: NewIterator: %v", err)
			}
			if !it.Seek([]byte{}) || string(it.Key()) != "" || string(it.Value()) != "empty-key" {
				t.Errorf("conformance: %s: Seek(\"\") %s does not land on the empty key", when, fmtOpts(opts))
			}
			in.closeIter(it, opts)
		}
	}
	check("after Apply")
	if in.has(interfaces.CapDurable) {
		in.flush()
		in.reopen()
		check("after Flush and Reopen")
	}
	in.apply(del("", 2))
	in.wantAbsent("", interfaces.MaxTs)
	in.wantGet("", 1, "empty-key", 1)
	in.wantItems("walk after deleting the empty key", keysItems(in.walk(interfaces.IterOptions{ReadTs: interfaces.MaxTs})), keysItems([]item{{key: "a"}, {key: "b"}}))
}

// keysItems keeps only the keys of items, for comparisons about keys.
func keysItems(items []item) []item {
	out := make([]item, len(items))
	for i, it := range items {
		out[i] = item{key: it.key}
	}
	return out
}

func (sc *storageSuite) testLimits(t T) {
	in := sc.open(t)
	key := make([]byte, interfaces.MaxKeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	key[0], key[len(key)-1] = 0xff, 0x00
	key2 := bytes.Clone(key)
	key2[len(key2)-1] = 0xff
	value := make([]byte, interfaces.MaxValueSize)
	// A pattern of prime length, so no two blocks of the value look
	// alike, doubled into place (a byte loop is slow under -race).
	for i := range 251 {
		value[i] = byte(i*31 + 7)
	}
	for n := 251; n < len(value); n *= 2 {
		copy(value[n:], value[:n])
	}
	value[len(value)-1] = 0xff
	in.apply(
		interfaces.Entry{Key: key, Ts: 1, Kind: interfaces.KindSet, Value: value},
		interfaces.Entry{Key: key2, Ts: 1, Kind: interfaces.KindSet, Value: []byte("small")},
	)
	check := func(when string) {
		t.Helper()
		v, ts, err := in.s.Get(key, interfaces.MaxTs)
		if err != nil || ts != 1 || !bytes.Equal(v, value) {
			t.Fatalf("conformance: %s: Get of a MaxKeySize key returned %d bytes at ts %d, %v; want its MaxValueSize value at ts 1",
				when, len(v), ts, err)
		}
		v, _, err = in.s.Get(key2, interfaces.MaxTs)
		if err != nil || string(v) != "small" {
			t.Fatalf("conformance: %s: Get of the second MaxKeySize key = %q, %v", when, abbrev(string(v)), err)
		}
		opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: key[:len(key)-1]}
		it, err := in.s.NewIterator(opts)
		if err != nil {
			t.Fatalf("conformance: NewIterator: %v", err)
		}
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			want := [][]byte{key, key2}
			if n >= 2 || !bytes.Equal(it.Key(), want[n]) {
				t.Fatalf("conformance: %s: iterator step %d yields a %d-byte key that is not the expected MaxKeySize key", when, n, len(it.Key()))
			}
			if n == 0 && !bytes.Equal(it.Value(), value) {
				t.Fatalf("conformance: %s: iterator yields %d bytes for the MaxValueSize value", when, len(it.Value()))
			}
			n++
		}
		in.closeIter(it, opts)
		if n != 2 {
			t.Fatalf("conformance: %s: iterator yields %d versions; want the 2 MaxKeySize keys", when, n)
		}
	}
	check("after Apply")
	if in.has(interfaces.CapDurable) {
		in.flush()
		in.reopen()
		check("after Flush and Reopen")
	}
}

func (sc *storageSuite) testManyVersions(t T) {
	in := sc.open(t)
	m := newStorageModel()
	n := 600
	if short(t) {
		n = 200
	}
	for start := 1; start <= n; start += 50 {
		var batch []interfaces.Entry
		for ts := start; ts < start+50 && ts <= n; ts++ {
			if ts%7 == 0 {
				batch = append(batch, del("key", uint64(ts)))
			} else {
				batch = append(batch, set("key", uint64(ts), fmt.Sprintf("v%d", ts)))
			}
			if ts == n/2 {
				batch = append(batch, set("kex", uint64(ts), "left"), set("kez", uint64(ts), "right"))
			}
		}
		in.apply(batch...)
		m.apply(batch)
	}
	for ts := uint64(1); ts <= uint64(n)+1; ts++ {
		if v, ok := m.visible("key", ts); ok {
			in.wantGet("key", ts, string(v.value), v.ts)
		} else {
			in.wantAbsent("key", ts)
		}
	}
	for _, readTs := range []uint64{interfaces.MaxTs, uint64(n / 3), uint64(n/2 - 1), 7, 1} {
		for _, all := range []bool{false, true} {
			for _, rev := range []bool{false, true} {
				opts := interfaces.IterOptions{ReadTs: readTs, AllVersions: all, Reverse: rev}
				var want []item
				for _, e := range m.expect(opts, 0, 0) {
					want = append(want, e.item)
				}
				in.wantItems("walk "+fmtOpts(opts), in.walk(opts), want)
			}
		}
	}
	// Going backward with AllVersions, Seek lands on the oldest visible
	// version of the key.
	opts := interfaces.IterOptions{ReadTs: uint64(n / 3), AllVersions: true, Reverse: true}
	it, err := in.s.NewIterator(opts)
	if err != nil {
		t.Fatalf("conformance: NewIterator: %v", err)
	}
	if !it.Seek([]byte("key")) || string(it.Key()) != "key" || it.Ts() != 1 {
		t.Errorf("conformance: Seek(key) %s lands on %q@%d; want the oldest version, \"key\"@1", fmtOpts(opts), it.Key(), it.Ts())
	}
	in.closeIter(it, opts)
}

// boundKeys are the keys of the bound and prefix cases, in order.
var boundKeys = []string{"", "a", "a\x00", "aa", "ab", "abc", "b", "b\xff", "b\xff\xff", "c", "\xff", "\xff\xff"}

func (sc *storageSuite) testIteratorBounds(t T) {
	in := sc.open(t)
	var batch []interfaces.Entry
	for _, k := range boundKeys {
		batch = append(batch, set(k, 1, "v"+k))
	}
	in.apply(batch...)
	b := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name               string
		lower, upper, pref []byte
		want               []string
	}{
		{"no bounds", nil, nil, nil, boundKeys},
		{"lower inclusive", b("a"), nil, nil, boundKeys[1:]},
		{"lower on a key with 0x00", b("a\x00"), nil, nil, boundKeys[2:]},
		{"upper exclusive", nil, b("ab"), nil, boundKeys[:4]},
		{"bounds equal", b("ab"), b("ab"), nil, nil},
		{"bounds between keys", b("aa\x00"), b("b\x00"), nil, []string{"ab", "abc", "b"}},
		{"empty upper bound", nil, []byte{}, nil, nil},
		{"empty lower bound", []byte{}, nil, nil, boundKeys},
		{"upper just above the empty key", nil, b("\x00"), nil, []string{""}},
		{"lower above every key", b("\xff\xff\xff"), nil, nil, nil},
		{"bounds ending at 0xff keys", b("c"), b("\xff\xff"), nil, []string{"c", "\xff"}},
		{"prefix", nil, nil, b("a"), []string{"a", "a\x00", "aa", "ab", "abc"}},
		{"longer prefix", nil, nil, b("ab"), []string{"ab", "abc"}},
		{"prefix ending in 0x00", nil, nil, b("a\x00"), []string{"a\x00"}},
		{"prefix within bounds", b("aa"), b("abc"), b("a"), []string{"aa", "ab"}},
		{"prefix and upper bound", nil, b("b\xff\xff"), b("b"), []string{"b", "b\xff"}},
		{"bounds outside the prefix", b("b"), nil, b("a"), nil},
		{"prefix with 0xff", nil, nil, b("b\xff"), []string{"b\xff", "b\xff\xff"}},
		{"prefix of 0xff", nil, nil, b("\xff"), []string{"\xff", "\xff\xff"}},
		{"prefix of 0xff 0xff", nil, nil, b("\xff\xff"), []string{"\xff\xff"}},
		{"empty prefix", nil, nil, []byte{}, boundKeys},
		{"prefix matching nothing", nil, nil, b("zz"), nil},
	}
	for _, c := range cases {
		for _, mode := range []struct {
			reverse, all bool
		}{{false, false}, {true, false}, {false, true}, {true, true}} {
			opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: c.lower, UpperBound: c.upper,
				Prefix: c.pref, Reverse: mode.reverse, AllVersions: mode.all}
			want := slices.Clone(c.want)
			if mode.reverse {
				slices.Reverse(want)
			}
			got := keysOf(in.walk(opts))
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("conformance: %s: walk %s yields keys %q; want %q", c.name, fmtOpts(opts), got, want)
			}
		}
	}
	// Bounds over keys with several versions.
	in.apply(set("a", 2, "a2"), set("b", 2, "b2"), del("ab", 2))
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: b("a"), UpperBound: b("b\x00"), AllVersions: true}
	in.wantItems("walk "+fmtOpts(opts), in.walk(opts), []item{
		setItem("a", 2, "a2"), setItem("a", 1, "va"), setItem("a\x00", 1, "va\x00"), setItem("aa", 1, "vaa"),
		delItem("ab", 2), setItem("ab", 1, "vab"), setItem("abc", 1, "vabc"), setItem("b", 2, "b2"), setItem("b", 1, "vb"),
	})
	opts = interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: b("a"), UpperBound: b("b\x00"), Reverse: true}
	in.wantItems("walk "+fmtOpts(opts), in.walk(opts), []item{
		setItem("b", 2, "b2"), setItem("abc", 1, "vabc"), setItem("aa", 1, "vaa"), setItem("a\x00", 1, "va\x00"), setItem("a", 2, "a2"),
	})
}

func (sc *storageSuite) testReverseIteration(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a"), set("b", 1, "b"), set("c", 1, "c"), set("d", 1, "d"), set("e", 1, "e"))
	in.apply(set("c", 2, "c2"), del("x", 2))
	b := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name         string
		lower, upper []byte
		readTs       uint64
		all          bool
		want         []item
	}{
		{"whole", nil, nil, interfaces.MaxTs, false,
			[]item{setItem("e", 1, "e"), setItem("d", 1, "d"), setItem("c", 2, "c2"), setItem("b", 1, "b"), setItem("a", 1, "a")}},
		{"first key is the largest below the upper bound", nil, b("d"), interfaces.MaxTs, false,
			[]item{setItem("c", 2, "c2"), setItem("b", 1, "b"), setItem("a", 1, "a")}},
		{"upper bound just above a key", nil, b("c\x00"), interfaces.MaxTs, false,
			[]item{setItem("c", 2, "c2"), setItem("b", 1, "b"), setItem("a", 1, "a")}},
		{"last key is the smallest at or above the lower bound", b("b"), nil, interfaces.MaxTs, false,
			[]item{setItem("e", 1, "e"), setItem("d", 1, "d"), setItem("c", 2, "c2"), setItem("b", 1, "b")}},
		{"bounds between keys", b("b\x00"), b("d"), interfaces.MaxTs, false, []item{setItem("c", 2, "c2")}},
		{"bounds equal", b("c"), b("c"), interfaces.MaxTs, false, nil},
		{"older read ts", nil, nil, 1, false,
			[]item{setItem("e", 1, "e"), setItem("d", 1, "d"), setItem("c", 1, "c"), setItem("b", 1, "b"), setItem("a", 1, "a")}},
		{"all versions, exact reverse order", nil, nil, interfaces.MaxTs, true,
			[]item{delItem("x", 2), setItem("e", 1, "e"), setItem("d", 1, "d"), setItem("c", 1, "c"), setItem("c", 2, "c2"),
				setItem("b", 1, "b"), setItem("a", 1, "a")}},
		{"all versions within bounds", b("c"), b("d"), interfaces.MaxTs, true,
			[]item{setItem("c", 1, "c"), setItem("c", 2, "c2")}},
	}
	for _, c := range cases {
		opts := interfaces.IterOptions{ReadTs: c.readTs, LowerBound: c.lower, UpperBound: c.upper, Reverse: true, AllVersions: c.all}
		in.wantItems(c.name+": walk "+fmtOpts(opts), in.walk(opts), c.want)
	}
	// A reverse prefix iterator, and Next after the end.
	opts := interfaces.IterOptions{ReadTs: interfaces.MaxTs, Prefix: b("c"), Reverse: true}
	it, err := in.s.NewIterator(opts)
	if err != nil {
		t.Fatalf("conformance: NewIterator: %v", err)
	}
	if !it.First() || string(it.Key()) != "c" || it.Next() || it.Valid() || it.Next() {
		t.Errorf("conformance: reverse prefix iterator %s does not yield exactly \"c\" and then stop", fmtOpts(opts))
	}
	in.closeIter(it, opts)
}

func (sc *storageSuite) testSeek(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a"), set("c", 1, "c1"), set("e", 2, "e"))
	in.apply(set("c", 3, "c3"), del("g", 4), set("i", 5, "i"))
	b := func(s string) []byte { return []byte(s) }
	A, C1, C3, E, G, I := setItem("a", 1, "a"), setItem("c", 1, "c1"), setItem("c", 3, "c3"), setItem("e", 2, "e"), delItem("g", 4), setItem("i", 5, "i")
	type seek struct {
		target string
		want   []item // from the landing position to the end
	}
	cases := []struct {
		name  string
		opts  interfaces.IterOptions
		seeks []seek
	}{
		{"forward", interfaces.IterOptions{ReadTs: interfaces.MaxTs}, []seek{
			{"", []item{A, C3, E, I}}, {"a", []item{A, C3, E, I}}, {"b", []item{C3, E, I}}, {"c", []item{C3, E, I}},
			{"c\x00", []item{E, I}}, {"f", []item{I}}, {"g", []item{I}}, {"j", nil},
		}},
		{"forward at an older read ts", interfaces.IterOptions{ReadTs: 2}, []seek{
			{"b", []item{C1, E}}, {"f", nil},
		}},
		{"reverse", interfaces.IterOptions{ReadTs: interfaces.MaxTs, Reverse: true}, []seek{
			{"z", []item{I, E, C3, A}}, {"i", []item{I, E, C3, A}}, {"h", []item{E, C3, A}}, {"c", []item{C3, A}},
			{"b", []item{A}}, {"a", []item{A}}, {"0", nil}, {"", nil},
		}},
		{"forward clamped to [b, f)", interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: b("b"), UpperBound: b("f")}, []seek{
			{"", []item{C3, E}}, {"a", []item{C3, E}}, {"d", []item{E}}, {"f", nil}, {"z", nil},
		}},
		{"reverse clamped to [b, f)", interfaces.IterOptions{ReadTs: interfaces.MaxTs, LowerBound: b("b"), UpperBound: b("f"), Reverse: true}, []seek{
			{"z", []item{E, C3}}, {"f", []item{E, C3}}, {"e", []item{E, C3}}, {"d", []item{C3}}, {"b", nil}, {"a", nil},
		}},
		{"forward all versions", interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}, []seek{
			{"c", []item{C3, C1, E, G, I}}, {"f", []item{G, I}},
		}},
		{"reverse all versions lands on the oldest version", interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true, Reverse: true}, []seek{
			{"c", []item{C1, C3, A}}, {"h", []item{G, E, C1, C3, A}}, {"d", []item{C1, C3, A}},
		}},
		{"reverse all versions at an older read ts", interfaces.IterOptions{ReadTs: 2, AllVersions: true, Reverse: true}, []seek{
			{"c", []item{C1, A}}, {"z", []item{E, C1, A}},
		}},
		{"forward prefix", interfaces.IterOptions{ReadTs: interfaces.MaxTs, Prefix: b("c")}, []seek{
			{"a", []item{C3}}, {"c", []item{C3}}, {"d", nil},
		}},
		{"reverse prefix", interfaces.IterOptions{ReadTs: interfaces.MaxTs, Prefix: b("c"), Reverse: true}, []seek{
			{"z", []item{C3}}, {"c", []item{C3}}, {"b", nil},
		}},
	}
	for _, c := range cases {
		it, err := in.s.NewIterator(c.opts)
		if err != nil {
			t.Fatalf("conformance: NewIterator(%s): %v", fmtOpts(c.opts), err)
		}
		// All the seeks run on one iterator: a seek repositions it
		// wherever it stands, even after it ran off the end.
		for _, s := range c.seeks {
			var got []item
			for ok := it.Seek([]byte(s.target)); ok; ok = it.Next() {
				got = append(got, in.current(it, c.opts))
			}
			if !slices.Equal(got, s.want) {
				t.Errorf("conformance: %s: Seek(%q) %s then Next to the end yields %v; want %v",
					c.name, s.target, fmtOpts(c.opts), fmtItems(got), fmtItems(s.want))
			}
		}
		// First after the seeks starts over.
		if !it.First() {
			if c.seeks[0].want != nil {
				t.Errorf("conformance: %s: First after Seek is not valid", c.name)
			}
		}
		in.closeIter(it, c.opts)
	}
}

func (sc *storageSuite) testAllVersions(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a1"))
	in.apply(del("a", 2), set("b", 2, "b2"))
	in.apply(set("a", 3, "a3"), del("c", 4))
	fwd := []item{setItem("a", 3, "a3"), delItem("a", 2), setItem("a", 1, "a1"), setItem("b", 2, "b2"), delItem("c", 4)}
	rev := slices.Clone(fwd)
	slices.Reverse(rev)
	for _, c := range []struct {
		opts interfaces.IterOptions
		want []item
	}{
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true}, fwd},
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs, AllVersions: true, Reverse: true}, rev},
		{interfaces.IterOptions{ReadTs: 2, AllVersions: true}, []item{delItem("a", 2), setItem("a", 1, "a1"), setItem("b", 2, "b2")}},
		{interfaces.IterOptions{ReadTs: 2, AllVersions: true, Reverse: true}, []item{setItem("b", 2, "b2"), setItem("a", 1, "a1"), delItem("a", 2)}},
		{interfaces.IterOptions{ReadTs: interfaces.MaxTs}, []item{setItem("a", 3, "a3"), setItem("b", 2, "b2")}},
		{interfaces.IterOptions{ReadTs: 2}, []item{setItem("b", 2, "b2")}},
	} {
		in.wantItems("walk "+fmtOpts(c.opts), in.walk(c.opts), c.want)
	}
}

func (sc *storageSuite) testIteratorSnapshot(t T) {
	in := sc.open(t)
	in.apply(set("a", 1, "a1"), set("b", 2, "b2"))
	optsList := []interfaces.IterOptions{
		{ReadTs: interfaces.MaxTs},
		{ReadTs: interfaces.MaxTs, Reverse: true},
		{ReadTs: interfaces.MaxTs, AllVersions: true},
		{ReadTs: 100, AllVersions: true, Reverse: true},
		{ReadTs: interfaces.MaxTs},
	}
	its := make([]interfaces.Iterator, len(optsList))
	for i, opts := range optsList {
		it, err := in.s.NewIterator(opts)
		if err != nil {
			t.Fatalf("conformance: NewIterator(%s): %v", fmtOpts(opts), err)
		}
		its[i] = it
	}
	// The last iterator is half-way through its walk when the store moves.
	if !its[4].First() || string(its[4].Key()) != "a" {
		t.Fatalf("conformance: First on %s does not yield \"a\"", fmtOpts(optsList[4]))
	}
	in.apply(set("c", 3, "c3"), set("a", 4, "a4"))
	in.apply(del("b", 5), set("0", 6, "zero"))
	if in.has(interfaces.CapDurable) {
		in.flush()
	}
	if in.has(interfaces.CapDiscard) && in.has(interfaces.CapCompact) {
		// Nothing visible to the iterators is droppable at 2.
		if err := in.s.SetDiscardTs(2); err != nil {
			t.Fatalf("conformance: SetDiscardTs: %v", err)
		}
		if err := in.s.Compact(interfaces.KeyRange{}); err != nil {
			t.Fatalf("conformance: Compact: %v", err)
		}
	}
	old := []item{setItem("a", 1, "a1"), setItem("b", 2, "b2")}
	oldRev := []item{setItem("b", 2, "b2"), setItem("a", 1, "a1")}
	for i, want := range [][]item{old, oldRev, old, oldRev} {
		var got []item
		for ok := its[i].First(); ok; ok = its[i].Next() {
			got = append(got, in.current(its[i], optsList[i]))
		}
		in.wantItems("iterator opened before later Applies "+fmtOpts(optsList[i]), got, want)
		in.closeIter(its[i], optsList[i])
	}
	var got []item
	for ok := its[4].Next(); ok; ok = its[4].Next() {
		got = append(got, in.current(its[4], optsList[4]))
	}
	in.wantItems("rest of a walk begun before later Applies", got, []item{setItem("b", 2, "b2")})
	in.closeIter(its[4], optsList[4])
	in.wantItems("iterator opened after the Applies", in.walk(interfaces.IterOptions{ReadTs: interfaces.MaxTs}),
		[]item{setItem("0", 6, "zero"), setItem("a", 4, "a4"), setItem("c", 3, "c3")})
}
