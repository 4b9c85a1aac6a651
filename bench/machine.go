package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a comparison ran. Fields the platform does not
// expose read "unknown" (or 0 for MemoryBytes).
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	OS          string `json:"os"`
	GoVersion   string `json:"go_version"`
	// FileSystem is the type of the file system holding the data directory.
	FileSystem string `json:"file_system"`
	// LoadAvg is the 1-, 5- and 15-minute load average when the run
	// started: on a shared machine, the first sign that a run is noisy.
	LoadAvg string `json:"load_avg"`
}

const unknown = "unknown"

// DetectMachine describes this machine, with the file system of dataDir.
func DetectMachine(dataDir string) Machine {
	m := Machine{
		CPU:        cpuModel("/proc/cpuinfo"),
		Cores:      runtime.NumCPU(),
		Kernel:     unknown,
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion:  runtime.Version(),
		FileSystem: unknown,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.MemoryBytes = memTotal("/proc/meminfo")
	m.LoadAvg = LoadAvg()
	if abs, err := filepath.Abs(dataDir); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if f, err := os.Open("/proc/self/mounts"); err == nil {
			m.FileSystem = fsTypeOf(f, abs)
			f.Close()
		}
	}
	return m
}

// String is the one-line machine description printed with every report.
func (m Machine) String() string {
	mem := unknown
	if m.MemoryBytes > 0 {
		mem = FormatBytes(m.MemoryBytes)
	}
	return fmt.Sprintf("%s, %d cores, %s RAM, %s kernel %s, %s, %s file system, load average %s at start",
		m.CPU, m.Cores, mem, m.OS, m.Kernel, m.GoVersion, m.FileSystem, m.LoadAvg)
}

// LoadAvg returns the 1-, 5- and 15-minute load averages from
// /proc/loadavg, or "unknown".
func LoadAvg() string { return loadAvg("/proc/loadavg") }

func loadAvg(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return unknown
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return unknown
	}
	return strings.Join(f[:3], " ")
}

// cpuModel reads the first model name from a /proc/cpuinfo-format file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return unknown
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model", "Hardware", "cpu model":
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return unknown
}

// memTotal reads MemTotal from a /proc/meminfo-format file, in bytes.
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// fsTypeOf returns the type of the mount holding path, from a
// /proc/self/mounts-format listing: the entry with the longest mount point
// that is path or an ancestor of it (the last such entry wins, as later
// mounts shadow earlier ones).
func fsTypeOf(mounts io.Reader, path string) string {
	best, bestLen := unknown, -1
	s := bufio.NewScanner(mounts)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 3 {
			continue
		}
		mp := unescapeMount(fields[1])
		if !pathWithin(path, mp) {
			continue
		}
		if len(mp) >= bestLen {
			best, bestLen = fields[2], len(mp)
		}
	}
	return best
}

func pathWithin(path, mount string) bool {
	if mount == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mount || strings.HasPrefix(path, mount+"/")
}

// unescapeMount undoes the octal escapes (\040 for a space) the kernel uses
// in mount listings.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
