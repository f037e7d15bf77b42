#!/usr/bin/env bash
# perfgate ab against the simulator with its default noise (docs/simulator.md,
# "Trial-to-trial noise"): a vLLM checkout whose `vllm` is `perfgate sim
# serve` at time scale 8, REPS A/As (two commits that change nothing) and REPS
# A/Bs of a decode slowdown, each with the sequential gate's defaults and its
# own scenario seed (so its own engine start seeds). One line per A/B:
# verdict, trials per side, why it stopped.
#
#   testdata/sim/ab-noise.sh [REPS] [SLOWDOWN]      # default: 3 1.10
#
# KEEP=1 keeps the A/B folders (each trial's engine.log says the noise its
# engine start drew) and says where; KINDS="ab" and SEEDS="5 6" run only
# those.
set -euo pipefail
reps=${1:-3}
slowdown=${2:-1.10}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then
	trap 'echo "kept in $tmp" >&2' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi
go build -o "$tmp/perfgate" "$root/cmd/perfgate"

repo=$tmp/vllm
mkdir "$repo"
cd "$repo"
git init -q -b main
fake() {
	printf '#!/bin/sh\nif [ "$1" = "--version" ]; then echo 0.0.0-sim; exit 0; fi\nexec "%s" sim "$@" --time-scale 8 %s\n' "$tmp/perfgate" "$1" >vllm
	chmod +x vllm
}
commit() { git -c user.name=perfgate -c user.email=perfgate@localhost commit -q -am "$1"; } # every change is added first
fake ""
git add vllm
commit "the simulator"
base=$(git rev-parse HEAD)
echo docs >README
git add README
commit "docs only"
same=$(git rev-parse HEAD)
fake "--slowdown-decode $slowdown"
commit "decode $slowdown× slower"
slow=$(git rev-parse HEAD)

install='mkdir -p "$PERFGATE_ENV_DIR/bin" && cp vllm "$PERFGATE_ENV_DIR/bin/vllm"'
for kind in ${KINDS:-aa ab}; do
	cand=$same
	[ "$kind" = ab ] && cand=$slow
	for i in ${SEEDS:-$(seq 1 "$reps")}; do
		sed "s/^seed: .*/seed: $i/" "$root/testdata/sim/ab-noise.yaml" >"$tmp/scenario.yaml"
		out=$tmp/runs-$kind-$i
		code=0
		"$tmp/perfgate" ab "$tmp/scenario.yaml" --vllm-repo "$repo" --baseline "$base" --candidate "$cand" \
			--install-command "$install" --work-dir "$tmp/work" --out "$out" >"$tmp/stdout" 2>"$tmp/stderr" || code=$?
		verdict=$(head -1 "$out"/*/ab-noise/comparison.md 2>/dev/null | sed 's/^# //' || true)
		stop=$(grep -o 'stopped after .*' "$tmp/stderr" | tail -1 || true)
		echo "$kind seed $i: exit $code, ${verdict:-no comparison}; $stop"
	done
done
