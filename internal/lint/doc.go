// Package lint holds tests that keep the tree's architecture true: the
// direction of imports that DESIGN.md sets, and the dependencies the main
// module may have. It has no code of its own; `go test ./internal/lint`
// runs the checks.
package lint
