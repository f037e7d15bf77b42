// Package cli holds perfgate's commands. It is the only package that reads
// the command line and the environment and decides exit codes.
package cli
