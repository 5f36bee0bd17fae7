// Package depgraph holds the test that enforces Hearth's import graph
// (DESIGN.md §2): leaves import nothing of ours, components never import
// each other, nothing imports cmd/.
package depgraph
