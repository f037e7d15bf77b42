// Package sim is perfgate's embedded stand-in for a vLLM server: a step loop
// modelled on vLLM's v1 scheduler (continuous batching under max_num_seqs and
// a per-step token budget, chunked prefill, a paged KV cache with preemption,
// prefix caching), step times priced from a hardware × model profile, the
// OpenAI endpoints with SSE streaming and usage, and /metrics under vLLM's
// names. docs/simulator.md explains the model and where it is simple.
package sim
