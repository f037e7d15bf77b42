#!/usr/bin/env bash
# The real-GPU check (issue 21): on a machine with an NVIDIA GPU, PyTorch and
# nvidia-smi, and a perfgate binary built elsewhere and carried along, in
# under 8 minutes:
#
#   (a) perfgate's NVML probe, sampled while the GPU is idle and while it is
#       loaded, against what nvidia-smi reports at the same moments
#       (utilization, SM clock, power, memory used, temperature);
#   (b) an A/A run: TRIALS trials of one closed-loop level against the
#       GPU-backed engine (engine.py), restarted for every trial, and each
#       metric's trial-to-trial noise (CV) and the time each trial took;
#   (c) GPU memory back at its idle level between trials.
#
# $OUT (the device machine's output folder) gets seven files: summary.txt
# (the one-screen summary, also printed last), summary.json, smi.csv,
# gpu.csv, torch.txt, the runs' logs, and runs.tgz (the run folders without
# their requests.jsonl).
#
# From a checkout, with the device tool (docs/performance.md, "Real GPU"):
#   CGO_CFLAGS=-Wno-deprecated-declarations go build -o .gpu/perfgate ./cmd/perfgate
#   device run --carry .gpu --timeout 560 'bash testdata/gpu/check.sh .gpu/perfgate'
#
# Settings (environment): OUT, TRIALS (5), MEASURE (15s), WARMUP (5s), IDLE (10s),
# CONCURRENCY (64), BACKEND (torch; sleep does no GPU work, for testing this
# script without a GPU), NVIDIA_SMI (nvidia-smi).
set -uo pipefail

BIN=$(realpath "${1:?usage: check.sh PERFGATE_BINARY}")
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/perfgate-gpucheck}
TRIALS=${TRIALS:-5}
MEASURE=${MEASURE:-15s}
WARMUP=${WARMUP:-5s}
CONCURRENCY=${CONCURRENCY:-64}
BACKEND=${BACKEND:-torch}
IDLE=${IDLE:-10s}
SMI=${NVIDIA_SMI:-nvidia-smi}
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
T0=$(date +%s)
say() { echo "[check $(($(date +%s) - T0))s] $*"; }

say "GPU: $($SMI --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
$SMI --query-gpu=name,driver_version,memory.total,power.limit --format=csv > "$OUT/gpu.csv" 2>&1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' > "$OUT/torch.txt" 2>&1
say "$(cat "$OUT/torch.txt")"

# nvidia-smi every 200 ms for the whole check, wall-clock stamped.
$SMI --query-gpu=timestamp,utilization.gpu,clocks.sm,power.draw,memory.used,temperature.gpu \
	--format=csv,noheader,nounits -lms 200 > "$OUT/smi.csv" 2> "$W/smi.err" &
SMIPID=$!
sleep 2

# (a) idle: perfgate samples the GPU while a CPU-only engine serves a trickle.
PORT=18700
python3 "$D/engine.py" serve idle --port $PORT --backend sleep > "$W/idle-engine.log" 2>&1 &
IDLEPID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break; sleep 0.2; done
cat > "$W/idle.yaml" <<EOF
name: gpu-idle
api: completions
engine: {kind: endpoint, url: "http://127.0.0.1:$PORT"}
workload: {classes: [{name: trickle, input_tokens: 16, output_tokens: 4}]}
load: {mode: open, rate: 1}
phases: {measure: {duration: $IDLE}}
telemetry: {interval: 250ms}
EOF
say "idle: $IDLE of NVML samples with the GPU unused"
"$BIN" run "$W/idle.yaml" --out "$W/idle" --label idle > "$OUT/idle.log" 2>&1 || say "idle run failed: $(tail -3 "$OUT/idle.log")"
kill $IDLEPID 2> /dev/null
wait $IDLEPID 2> /dev/null
sleep 3

# (a) loaded and (b): the A/A trials, the engine restarted for each.
cat > "$W/aa.yaml" <<EOF
name: gpu-aa
description: A/A against a Llama-3.1-8B-shaped GPU load (testdata/gpu/engine.py)
model: llama-8b-shaped
api: completions
engine:
  kind: vllm
  vllm_bin: $D/engine.py
  args: [--backend, $BACKEND, --max-num-seqs, "128"]
  health_timeout: 5m
workload:
  classes:
    - {name: chat, input_tokens: {dist: uniform, min: 256, max: 1024}, output_tokens: {dist: uniform, min: 64, max: 256}}
load: {mode: closed, concurrency: $CONCURRENCY}
phases: {warmup: {duration: $WARMUP}, measure: {duration: $MEASURE}, on_end: drain}
request_timeout: 2m
telemetry: {interval: 250ms}
EOF
say "A/A: $TRIALS trials of concurrency $CONCURRENCY, the engine restarted for each"
"$BIN" run "$W/aa.yaml" --trials "$TRIALS" --out "$W/aa" --label aa > "$OUT/aa.log" 2>&1 || say "A/A run: exit $? ($(tail -3 "$OUT/aa.log"))"
sleep 3
kill $SMIPID 2> /dev/null
wait $SMIPID 2> /dev/null

say "analysing"
python3 "$D/analyze.py" --smi "$OUT/smi.csv" --idle "$W/idle" --aa "$W/aa" --out "$OUT"
rc=$?
# The run folders, without requests.jsonl: at most 8 files come back from $OUT.
(cd "$W" && find idle aa -name result.json -o -name meta.json -o -name telemetry.jsonl -o -name engine.log | tar czf "$OUT/runs.tgz" -T -)
say "done (exit $rc)"
exit $rc
