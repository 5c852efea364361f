// Package archtest holds the test that keeps the package boundaries of
// DESIGN.md true: which Riffle packages (and which third-party modules) each
// package may import. It has no code of its own.
package archtest
