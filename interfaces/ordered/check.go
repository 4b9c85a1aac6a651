package ordered

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/lightningdb/lightning/interfaces"
)

// maxCheckProblems bounds the problems Check reports one by one; past it,
// it counts the rest, so a thoroughly broken store does not produce an
// error of gigabytes.
const maxCheckProblems = 100

// Check reads the whole store and verifies that every key is either known
// metadata or a well-formed version key (valid escaping, ts above 0) with a
// well-formed value, that keys arrive in strictly increasing order, and
// that the metadata is sane: the format is this adapter's, the durable ts
// is at most the applied ts, and no version is newer than the applied ts.
// Each problem is a *interfaces.CorruptionError; they are joined.
func (s *Storage) Check() error {
	if err := s.checkOpen("check"); err != nil {
		return err
	}
	it, err := s.store.NewIterator(nil, nil)
	if err != nil {
		return fmt.Errorf("lightning/ordered: check: %w", err)
	}
	var (
		problems []error
		dropped  int
		prev     []byte
		havePrev bool
		format   bool
		durable  uint64
		applied  uint64
		maxTs    uint64
		keyBuf   []byte
	)
	add := func(err error) {
		if len(problems) < maxCheckProblems {
			problems = append(problems, err)
		} else {
			dropped++
		}
	}
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if havePrev && bytes.Compare(prev, k) >= 0 {
			add(corruptKey(k, fmt.Sprintf("out of order after %x", prev), errBadKey))
		}
		prev, havePrev = append(prev[:0], k...), true

		if bytes.HasPrefix(k, metaPrefix) {
			switch {
			case bytes.Equal(k, keyFormat):
				format = true
				if string(v) != formatValue {
					add(interfaces.Corruptf("", -1, "ordered: format %q, want %q", v, formatValue))
				}
			case bytes.Equal(k, keyDurable):
				durable, err = decodeMetaTs(k, v)
			case bytes.Equal(k, keyDiscard):
				_, err = decodeMetaTs(k, v)
			case bytes.Equal(k, keyApplied):
				applied, err = decodeMetaTs(k, v)
			default:
				err = corruptKey(k, "unknown metadata key", errBadKey)
			}
			if err != nil {
				add(err)
			}
			continue
		}

		user, ts, ok := splitVersionKey(k)
		if !ok {
			add(corruptKey(k, "malformed version key", errBadKey))
			continue
		}
		if _, keyBuf, err = decodeUserKey(keyBuf, user); err != nil {
			add(corruptKey(k, "malformed version key", err))
			continue
		}
		if _, _, err := decodeValue(v); err != nil {
			add(corruptKey(k, "malformed value", err))
		}
		maxTs = max(maxTs, ts)
	}
	if err := it.Err(); err != nil {
		_ = it.Close()
		return fmt.Errorf("lightning/ordered: check: %w", err)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("lightning/ordered: check: %w", err)
	}

	if !format {
		add(interfaces.Corruptf("", -1, "ordered: no format metadata"))
	}
	if durable > applied {
		add(interfaces.Corruptf("", -1, "ordered: durable ts %d above applied ts %d", durable, applied))
	}
	if maxTs > applied {
		// Over a store whose iterators are not snapshots, the scan may have
		// met versions of an Apply still in flight, whose applied ts it read
		// before they were written; once that Apply returns, appliedTs
		// covers them.
		s.applyMu.Lock()
		applied = s.appliedTs.Load()
		s.applyMu.Unlock()
		if maxTs > applied {
			add(interfaces.Corruptf("", -1, "ordered: version with ts %d above applied ts %d", maxTs, applied))
		}
	}
	if dropped > 0 {
		problems = append(problems, interfaces.Corruptf("", -1, "ordered: %d more problems", dropped))
	}
	return errors.Join(problems...)
}
