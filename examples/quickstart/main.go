// Command quickstart will open a database, write, read, scan and run a
// transaction on the embedded default. The public API arrives with the core;
// until then it says so.
package main

import "fmt"

func main() {
	fmt.Println("lightning: the quickstart (open, write, read, scan, transaction) is coming with the core")
}
