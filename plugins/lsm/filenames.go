package lsm

import (
	"fmt"
	"strconv"
	"strings"
)

// File names inside Options.Dir. Tables and manifests draw their numbers
// from one counter, which never goes back: a number names one file for the
// life of the database.
const (
	// currentName is the file naming the live manifest.
	currentName = "CURRENT"
	// currentTmpName is where a new CURRENT is written before the rename.
	currentTmpName = "CURRENT.tmp"
	// lockName is the file locked while an Engine has the directory open.
	lockName = "LOCK"
	// manifestPrefix starts every manifest's name: MANIFEST-000012.
	manifestPrefix = "MANIFEST-"
	// tableSuffix ends every table's name: 000013.sst.
	tableSuffix = ".sst"
)

// fileKind is what a directory entry is, judged by its name.
type fileKind int

const (
	kindUnknown fileKind = iota
	kindTable
	kindManifest
	kindCurrent
	kindTemp
	kindLock
)

func tableName(num uint64) string { return fmt.Sprintf("%06d%s", num, tableSuffix) }

func manifestName(num uint64) string { return fmt.Sprintf("%s%06d", manifestPrefix, num) }

// parseFileName tells what the entry called name is and, for tables and
// manifests, its number. Names the engine did not make are kindUnknown and
// left alone.
func parseFileName(name string) (fileKind, uint64) {
	switch {
	case name == currentName:
		return kindCurrent, 0
	case name == lockName:
		return kindLock, 0
	case name == currentTmpName:
		return kindTemp, 0
	case strings.HasPrefix(name, manifestPrefix):
		if n, ok := parseNum(name[len(manifestPrefix):]); ok {
			return kindManifest, n
		}
	case strings.HasSuffix(name, tableSuffix):
		if n, ok := parseNum(name[:len(name)-len(tableSuffix)]); ok {
			return kindTable, n
		}
	}
	return kindUnknown, 0
}

// parseNum parses a file number: decimal digits only, at least one.
func parseNum(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}
