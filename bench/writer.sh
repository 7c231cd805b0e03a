#!/usr/bin/env bash
# Benchmark: how fast the session writer (the bot's) and audit inserts reach the database, on the
# embedded database (FerretDB over PostgreSQL, scripts/embedded-db) or on MONGODB_URI's server.
# Runs bench/writer_driver.lua for each CALLS (TURNS turn updates per call, then its end and its
# patient's outcome) and prints its figures with the database's CPU per write. A benchmark, not a
# test: figures go to docs/benchmarks.md.
#   bench/writer.sh [CALLS...]      default "100 1000"; TURNS=8, AUDITS=5000 (environment)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "${MONGODB_URI:-}" ]; then
  db_port=$(free_port)
  chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
  start_database "$work/db" "$db_port" "$work/database.log"
  pids+=("${DATABASE_PIDS[@]}")
  export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_bench"
fi
hz=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
for calls in ${*:-100 1000}; do
  mkdir -p "$work/spool-$calls"
  d0=$(ticks "${pids[@]}")
  out=$(build/sova script bench/writer_driver.lua "$calls" "${TURNS:-8}" "${AUDITS:-5000}" "$work/spool-$calls")
  d1=$(ticks "${pids[@]}")
  echo "$out" | python3 -c "import json,sys; r=json.load(sys.stdin); r['db_cpu_seconds']=($d1-$d0)/$hz; print(json.dumps(r))"
done
