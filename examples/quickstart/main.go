// Command quickstart opens a database on the embedded default, writes,
// reads, scans, runs a transaction and prints the statistics: the tour a
// new user copies from.
package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lightningdb/lightning"
)

func main() {
	dir, err := os.MkdirTemp("", "lightning-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(filepath.Join(dir, "data")); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	db, err := lightning.Open(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Printf("opened %s with engine %q\n", dir, db.Storage().Describe().Name)

	// Single writes commit on their own, durably (SyncAlways is the default).
	for _, kv := range [][2]string{{"fruit/apple", "red"}, {"fruit/banana", "yellow"}, {"fruit/cherry", "dark red"}, {"veg/leek", "green"}} {
		if err := db.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
			return err
		}
	}
	v, err := db.Get([]byte("fruit/banana"))
	if err != nil {
		return err
	}
	fmt.Printf("get fruit/banana = %s\n", v)
	if _, err := db.Get([]byte("fruit/durian")); errors.Is(err, lightning.ErrNotFound) {
		fmt.Println("get fruit/durian: not found")
	}

	// A batch is atomic: all of it at one ts, or none.
	b := db.NewBatch()
	_ = b.Put([]byte("fruit/date"), []byte("brown"))
	_ = b.Delete([]byte("veg/leek"))
	if err := db.Apply(b); err != nil {
		return err
	}

	// Scan a prefix, forwards and backwards.
	it, err := db.NewIterator(lightning.IterOptions{Prefix: []byte("fruit/")})
	if err != nil {
		return err
	}
	fmt.Print("scan fruit/:")
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Printf(" %s=%s", it.Key(), it.Value())
	}
	fmt.Println()
	fmt.Print("reverse:")
	for ok := it.Last(); ok; ok = it.Prev() {
		fmt.Printf(" %s", it.Key())
	}
	fmt.Println()
	if err := it.Close(); err != nil {
		return err
	}

	// A read-write transaction: read, modify, write, commit atomically.
	err = db.Update(func(tx *lightning.Txn) error {
		old, err := tx.Get([]byte("fruit/apple"))
		if err != nil {
			return err
		}
		return tx.Put([]byte("fruit/apple"), append(old, []byte(", crisp")...))
	})
	if err != nil {
		return err
	}
	err = db.View(func(tx *lightning.Txn) error {
		v, err := tx.Get([]byte("fruit/apple"))
		fmt.Printf("after the transaction: fruit/apple = %s\n", v)
		return err
	})
	if err != nil {
		return err
	}

	st := db.Stats()
	fmt.Printf("stats: ts %d, %d commits in %d groups, %d gets, %d transactions, WAL %d bytes in %d segment(s), commit p50 %v\n",
		st.VisibleTs, st.Commits, st.CommitGroups, st.Gets, st.TxnCommits, st.WAL.LiveBytes, st.WAL.Segments, st.CommitLatencyP50)
	return nil
}
