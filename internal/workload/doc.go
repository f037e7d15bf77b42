// Package workload turns a scenario's request classes into concrete requests:
// which class, how many input and output tokens, and the prompt itself. All of
// it is deterministic from the seed and the level, so baseline and candidate
// receive identical traffic.
package workload
