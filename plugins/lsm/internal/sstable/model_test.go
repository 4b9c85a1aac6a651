package sstable

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// TestTableModel writes random tables under random options and checks Get
// and iteration (seeks, steps both ways, turns) against the sorted
// entries.
func TestTableModel(t *testing.T) {
	g := newGCM(t, 3)
	rapid.Check(t, func(t *rapid.T) {
		// Dense short keys make many versions per key and exact
		// separators; sparse longer ones make shortened separators with
		// gaps between blocks that seeks land in.
		keyGen := rapid.StringMatching(`[a-c]{0,3}[\x00\xff]?`)
		if rapid.Bool().Draw(t, "sparse") {
			keyGen = rapid.StringMatching(`[a-z]{0,2}[b-y\xff]{0,6}`)
		}
		n := rapid.IntRange(1, 400).Draw(t, "n")
		var es []entry
		for range n {
			e := entry{key: keyGen.Draw(t, "key"), ts: rapid.Uint64Range(1, 30).Draw(t, "ts"), kind: base.KindSet}
			if rapid.IntRange(0, 4).Draw(t, "del") == 0 {
				e.kind = base.KindDelete
			} else {
				e.value = rapid.StringMatching(`x{0,60}|[a-z]{0,8}`).Draw(t, "value")
			}
			es = append(es, e)
		}
		es = sortEntries(es)
		wo := WriterOptions{
			BlockSize:       rapid.SampledFrom([]int{MinBlockSize, 300, 1024, 4096}).Draw(t, "block"),
			RestartInterval: rapid.IntRange(1, 20).Draw(t, "restart"),
			BloomBitsPerKey: rapid.IntRange(-1, 12).Draw(t, "bloom"),
			FileNum:         rapid.Uint64().Draw(t, "filenum"),
		}
		ro := ReaderOptions{FileNum: wo.FileNum, Codecs: []interfaces.Codec{rle2, rle1}}
		if rapid.Bool().Draw(t, "codec") {
			wo.Codec = rle1
		}
		if rapid.Bool().Draw(t, "cipher") {
			wo.Cipher, ro.Cipher = g, g
		}
		if rapid.Bool().Draw(t, "cache") {
			ro.Cache = newTestCache()
		}
		f, m := buildTable(t, es, wo)
		r := openTable(t, f.bytes(), ro)
		defer r.Close()
		if err := r.Verify(); err != nil {
			t.Fatal(err)
		}
		if m.NumEntries != uint64(len(es)) {
			t.Fatalf("%d entries, want %d", m.NumEntries, len(es))
		}
		it := r.NewIter(IterOptions{NoCacheFill: rapid.Bool().Draw(t, "nofill")})
		defer it.Close()
		pos := -1
		check := func(ok bool, what string) {
			if it.Error() != nil {
				t.Fatal(it.Error())
			}
			if ok != (pos >= 0 && pos < len(es)) {
				t.Fatalf("%s: valid=%v, model position %d of %d", what, ok, pos, len(es))
			}
			if ok {
				e := es[pos]
				if base.Compare(it.Key(), e.ikey()) != 0 || string(it.Value()) != e.value {
					t.Fatalf("%s: at %s=%q, model %s=%q", what, it.Key(), it.Value(), e.ikey(), e.value)
				}
			}
		}
		for range rapid.IntRange(1, 100).Draw(t, "ops") {
			key := keyGen.Draw(t, "opkey")
			ts := rapid.Uint64Range(0, 31).Draw(t, "opts")
			seek := base.InternalKey{UserKey: []byte(key), Trailer: base.SeekTrailer(ts)}
			if rapid.Bool().Draw(t, "exact") {
				seek = base.MakeInternalKey([]byte(key), ts, base.KindSet)
			}
			switch rapid.IntRange(0, 6).Draw(t, "op") {
			case 0:
				want, wantOK := modelGet(es, key, ts)
				v, gts, kind, ok, err := r.Get([]byte(key), ts, nil)
				if err != nil || ok != wantOK || (ok && (gts != want.ts || kind != want.kind || string(v) != want.value)) {
					t.Fatalf("Get(%q, %d) = %q %d %d %v %v, want %+v %v", key, ts, v, gts, kind, ok, err, want, wantOK)
				}
				if wantOK && !r.MayContain([]byte(key)) {
					t.Fatalf("filter lost %q", key)
				}
			case 1:
				pos = 0
				check(it.First(), "First")
			case 2:
				pos = len(es) - 1
				check(it.Last(), "Last")
			case 3:
				pos = modelSeekGE(es, seek)
				check(it.SeekGE(seek), "SeekGE "+seek.String())
			case 4:
				pos = modelSeekGE(es, seek) - 1
				check(it.SeekLT(seek), "SeekLT "+seek.String())
			case 5:
				if pos < 0 || pos >= len(es) {
					continue
				}
				for range rapid.IntRange(1, 40).Draw(t, "steps") {
					pos++
					ok := it.Next()
					check(ok, "Next")
					if !ok {
						break
					}
				}
			case 6:
				if pos < 0 || pos >= len(es) {
					continue
				}
				for range rapid.IntRange(1, 40).Draw(t, "steps") {
					pos--
					ok := it.Prev()
					check(ok, "Prev")
					if !ok {
						break
					}
				}
			}
		}
	})
}
