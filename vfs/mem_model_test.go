package vfs

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// memModel is the reference for TestMemModel: files as plain byte slices
// with a synced copy, and a directory as two maps, current and durable. It
// says what a crash keeps at KeepUnsynced 0 and 1, where the outcome is
// certain.
type memModel struct {
	files   map[int]*modelFile // inode number -> file
	names   map[string]int     // current entries of the directory
	durable map[string]int     // entries as of the last SyncDir
	nextID  int
	handles []*modelHandle
}

type modelFile struct{ data, synced []byte }

type modelHandle struct {
	f        File
	id       int
	pos      int64
	writable bool
}

func (md *memModel) write(id int, off int64, p []byte) {
	f := md.files[id]
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[off:], p)
}

func (md *memModel) truncate(id int, size int64) {
	f := md.files[id]
	if size <= int64(len(f.data)) {
		f.data = f.data[:size:size]
		return
	}
	f.data = append(f.data, make([]byte, size-int64(len(f.data)))...)
}

// TestMemModel runs random operation sequences on a MemFS and on memModel,
// with crashes that keep nothing or everything unsynced, and checks after
// each step that the directory and every file and handle agree.
func TestMemModel(t *testing.T) {
	const dir = "/d"
	names := []string{"a", "b", "c"}
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		require.NoError(t, m.MkdirAll(dir, 0o755))
		require.NoError(t, m.SyncDir("/"))
		md := &memModel{files: map[int]*modelFile{}, names: map[string]int{}, durable: map[string]int{}}
		path := func(n string) string { return dir + "/" + n }
		drawName := func(t *rapid.T) string { return rapid.SampledFrom(names).Draw(t, "name") }
		drawHandle := func(t *rapid.T, writable bool) *modelHandle {
			var hs []*modelHandle
			for _, h := range md.handles {
				if h.writable || !writable {
					hs = append(hs, h)
				}
			}
			if len(hs) == 0 {
				t.Skip("no handle")
			}
			return rapid.SampledFrom(hs).Draw(t, "handle")
		}
		newID := func() int {
			md.nextID++
			md.files[md.nextID] = &modelFile{}
			return md.nextID
		}
		t.Repeat(map[string]func(*rapid.T){
			"create": func(t *rapid.T) {
				n := drawName(t)
				f, err := m.Create(path(n))
				require.NoError(t, err)
				id, ok := md.names[n]
				if ok {
					md.truncate(id, 0)
				} else {
					id = newID()
					md.names[n] = id
				}
				md.handles = append(md.handles, &modelHandle{f: f, id: id, writable: true})
			},
			"openReadWrite": func(t *rapid.T) {
				n := drawName(t)
				f, err := m.OpenReadWrite(path(n))
				require.NoError(t, err)
				id, ok := md.names[n]
				if !ok {
					id = newID()
					md.names[n] = id
				}
				md.handles = append(md.handles, &modelHandle{f: f, id: id, writable: true, pos: int64(len(md.files[id].data))})
			},
			"open": func(t *rapid.T) {
				n := drawName(t)
				f, err := m.Open(path(n))
				id, ok := md.names[n]
				if !ok {
					requireNotExist(t, err)
					return
				}
				require.NoError(t, err)
				md.handles = append(md.handles, &modelHandle{f: f, id: id})
			},
			"writeAt": func(t *rapid.T) {
				h := drawHandle(t, true)
				off := rapid.Int64Range(0, 48).Draw(t, "off")
				p := rapid.SliceOfN(rapid.Byte(), 1, 16).Draw(t, "p")
				_, err := h.f.WriteAt(p, off)
				require.NoError(t, err)
				md.write(h.id, off, p)
			},
			"write": func(t *rapid.T) {
				h := drawHandle(t, true)
				p := rapid.SliceOfN(rapid.Byte(), 1, 16).Draw(t, "p")
				_, err := h.f.Write(p)
				require.NoError(t, err)
				md.write(h.id, h.pos, p)
				h.pos += int64(len(p))
			},
			"truncate": func(t *rapid.T) {
				h := drawHandle(t, true)
				size := rapid.Int64Range(0, 48).Draw(t, "size")
				require.NoError(t, h.f.Truncate(size))
				md.truncate(h.id, size)
			},
			"sync": func(t *rapid.T) {
				h := drawHandle(t, false)
				require.NoError(t, h.f.Sync())
				f := md.files[h.id]
				f.synced = bytes.Clone(f.data)
			},
			"close": func(t *rapid.T) {
				h := drawHandle(t, false)
				require.NoError(t, h.f.Close())
				md.handles = slices.DeleteFunc(md.handles, func(x *modelHandle) bool { return x == h })
			},
			"syncDir": func(t *rapid.T) {
				require.NoError(t, m.SyncDir(dir))
				md.durable = maps.Clone(md.names)
			},
			"rename": func(t *rapid.T) {
				from, to := drawName(t), drawName(t)
				err := m.Rename(path(from), path(to))
				id, ok := md.names[from]
				if !ok {
					requireNotExist(t, err)
					return
				}
				require.NoError(t, err)
				delete(md.names, from)
				md.names[to] = id
			},
			"remove": func(t *rapid.T) {
				n := drawName(t)
				err := m.Remove(path(n))
				if _, ok := md.names[n]; !ok {
					requireNotExist(t, err)
					return
				}
				require.NoError(t, err)
				delete(md.names, n)
			},
			"crash": func(t *rapid.T) {
				keepAll := rapid.Bool().Draw(t, "keepAll")
				keep := 0.0
				if keepAll {
					keep = 1
				}
				m = m.CrashClone(CrashOptions{KeepUnsynced: keep})
				md.handles = nil // the process died with the machine
				for _, f := range md.files {
					if keepAll {
						f.synced = bytes.Clone(f.data)
					} else {
						f.data = bytes.Clone(f.synced)
					}
				}
				if keepAll {
					md.durable = maps.Clone(md.names)
				} else {
					md.names = maps.Clone(md.durable)
				}
			},
			"": func(t *rapid.T) {
				got, err := m.List(dir)
				require.NoError(t, err)
				require.Equal(t, slices.Sorted(maps.Keys(md.names)), got)
				for n, id := range md.names {
					require.Equal(t, nilIfEmpty(md.files[id].data), nilIfEmpty(readFile(t, m, path(n))), "file %s", n)
				}
				for _, h := range md.handles {
					require.Equal(t, nilIfEmpty(md.files[h.id].data), nilIfEmpty(contents(t, h.f)))
				}
				checkInvariants(t, m)
			},
		})
	})
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
