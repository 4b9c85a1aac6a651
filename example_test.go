package lightning_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/lightningdb/lightning"
)

func Example() {
	db, err := lightning.Open("", lightning.InMemory())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Put([]byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get([]byte("greeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	if _, err := db.Get([]byte("absent")); errors.Is(err, lightning.ErrNotFound) {
		fmt.Println("absent: not found")
	}
	// Output:
	// hello
	// absent: not found
}

func ExampleDB_Update() {
	db, err := lightning.Open("", lightning.InMemory())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_ = db.Put([]byte("balance/alice"), []byte("10"))

	err = db.Update(func(tx *lightning.Txn) error {
		v, err := tx.Get([]byte("balance/alice"))
		if err != nil {
			return err
		}
		fmt.Printf("read %s inside the transaction\n", v)
		return tx.Put([]byte("balance/alice"), []byte("7"))
	})
	if err != nil {
		log.Fatal(err)
	}
	v, _ := db.Get([]byte("balance/alice"))
	fmt.Printf("committed: %s\n", v)
	// Output:
	// read 10 inside the transaction
	// committed: 7
}

func ExampleDB_NewIterator() {
	db, err := lightning.Open("", lightning.InMemory())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	b := db.NewBatch()
	for _, k := range []string{"user/3", "user/1", "order/9", "user/2"} {
		_ = b.Put([]byte(k), []byte("v"))
	}
	if err := db.Apply(b); err != nil {
		log.Fatal(err)
	}
	it, err := db.NewIterator(lightning.IterOptions{Prefix: []byte("user/"), Reverse: true})
	if err != nil {
		log.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Println(string(it.Key()))
	}
	// Output:
	// user/3
	// user/2
	// user/1
}
