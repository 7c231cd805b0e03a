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
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run_wrk LABEL URL: one wrk run, plus the API's own CPU time per request.
run_wrk() {
  local before after
  before=$(cpu_ticks "$api_pid")
  echo "== $1"
  wrk -t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"${duration}s" --timeout 10s --latency -s "$work/report.lua" \
    -H "Host: $host" -H "Authorization: Bearer $token" "$2" | tee "$work/wrk.out" | sed -n '/^requests\/s/,$p'
  after=$(cpu_ticks "$api_pid")
  local n
  n=$(sed -n 's/^requests: //p' "$work/wrk.out")
  [ -n "$n" ] && [ "$n" -gt 0 ] && awk -v t=$((after - before)) -v hz="$hz" -v n="$n" \
    'BEGIN { printf "api CPU per request: %.2f ms\n", t / hz * 1000 / n }'
}

run_wrk "list: GET /api/workflows/prior_auth/patients?limit=50" "$url"
one=$(curl -sf -H "Host: $host" -H "Authorization: Bearer $token" "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
run_wrk "view: GET /api/patients/{id}" "http://127.0.0.1:$SOVA_HTTP_PORT/api/patients/$one"
echo "api peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$api_pid/status)"
mkdir -p bench/results
cp "$work/api.log" bench/results/api_list-api.log
echo "statuses logged by the API: $(grep -o '"status":[0-9]*' "$work/api.log" | sort | uniq -c | tr '\n' ' ')"
