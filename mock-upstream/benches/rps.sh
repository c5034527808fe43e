#!/usr/bin/env bash
# Max RPS of the mock (non-stream) beside nginx `return 200` (1 worker), with wrk and oha, same
# connections, same session. Prints one line per (tool, target) and the mock/nginx ratios, plus
# the mock's peak RSS.
#
#   mock-upstream/benches/rps.sh            # needs: nginx (nginx-light), wrk, oha
#   CONNS=64 DURATION=5 ROUNDS=5 THREADS=1 mock-upstream/benches/rps.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
MOCK_THREADS=${THREADS:-1}   # nginx runs 1 worker; give the mock 1 worker thread to match
for tool in nginx wrk oha; do
  command -v "$tool" >/dev/null || { echo "rps.sh: $tool not found (apt-get install nginx-light wrk; cargo install oha)" >&2; exit 2; }
done

cargo build --release -q -p mock-upstream
work=$(mktemp -d)
cleanup() { [[ -n "${mock_pid:-}" ]] && kill "$mock_pid" 2>/dev/null; [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port)
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGINX_PORT; location / { return 200 "ok"; } }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"

cat > "$work/scenario.toml" <<'CONF'
[mock]
ttft_ms = 0
itl_ms = 0
output_tokens = 16
tokens_per_chunk = 16
CONF
./target/release/mock-upstream --port 0 --threads "$MOCK_THREADS" --scenario "$work/scenario.toml" > "$work/mock.out" &
mock_pid=$!
for _ in $(seq 50); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
MOCK=$(sed -n 's/.*listening on //p' "$work/mock.out")
BODY='{"model":"bench","messages":[{"role":"user","content":"hello"}]}'
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

wrk_rps() { wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
oha_rps() { oha --no-tui -c "$CONNS" -z "${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
NGINX="http://127.0.0.1:$NGINX_PORT"

# Warm both servers up (first-touch page faults, allocator growth) before anything counts.
wrk -t1 -c"$CONNS" -d2s -s "$work/post.lua" "$MOCK/v1/chat/completions" > /dev/null
wrk -t1 -c"$CONNS" -d2s "$NGINX/" > /dev/null

# Rounds interleave every (tool, target) pair so machine drift hits all of them alike; the
# median of the rounds is reported.
: > "$work/samples"
for round in $(seq "$ROUNDS"); do
  echo "wrk nginx-get $(wrk_rps "$NGINX/")" >> "$work/samples"
  echo "wrk nginx-post $(wrk_rps -s "$work/post.lua" "$NGINX/")" >> "$work/samples"
  echo "wrk mock-health $(wrk_rps "$MOCK/health")" >> "$work/samples"
  echo "wrk mock-chat $(wrk_rps -s "$work/post.lua" "$MOCK/v1/chat/completions")" >> "$work/samples"
  echo "oha nginx-get $(oha_rps "$NGINX/")" >> "$work/samples"
  echo "oha nginx-post $(oha_rps -m POST -H 'content-type: application/json' -d "$BODY" "$NGINX/")" >> "$work/samples"
  echo "oha mock-health $(oha_rps "$MOCK/health")" >> "$work/samples"
  echo "oha mock-chat $(oha_rps -m POST -H 'content-type: application/json' -d "$BODY" "$MOCK/v1/chat/completions")" >> "$work/samples"
done

echo "connections=$CONNS duration=${DURATION}s rounds=$ROUNDS mock_threads=$MOCK_THREADS nginx_workers=1"
python3 - "$work/samples" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    tool, target, rps = line.split()
    samples.setdefault((tool, target), []).append(float(rps))
med = {k: statistics.median(v) for k, v in samples.items()}
for (tool, target), v in sorted(samples.items()):
    print(f"{tool:4} {target:12} median {med[(tool, target)]:9.0f} req/s   rounds: {' '.join(f'{x:.0f}' for x in v)}")
for tool in ("wrk", "oha"):
    m = lambda t: med[(tool, t)]
    print(f"{tool}: mock chat (POST, 16 tokens) / nginx return 200 POST = {m('mock-chat')/m('nginx-post'):.2f}x, "
          f"/ GET = {m('mock-chat')/m('nginx-get'):.2f}x; mock GET /health / nginx GET = {m('mock-health')/m('nginx-get'):.2f}x")
PY
echo "mock peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$mock_pid/status)"
