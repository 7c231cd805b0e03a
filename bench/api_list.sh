#!/usr/bin/env bash
# Benchmark: GET /api/workflows/prior_auth/patients?limit=50 with 1,000 patients seeded,
# wrk with 64 connections for 30 s. Prints requests/s, latency p50/p99, errors, and the API's
# peak resident memory. A benchmark, not a test: figures go to docs/benchmarks.md.
#   bench/api_list.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
duration=${1:-30}
conns=${2:-64}
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

db_port=$(free_port)
start_ferretdb "$work/db" "$db_port" "$work/ferretdb.log"
pids+=("$FERRETDB_PID")
export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_bench" SOVA_DATA_DIR="$work" SOVA_DEMO_PASSWORD="bench-password-1234"
build/sova script scripts/setup_multi_tenant.lua >/dev/null
build/sova script bench/seed_patients.lua 1000

export SOVA_HTTP_PORT=$(free_port) SOVA_HTTP_THREADS=${SOVA_HTTP_THREADS:-64}
build/sova api 2>"$work/api.log" &
api_pid=$!
pids+=("$api_pid")
wait_port "$SOVA_HTTP_PORT" 20

host='democlinicalpha.localhost'
token=$(curl -sf -H "Host: $host" -H 'Content-Type: application/json' \
  -d '{"email":"adambehun22@gmail.com","password":"bench-password-1234"}' \
  "http://127.0.0.1:$SOVA_HTTP_PORT/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
url="http://127.0.0.1:$SOVA_HTTP_PORT/api/workflows/prior_auth/patients?limit=50"
count=$(curl -sf -H "Host: $host" -H "Authorization: Bearer $token" "$url" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
echo "one page holds $count patients"

cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests/s: %.1f\nrequests: %d\np50: %.2f ms\np99: %.2f ms\nmax: %.2f ms\n",
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA
wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$work/report.lua" \
  -H "Host: $host" -H "Authorization: Bearer $token" "$url" | sed -n '/^requests\/s/,$p'
echo "api peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$api_pid/status)"
echo "audit records written: $(grep -c '"status":200' "$work/api.log") requests logged with 200"
