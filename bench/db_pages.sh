#!/usr/bin/env bash
# Benchmark: what one request costs as a clinic grows, on the embedded database (FerretDB over
# PostgreSQL, scripts/embedded-db) or on MONGODB_URI's server when it is set. At each size the
# patients of Demo Clinic Alpha's prior_auth and as many of Beta's patient_questions (another
# clinic in the same collections) are seeded, then wrk runs, at 1 and at 64 connections:
#   list    GET /api/workflows/prior_auth/patients?limit=50
#   deep    the same list's 100th page (or its last, when it has fewer)
#   search  ?q= a patient's whole name ("Bench Patient 1000": one match, the search reads every
#           block of the list for it)
#   short   ?q=pat (every patient matches: the search reads the list's newest page)
#   view    GET /api/patients/{id}
#   dash    GET /api/workflows/prior_auth/dashboard
# and prints one line each: requests/s, p50, p99, errors, and the API's and the database's CPU
# per request. A benchmark, not a test: figures go to docs/benchmarks.md.
#   bench/db_pages.sh [SIZES] [SECONDS_PER_RUN]     default "100 1000 10000 100000" 10
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
sizes=${1:-100 1000 10000 100000}
duration=${2:-10}
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

db_pids=()
if [ -z "${MONGODB_URI:-}" ]; then
  db_port=$(free_port)
  chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
  start_database "$work/db" "$db_port" "$work/database.log"
  pids+=("${DATABASE_PIDS[@]}")
  db_pids=("${DATABASE_PIDS[@]}")
  export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_bench"
  echo "database: FerretDB $("$SOVA_ROOT/.tools/bin/ferretdb" --version 2>&1 | sed -n 's/^version: *//p' | head -1) over $("${SOVA_PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" --version)"
else
  echo "database: $MONGODB_URI (its CPU is not counted here)"
fi
export SOVA_DATA_DIR="$work" SOVA_DEMO_PASSWORD="bench-password-1234"
build/sova script scripts/setup_multi_tenant.lua >/dev/null

export SOVA_HTTP_PORT=$(free_port) SOVA_HTTP_THREADS=${SOVA_HTTP_THREADS:-64}
build/sova api 2>"$work/api.log" &
api_pid=$!
pids+=("$api_pid")
wait_port "$SOVA_HTTP_PORT" 20
base="http://127.0.0.1:$SOVA_HTTP_PORT"
host='democlinicalpha.localhost'
token=$(curl -sf -H "Host: $host" -H 'Content-Type: application/json' \
  -d '{"email":"adambehun22@gmail.com","password":"bench-password-1234"}' \
  "$base/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
get() { curl -sf -H "Host: $host" -H "Authorization: Bearer $token" "$base$1"; }

cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("%d %.1f %.2f %.2f %d\n", summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
hz=$(getconf CLK_TCK)
# ticks PID...: CPU ticks of the processes, their live children and their reaped children
ticks() {
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    for c in $(pgrep -P "$p" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0))); done
  done
  echo "$t"
}

# waits until the requests wrk gave up on are done (the database idle), so the next run is not
# measured behind them
drain() {
  local t0 t1
  while :; do
    t0=$(ticks "$api_pid" "${db_pids[@]}"); sleep 2; t1=$(ticks "$api_pid" "${db_pids[@]}")
    [ $((t1 - t0)) -lt $((hz / 5)) ] && return
  done
}

# run SIZE LABEL CONNS PATH
run() {
  local a0 d0 a1 d1 out
  a0=$(ticks "$api_pid"); d0=$(ticks "${db_pids[@]}")
  out=$(wrk -t"$(($3 < 2 ? 1 : 2))" -c"$3" -d"${duration}s" --timeout 10s -s "$work/report.lua" \
    -H "Host: $host" -H "Authorization: Bearer $token" "$base$4" | tail -1)
  a1=$(ticks "$api_pid"); d1=$(ticks "${db_pids[@]}")
  # shellcheck disable=SC2086
  set -- "$1" "$2" "$3" $out "$((a1 - a0))" "$((d1 - d0))"
  awk -v size="$1" -v label="$2" -v c="$3" -v n="$4" -v rps="$5" -v p50="$6" -v p99="$7" -v err="$8" \
    -v at="$9" -v dt="${10}" -v hz="$hz" -v dbc="${#db_pids[@]}" 'BEGIN {
      dbms = dbc ? sprintf("%.2f", dt / hz * 1000 / (n ? n : 1)) : "-"
      printf "%8d %-7s %3d %9.1f %10.2f %10.2f %6d %8.2f %8s\n", size, label, c, rps, p50, p99, err, at / hz * 1000 / (n ? n : 1), dbms }'
}

printf "%8s %-7s %3s %9s %10s %10s %6s %8s %8s\n" patients query c "req/s" "p50 ms" "p99 ms" errors "api ms" "db ms"
have=0
for size in $sizes; do
  if [ "$size" -gt "$have" ]; then
    build/sova script bench/seed_patients.lua "$((size - have))" >/dev/null
    build/sova script bench/seed_patients.lua "$((size - have))" demo_clinic_beta patient_questions >/dev/null
    have=$size
  fi
  list="/api/workflows/prior_auth/patients?limit=50"
  cursor=""
  for _ in $(seq 1 99); do
    next=$(get "$list${cursor:+&cursor=$cursor}" | python3 -c 'import json,sys; c=json.load(sys.stdin)["next_cursor"]; print(c or "")')
    [ -n "$next" ] || break
    cursor=$next
  done
  one=$(get "$list" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  name=$(get "/api/patients/$one" | python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["patient_name"]))')
  for c in 1 64; do
    run "$size" list "$c" "$list"
    run "$size" deep "$c" "$list${cursor:+&cursor=$cursor}"
    run "$size" search "$c" "$list&q=$name"
    run "$size" view "$c" "/api/patients/$one"
    run "$size" dash "$c" "/api/workflows/prior_auth/dashboard"
    run "$size" short "$c" "$list&q=pat"
    drain
  done
  echo "-- explain at $size:"
  build/sova script bench/db_explain.lua | sed 's/^/   /'
done
echo "statuses logged by the API: $(grep -o '"status":[0-9]*' "$work/api.log" | sort | uniq -c | tr '\n' ' ')"
