#!/usr/bin/env bash
# Instructions, not seconds: callgrind counts the same work the same whatever
# else this shared machine is doing, so small changes to the request path or
# the start show up where wall-clock runs scatter by 10-20%.
#
#   scripts/instructions.sh request [--binary PATH] [--requests N] [--log-level L]
#       instructions per proxied chat completion (all threads), one keep-alive
#       connection to the bench's gateway config and a fast nginx upstream;
#       counted after a warm-up of 300 requests
#   scripts/instructions.sh start [--binary PATH]
#       instructions from exec to the first /health 200 (all threads)
#
# The binary defaults to the bench's build (scripts/build-release.sh). It is
# profiled from a copy without debug info: valgrind 3.19 cannot read the
# DWARF 5 that the toolchain writes (the symbols stay).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-}
[ "$MODE" = request ] || [ "$MODE" = start ] || { echo "usage: $0 request|start [--binary PATH] [--requests N] [--log-level L]" >&2; exit 2; }
shift
BINARY=""
REQUESTS=2000
LOG_LEVEL_ARG=error
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BINARY=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --log-level) LOG_LEVEL_ARG=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in valgrind callgrind_control nginx; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "== installing valgrind and nginx (apt)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind nginx-light >/dev/null
    break
  fi
done
[ -n "$BINARY" ] || BINARY=$(bash scripts/build-release.sh | tail -1)

WORK=$(mktemp -d /tmp/llm-proxy-instructions.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP_PORT=$(free_port)
GW_PORT=$(free_port)
strip --strip-debug -o "$WORK/llm-proxy" "$BINARY"

. scripts/bench-gateway.sh
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { default_type application/json; return 200 '$RESPONSE'; }
  }
}
EOF
# The bench's streaming providers are never asked here (health checks are off).
bench_gateway_config "$GW_PORT" "$UP_PORT" "$(free_port)" "$(free_port)" > "$WORK/gateway.yaml"

# count FILE...: the summed totals of callgrind dumps.
count() { grep -h '^totals:' "$@" | awk '{s += $2} END {print s}'; }

if [ "$MODE" = start ]; then
  LOG_LEVEL=error valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --dump-instr=no \
    "$WORK/llm-proxy" serve --config "$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
  VALGRIND=$!
  PIDS+=("$VALGRIND")
  python3 - "$GW_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 120
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                sys.exit(0)
    except OSError:
        time.sleep(0.005)
sys.exit("no /health 200 within 120 s")
PY
  callgrind_control --dump "$VALGRIND" >/dev/null 2>&1
  sleep 0.3
  echo "instructions from exec to the first /health 200: $(count "$WORK"/cg.*.1)"
  exit 0
fi

nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
LOG_LEVEL=$LOG_LEVEL_ARG valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --dump-instr=no \
  "$WORK/llm-proxy" serve --config "$WORK/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
VALGRIND=$!
PIDS+=("$VALGRIND")
# send N: N keep-alive chat completions on one connection, each checked for a 200 and read to its end.
send() {
  python3 - "$GW_PORT" "$1" "$BODY" <<'PY'
import socket, sys, time
port, n, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Authorization: Bearer sk-bench\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
deadline = time.time() + 120
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        if time.time() > deadline: sys.exit("the gateway did not listen within 120 s")
        time.sleep(0.05)
for _ in range(n):
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: sys.exit("connection closed")
        data += chunk
        end = data.find(b"\r\n\r\n")
        if end < 0: continue
        head = data[:end].decode()
        if not head.startswith("HTTP/1.1 200"): sys.exit("unexpected answer: " + head.splitlines()[0])
        length = [int(l.split(":")[1]) for l in head.split("\r\n") if l.lower().startswith("content-length:")]
        if length and len(data) >= end + 4 + length[0]: break
PY
}
send 300
callgrind_control --zero "$VALGRIND" >/dev/null 2>&1
send "$REQUESTS"
callgrind_control --dump "$VALGRIND" >/dev/null 2>&1
sleep 0.3
TOTAL=$(count "$WORK"/cg.*.1)
echo "instructions per request (LOG_LEVEL=$LOG_LEVEL_ARG, $REQUESTS requests): $((TOTAL / REQUESTS))"
