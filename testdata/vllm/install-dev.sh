#!/bin/sh
# A Python-only development install of a vLLM checkout, as
# `VLLM_USE_PRECOMPILED=1 pip install -e .` does it: the compiled extensions
# come from a release, the Python from the checkout. perfgate ab runs it in
# the worktree with PERFGATE_ENV_DIR set:
#
#   perfgate ab … --install-command 'sh /path/to/install-dev.sh /path/to/release-env'
#
# The new environment sees the checkout first, then the release
# environment's packages (torch and the rest), through a .pth file.
set -eu
base="$1"
env="${PERFGATE_ENV_DIR:?PERFGATE_ENV_DIR is not set}"
src="$(pwd)"
basesite="$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# The release's compiled extensions, into the checkout.
(cd "$basesite" && find vllm -name '*.so') | while read -r f; do
  mkdir -p "$src/$(dirname "$f")"
  cp "$basesite/$f" "$src/$f"
done
"$base/bin/python" -m venv --without-pip "$env"
site="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf '%s\n%s\n' "$src" "$basesite" >"$site/perfgate-dev.pth"
cat >"$env/bin/vllm" <<PY
#!$env/bin/python
import sys
from vllm.entrypoints.cli.main import main
if __name__ == "__main__":  # vLLM's workers start by spawn, which imports this again
    sys.exit(main())
PY
chmod +x "$env/bin/vllm"
"$env/bin/vllm" --version
