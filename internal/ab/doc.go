// Package ab runs the trials of an A/B comparison of one scenario: baseline
// and candidate interleaved in balanced pairs (B C, C B, B C, …), a failed
// trial retried once, and — in the sequential design — a look at the data
// after every pair from the gate's minimum to its maximum trials per side,
// stopping as soon as the verdict is clear. Outlier trials (a trial slow or
// fast on every gating metric together, which the machine, not the code,
// most likely caused) are re-run within a budget, and every re-run is
// recorded. The result is typed; the comparison is also written beside the
// trials (comparison.json, comparison.md, plots).
//
// The package owns the order, the looks, retries and folders; a Trialer
// owns the engines and runs one trial into a folder. The package's own
// trialers start vllm serve from each side's installed environment
// (VLLMTrialer: a fresh engine per trial, or prefix-cache resets between a
// side's consecutive trials) or talk to running deployments
// (EndpointTrialer); Crossover runs both sides at once on two GPUs. The one
// measured trial inside is the caller's TrialFunc, so its progress display
// and exit codes stay the caller's.
package ab
