package sstable

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/plugins/lsm/internal/base"
)

// openCounted opens data as a table over a memFile whose reads the caller
// counts; the reads Open made are not counted.
func openCounted(t *testing.T, data []byte, opts ReaderOptions) (*Reader, *memFile) {
	t.Helper()
	f := newMemFile("ra.sst", data)
	opts.FileName = "ra.sst"
	r, err := Open(f, int64(len(data)), opts)
	require.NoError(t, err)
	f.reads.Store(0)
	return r, f
}

// scanForward and scanBackward collect every entry of it in one direction.
func scanForward(t *testing.T, it *Iter) []entry {
	t.Helper()
	var out []entry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		out = append(out, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
	}
	require.NoError(t, it.Error())
	return out
}

func scanBackward(t *testing.T, it *Iter) []entry {
	t.Helper()
	var out []entry
	for ok := it.Last(); ok; ok = it.Prev() {
		k := it.Key()
		out = append(out, entry{string(k.UserKey), k.Ts(), k.Kind(), string(it.Value())})
	}
	require.NoError(t, it.Error())
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// TestReadahead checks that whole-table scans read the file in windows —
// far fewer reads than blocks — and return exactly the table's entries, in
// every block encoding and cache mode; that a block cached from a window
// does not alias it (a second scan from the cache sees the same entries);
// and that seeks read single blocks.
func TestReadahead(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	es := genEntries(rng, 6000, 3, 200)
	encodings := []struct {
		name string
		w    WriterOptions
		r    ReaderOptions
	}{
		{"plain", WriterOptions{}, ReaderOptions{}},
		{"codec", WriterOptions{Codec: rle1}, ReaderOptions{Codecs: []interfaces.Codec{rle1}}},
	}
	gcm := newGCM(t, 3)
	encodings = append(encodings,
		struct {
			name string
			w    WriterOptions
			r    ReaderOptions
		}{"sealed", WriterOptions{Cipher: gcm}, ReaderOptions{Cipher: gcm}},
		struct {
			name string
			w    WriterOptions
			r    ReaderOptions
		}{"sealed+codec", WriterOptions{Cipher: gcm, Codec: rle1}, ReaderOptions{Cipher: gcm, Codecs: []interfaces.Codec{rle1}}})
	modes := []struct {
		name     string
		opts     IterOptions
		backward bool
		// maxReads bounds the file reads of one scan, given the table's
		// data size.
		maxReads func(dataSize uint64) int64
	}{
		{"sequential", IterOptions{Sequential: true}, false,
			func(n uint64) int64 { return int64(n/maxReadahead) + 1 }},
		{"sequential-nocachefill", IterOptions{Sequential: true, NoCacheFill: true}, false,
			func(n uint64) int64 { return int64(n/maxReadahead) + 1 }},
		// Automatic: two single-block reads, then windows growing from
		// minReadahead.
		{"auto-forward", IterOptions{}, false,
			func(n uint64) int64 { return int64(n/minReadahead) + 3 }},
		{"auto-backward", IterOptions{}, true,
			func(n uint64) int64 { return int64(n/minReadahead) + 3 }},
	}
	for _, enc := range encodings {
		w := enc.w
		w.BlockSize = 1024
		f, m := buildTable(t, es, w)
		for _, cached := range []bool{false, true} {
			for _, mode := range modes {
				t.Run(fmt.Sprintf("%s/cache=%v/%s", enc.name, cached, mode.name), func(t *testing.T) {
					ropts := enc.r
					var cache *testCache
					if cached {
						cache = newTestCache()
						ropts.Cache = cache
					}
					r, file := openCounted(t, f.bytes(), ropts)
					defer r.Close()
					blocks := int64(r.props.NumDataBlocks)
					require.Greater(t, blocks, int64(100), "the table must span many blocks")
					it := r.NewIter(mode.opts)
					scan := scanForward
					if mode.backward {
						scan = scanBackward
					}
					require.Equal(t, es, scan(t, it))
					reads := file.reads.Load()
					require.LessOrEqual(t, reads, mode.maxReads(r.footer.dataEnd()), "reads for %d blocks", blocks)
					require.NoError(t, it.Close())
					if cached && !mode.opts.NoCacheFill {
						// Every block is cached now, and intact.
						require.Equal(t, int(blocks), cache.len())
						file.reads.Store(0)
						it.Init(r, mode.opts)
						require.Equal(t, es, scan(t, it))
						require.Zero(t, file.reads.Load(), "a second scan reads from the cache")
						require.NoError(t, it.Close())
					}
					require.Equal(t, m.Properties, r.Properties())
				})
			}
		}
	}
}

// TestReadaheadSeeksReadSingleBlocks checks that seeks scattered over the
// table read one block each, and that a seek ends a sequential run.
func TestReadaheadSeeksReadSingleBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	es := genEntries(rng, 6000, 3, 200)
	f, _ := buildTable(t, es, WriterOptions{BlockSize: 1024})
	r, file := openCounted(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	it := r.NewIter(IterOptions{})
	defer it.Close()
	for i := range 20 {
		want := es[(i*997)%len(es)]
		require.True(t, it.SeekGE(want.ikey()))
		require.Equal(t, want.key, string(it.Key().UserKey))
		// Two steps past the block end would start readahead if seeks
		// did not reset the run: step into the next block only once.
		for it.Next() && string(it.Key().UserKey) == want.key {
		}
	}
	require.LessOrEqual(t, file.reads.Load(), int64(40), "20 seeks, each reading at most its block and the next")
	require.NoError(t, it.Error())
}

// TestReadaheadReadError checks that a failed window read fails the
// iterator with the I/O error, and that the iterator works again once the
// file does.
func TestReadaheadReadError(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	es := genEntries(rng, 8000, 2, 200)
	f, _ := buildTable(t, es, WriterOptions{BlockSize: 1024})
	r, file := openCounted(t, f.bytes(), ReaderOptions{})
	defer r.Close()
	it := r.NewIter(IterOptions{Sequential: true})
	n := 0
	for ok := it.First(); ok && n < len(es)/2; ok = it.Next() {
		n++
	}
	file.failRead.Store(true)
	for it.Next() {
		n++
	}
	require.ErrorIs(t, it.Error(), errTestIO)
	require.Less(t, n, len(es))
	file.failRead.Store(false)
	require.Equal(t, es, scanForward(t, it))
	require.True(t, it.SeekGE(base.MakeInternalKey([]byte(es[10].key), es[10].ts, es[10].kind)))
	require.NoError(t, it.Close())
}
