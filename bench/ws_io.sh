#!/usr/bin/env bash
# WebSocket audio I/O: thread-per-socket civetweb (as `sova bot` serves its live sockets today)
# against one libwebsockets event-loop thread (on libuv, and on lws's own poll loop), with N calls
# each sending and receiving a 640-byte binary frame every 20 ms (PCM16, 16 kHz) at real-time pace.
# Also checks, on the libuv loop under load, that curl's multi-socket API completes HTTP requests
# (against python3 -m http.server on loopback) and that one lws wss:// client connects, verifies a
# self-signed certificate made here, and gets its message echoed (bench/ws_io/tls_echo.py).
# Figures for docs/benchmarks.md ("WebSocket audio I/O"). Everything stays on 127.0.0.1.
#
# usage: bench/ws_io.sh [SECONDS] [N...]   (default: 10 s measured after 3 s of warm-up; N = 100 200 500 1000 2000)
#        SERVERS="civetweb lws-uv lws-uv-direct lws-poll" BUILD=build bench/ws_io.sh
# Needs a build with SOVA_TESTS=ON (bench_ws_load, bench_ws_civetweb, bench_ws_lws).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_MEASURED=${1:-10}
shift || true
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(100 200 500 1000 2000)
SERVERS=${SERVERS:-"civetweb lws-uv lws-uv-direct lws-poll"}
BUILD=${BUILD:-build}
for b in bench_ws_load bench_ws_civetweb bench_ws_lws; do
  [ -x "$BUILD/$b" ] || { echo "ws_io.sh: $BUILD/$b missing: build with SOVA_TESTS=ON (ninja -C $BUILD $b)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" # each process holds one socket per call

OUT=.test-runs/ws_io
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.err
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # FILE PID
  for _ in $(seq 100); do
    grep -q '^ready' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.05
  done
  echo "ws_io.sh: server did not start" >&2
  return 1
}

# Loopback stand-ins for a provider's HTTPS API (plain HTTP here: curl's TLS is curl's) and its wss:// socket.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
echo '{"ok":true}' > "$TMP/answer.json"
HTTP_PORT=$(free_port)
(cd "$TMP" && exec python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1) > "$TMP/http.log" 2>&1 &
PIDS+=($!)
TLS_PORT=$(free_port)
python3 bench/ws_io/tls_echo.py "$TLS_PORT" "$TMP/cert.pem" "$TMP/key.pem" > "$TMP/tls.log" 2>&1 &
PIDS+=($!)
wait_ready "$TMP/tls.log" "${PIDS[-1]}"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }

echo "| server | calls | open | server CPU (cores) | user | sys | RSS MiB | RSS/call KiB | threads | late p50 ms | late p99 ms | late max ms | late frames (>20 ms) | lost | RTT p50 ms | load gen CPU (cores) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for server in $SERVERS; do
  for n in "${COUNTS[@]}"; do
    port=$(free_port)
    log="$OUT/$server-$n.server.log"
    case $server in
      civetweb) "$BUILD/bench_ws_civetweb" "$port" $((n + 8)) > "$log" 2>&1 & ;;
      lws-uv) "$BUILD/bench_ws_lws" --port "$port" --loop uv \
                --curl-url "http://127.0.0.1:$HTTP_PORT/answer.json" --curl-every-ms 100 \
                --wss-url "wss://localhost:$TLS_PORT/" --wss-ca "$TMP/cert.pem" > "$log" 2>&1 & ;;
      lws-uv-direct) "$BUILD/bench_ws_lws" --port "$port" --loop uv --write direct > "$log" 2>&1 & ;;
      lws-poll) "$BUILD/bench_ws_lws" --port "$port" --loop poll > "$log" 2>&1 & ;;
      *) echo "ws_io.sh: unknown server $server" >&2; exit 64 ;;
    esac
    spid=$!
    PIDS+=($spid)
    wait_ready "$log" "$spid"
    # A server that starves the machine (thousands of threads) also starves the load generator: it is
    # given the window plus 40 s, then the run counts as not survived.
    line=$(timeout -s KILL $((SECONDS_MEASURED + 40)) "$BUILD/bench_ws_load" --port "$port" --conns "$n" \
           --seconds "$SECONDS_MEASURED" --warmup 3 --pid "$spid" 2> "$OUT/$server-$n.load.err" ||
           echo "conns=$n open=did-not-finish")
    kill "$spid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    sleep 3 # the kernel frees the last run's sockets before the next one starts
    echo "$line" > "$OUT/$server-$n.load.log"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$server" "$n" \
      "$(field open "$line")" "$(field server_cpu "$line")" "$(field server_user "$line")" \
      "$(field server_sys "$line")" "$(field server_rss_mib "$line")" \
      "$(field rss_per_conn_kib "$line")" "$(field server_threads "$line")" "$(field late_p50_ms "$line")" \
      "$(field late_p99_ms "$line")" "$(field late_max_ms "$line")" "$(field late_frames "$line")" \
      "$(field lost "$line")" "$(field rtt_p50_ms "$line")" "$(field client_cpu "$line")"
  done
done
echo
for f in "$OUT"/*.server.log; do
  echo "$(basename "$f" .server.log): $(grep -E '^(server|curl|wss):' "$f" | tr '\n' ' ')"
done
