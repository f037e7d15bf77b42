// Package scenario loads and validates scenario files: one YAML file names the
// engine, the model, the workload mix, the load and the phases of a benchmark.
//
// Loading is strict. Every problem — a YAML syntax error, an unknown key (with
// a did-you-mean), a wrong type, an impossible value — is reported at once as
// file:line:col: message.
package scenario
