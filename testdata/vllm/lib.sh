# Shell helpers for the scripts that start a server themselves
# (testdata/peers/side-by-side.sh, testdata/vllm/simfit/run.sh). Source it.

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
