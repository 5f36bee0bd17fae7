// Package depgraph holds the test that enforces Hearth's import graph
// (docs/architecture.md §3): leaves import nothing of ours, components never import
// each other, nothing imports cmd/.
package depgraph
