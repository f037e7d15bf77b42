// Package record defines the per-request Record and the files of a run folder:
// requests.jsonl (streamed as requests finish), meta.json and result.json.
//
// Times in a Record are microseconds on the run's monotonic clock: offset 0 is
// the instant given as StartWall in meta.json. Chunk times are microseconds
// after the request was sent.
package record
