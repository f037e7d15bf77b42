// Package stats holds the statistics perfgate computes. It does no I/O.
package stats
