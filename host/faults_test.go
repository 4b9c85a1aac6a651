package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightning/core"
	"github.com/lightningdb/lightning/host"
	"github.com/lightningdb/lightning/interfaces"
	"github.com/lightningdb/lightning/vfs"
)

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// copyFile copies src to dst, executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o755))
}

func TestChecksum(t *testing.T) {
	bin := testPlugin(t)
	sum := sha256File(t, bin)

	t.Run("matching binary starts", func(t *testing.T) {
		p, err := host.StartPlugin(bin, host.PluginOptions{SHA256: strings.ToUpper(sum)})
		require.NoError(t, err)
		require.NoError(t, p.Close())
	})

	t.Run("tampered binary never starts", func(t *testing.T) {
		tampered := filepath.Join(t.TempDir(), "tampered")
		copyFile(t, bin, tampered)
		// Append a byte: the binary still runs, but is not the one
		// configured.
		f, err := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte{0})
		require.NoError(t, err)
		require.NoError(t, f.Close())

		pidFile := filepath.Join(t.TempDir(), "pid")
		_, err = host.StartPlugin(tampered, host.PluginOptions{
			SHA256: sum,
			Env:    []string{"LIGHTNING_TESTPLUGIN_PIDFILE=" + pidFile},
		})
		require.ErrorIs(t, err, host.ErrChecksumMismatch)
		_, statErr := os.Stat(pidFile)
		require.ErrorIs(t, statErr, os.ErrNotExist, "the tampered binary ran")
	})

	t.Run("malformed checksum", func(t *testing.T) {
		_, err := host.StartPlugin(bin, host.PluginOptions{SHA256: "abc"})
		require.ErrorIs(t, err, interfaces.ErrInvalidArgument)
	})

	t.Run("missing binary", func(t *testing.T) {
		_, err := host.StartPlugin(filepath.Join(t.TempDir(), "nothing"), host.PluginOptions{})
		require.ErrorIs(t, err, host.ErrPluginStart)
	})

	t.Run("not a plugin", func(t *testing.T) {
		// /bin/true exits at once without a handshake.
		_, err := host.StartPlugin("/bin/true", host.PluginOptions{StartTimeout: 5 * time.Second})
		require.ErrorIs(t, err, host.ErrPluginStart)
	})
}

// within fails the test when fn does not return within d: a call into a
// dead plugin must fail, not hang.
func within[T any](t *testing.T, d time.Duration, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		panic("unreachable")
	}
}

// killProcess kills pid as a crash would, without telling the host.
func killProcess(t *testing.T, pid int) {
	t.Helper()
	require.Positive(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
}

func TestKilledPluginGivesErrors(t *testing.T) {
	p, err := host.StartPlugin(testPlugin(t), host.PluginOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	s, err := p.OpenStorage(t.TempDir())
	require.NoError(t, err)
	var entries []interfaces.Entry
	for i := range 500 {
		entries = append(entries, interfaces.Entry{Key: fmt.Appendf(nil, "k%04d", i), Ts: uint64(i + 1), Kind: interfaces.KindSet, Value: []byte("v")})
	}
	require.NoError(t, s.Apply(entries))
	it, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
	require.NoError(t, err)
	require.True(t, it.First())

	cache, err := p.NewCache(1 << 20)
	require.NoError(t, err)
	key := interfaces.CacheKey{Namespace: 1, File: 2, Offset: 3}
	cache.Set(key, []byte("block"), 5)
	_, ok := cache.Get(key)
	require.True(t, ok)
	codec, err := p.Codec()
	require.NoError(t, err)
	cipher, err := p.NewCipher(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)

	killProcess(t, p.Pid())
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the host did not notice the plugin's death")
	}
	require.True(t, p.Exited())

	const bound = 5 * time.Second
	err = within(t, bound, "Apply", func() error {
		return s.Apply([]interfaces.Entry{{Key: []byte("x"), Ts: 1000, Kind: interfaces.KindSet}})
	})
	require.ErrorIs(t, err, host.ErrPluginFailed)
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	err = within(t, bound, "Flush", func() error { _, err := s.Flush(); return err })
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	err = within(t, bound, "Get", func() error { _, _, err := s.Get([]byte("k0001"), interfaces.MaxTs); return err })
	require.ErrorIs(t, err, host.ErrPluginFailed)
	require.False(t, errors.Is(err, interfaces.ErrNotFound))
	// The iterator's first chunk was 64 versions: walking on reaches the
	// end of it and fails, without using the chunks the plugin sent ahead
	// before it died.
	n := within(t, bound, "iterator", func() int {
		n := 1
		for it.Next() {
			n++
		}
		return n
	})
	require.LessOrEqual(t, n, 64)
	require.ErrorIs(t, it.Err(), host.ErrPluginFailed)
	require.Error(t, within(t, bound, "iterator Close", it.Close))
	require.ErrorIs(t, within(t, bound, "NewIterator", func() error {
		_, err := s.NewIterator(interfaces.IterOptions{ReadTs: interfaces.MaxTs})
		return err
	}), host.ErrPluginFailed)
	require.ErrorIs(t, within(t, bound, "Stats", func() error { _, err := s.Stats(); return err }), host.ErrPluginFailed)

	// A dead cache misses; a dead codec and cipher fail.
	require.False(t, within(t, bound, "cache Get", func() bool { _, ok := cache.Get(key); return ok }))
	within(t, bound, "cache Set", func() bool { cache.Set(key, []byte("x"), 1); return true })
	require.ErrorIs(t, within(t, bound, "Encode", func() error { _, err := codec.Encode(nil, []byte("abc")); return err }), host.ErrPluginFailed)
	require.ErrorIs(t, within(t, bound, "Decode", func() error { _, err := codec.Decode(nil, []byte("abc")); return err }), host.ErrPluginFailed)
	require.ErrorIs(t, within(t, bound, "Seal", func() error { _, err := cipher.Seal(nil, []byte("p"), nil); return err }), host.ErrPluginFailed)

	require.Error(t, within(t, bound, "Close", s.Close))
	require.NoError(t, within(t, bound, "plugin Close", p.Close))
}

func TestPluginCrashInsideApply(t *testing.T) {
	p, err := host.StartPlugin(testPlugin(t), host.PluginOptions{Env: []string{"LIGHTNING_TESTPLUGIN_CRASH_APPLY=3"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	s, err := p.OpenStorage(t.TempDir())
	require.NoError(t, err)
	for ts := uint64(1); ts <= 2; ts++ {
		require.NoError(t, s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: ts, Kind: interfaces.KindSet}}))
	}
	err = within(t, 10*time.Second, "crashing Apply", func() error {
		return s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 3, Kind: interfaces.KindSet}})
	})
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.ErrorIs(t, err, host.ErrPluginFailed)
	err = within(t, 10*time.Second, "Apply after the crash", func() error {
		return s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 4, Kind: interfaces.KindSet}})
	})
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
}

// TestDBOverKilledStoragePluginFailStops opens a core.DB on a storage
// plugin and kills the plugin: writes fail-stop, reads fail, nothing
// hangs, and reopening on a fresh plugin recovers every acknowledged
// commit from the WAL.
func TestDBOverKilledStoragePluginFailStops(t *testing.T) {
	bin := testPlugin(t)
	dir := t.TempDir()
	var current *host.Plugin
	open := func() *core.DB {
		p, err := host.StartPlugin(bin, host.PluginOptions{})
		require.NoError(t, err)
		current = p
		t.Cleanup(func() { _ = p.Close() })
		db, err := core.Open(dir, core.Options{
			StorageName: "memory",
			Storage: func(fs vfs.FS, dir string) (interfaces.Storage, error) {
				return p.OpenStorage(dir)
			},
		})
		require.NoError(t, err)
		return db
	}
	db := open()
	for i := range 20 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%02d", i), []byte("v")))
	}
	killProcess(t, current.Pid())
	<-current.Done()

	err := within(t, 10*time.Second, "Put", func() error { return db.Put([]byte("after"), []byte("v")) })
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	err = within(t, 10*time.Second, "second Put", func() error { return db.Put([]byte("after2"), []byte("v")) })
	require.ErrorIs(t, err, interfaces.ErrFailStopped)
	require.Error(t, within(t, 10*time.Second, "Get", func() error { _, err := db.Get([]byte("k01")); return err }))
	within(t, 10*time.Second, "Close", db.Close)

	db = open()
	defer db.Close()
	for i := range 20 {
		v, err := db.Get(fmt.Appendf(nil, "k%02d", i))
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
	}
	// "after" reached the WAL before its Apply failed: a commit that
	// fail-stopped may or may not survive, like any commit whose caller saw
	// an error.
}

func TestStdoutNoiseDoesNotBreakHandshake(t *testing.T) {
	rec := &recorder{}
	p, err := host.StartPlugin(testPlugin(t), host.PluginOptions{
		Env:    []string{"LIGHTNING_TESTPLUGIN_NOISE=1"},
		Logger: slog.New(rec),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	s, err := p.OpenStorage(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, s.Apply([]interfaces.Entry{{Key: []byte("k"), Ts: 1, Kind: interfaces.KindSet, Value: []byte("v")}}))
	v, ts, err := s.Get([]byte("k"), interfaces.MaxTs)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, uint64(1), ts)
	require.NoError(t, s.Close())
	// The noise went to the host's log, not into the handshake.
	require.Eventually(t, func() bool {
		_, ok := rec.find("noise from init: this line is not a handshake")
		return ok
	}, 5*time.Second, 10*time.Millisecond)
}

func TestPluginLogsReachHostLogger(t *testing.T) {
	rec := &recorder{}
	p, err := host.StartPlugin(testPlugin(t), host.PluginOptions{
		Env:    []string{"LIGHTNING_TESTPLUGIN_LOG=1"},
		Logger: slog.New(rec),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	s, err := p.OpenStorage(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	var got slog.Record
	require.Eventually(t, func() bool {
		var ok bool
		got, ok = rec.find("testplugin opened a storage")
		return ok
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, slog.LevelWarn, got.Level)
	a := attrs(got)
	require.Equal(t, "42", a["answer"])
	require.Equal(t, "testplugin", a["plugin"])
}

func TestCallTimeout(t *testing.T) {
	p, err := host.StartPlugin(testPlugin(t), host.PluginOptions{
		Env:         []string{"LIGHTNING_TESTPLUGIN_HANG_GET=1"},
		CallTimeout: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill() })
	s, err := p.OpenStorage(t.TempDir())
	require.NoError(t, err)
	err = within(t, 5*time.Second, "hanging Get", func() error { _, _, err := s.Get([]byte("k"), 1); return err })
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestPluginExitsWhenHostDies starts a helper host process (this test
// binary, re-executed) that starts a plugin, kills the helper, and checks
// that the plugin exits by itself.
func TestPluginExitsWhenHostDies(t *testing.T) {
	if os.Getenv("LIGHTNING_HOST_HELPER") != "" {
		helperHost()
		return
	}
	bin := testPlugin(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPluginExitsWhenHostDies$")
	cmd.Env = append(os.Environ(), "LIGHTNING_HOST_HELPER="+bin, "LIGHTNING_TESTPLUGIN_PIDFILE="+pidFile)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 5)
	_, err = stdout.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ready", string(buf))

	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	require.True(t, alive(pid))

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 20*time.Millisecond,
		"plugin %d outlived its host", pid)
}

// helperHost is the body of the helper host process: start the plugin,
// say ready, and wait to be killed.
func helperHost() {
	p, err := host.StartPlugin(os.Getenv("LIGHTNING_HOST_HELPER"), host.PluginOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = p
	fmt.Print("ready")
	select {}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
