# Shell helpers for the scripts that start a server themselves
# (testdata/peers/side-by-side.sh, testdata/vllm/simfit/run.sh and
# iterations.sh). Source it.

# free_port prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_healthy URL PID LOG: waits up to ten minutes for URL/health while the
# server PID lives; on its death or the timeout, prints LOG's tail and fails.
wait_healthy() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 600); do
    curl -sf "$url/health" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; return 1; }
    sleep 1
  done
  echo "the server did not come up in 10 minutes (log: $log)" >&2
  tail -n 30 "$log" >&2
  return 1
}

# simfit_serve VLLM MODEL_DIR BLOCKS PORT [FLAG...]: starts vllm serve in the
# background with the settings the simulator is compared under
# (testdata/vllm/simfit): the tiny model with random weights, 16 sequences,
# 2,048 tokens a step, 32-token blocks, BLOCKS of them. Its PID is in
# simfit_pid (vllm's own, so that killing it stops the server; a function
# started with & would leave only a subshell's PID).
simfit_serve() {
  local vllm=$1 model=$2 blocks=$3 port=$4
  shift 4
  VLLM_CPU_KVCACHE_SPACE=1 "$vllm" serve "$model" --served-model-name tiny --load-format dummy \
    --max-model-len 2048 --dtype bfloat16 --max-num-seqs 16 --max-num-batched-tokens 2048 --block-size 32 \
    --num-gpu-blocks-override "$blocks" --port "$port" "$@" &
  simfit_pid=$!
}
