#!/usr/bin/env bash
# Benchmark: a small authenticated request, GET /api/me, N times in a row over ONE kept-alive
# connection (curl reuses its connection for every URL of one invocation, and reports how many
# it opened). Prints the time to the first byte and to the end of each answer: p50, p90, p99,
# max, mean. A benchmark, not a test: figures go to docs/benchmarks.md.
#   bench/api_me_keepalive.sh [N] [TREE]
# TREE (default: this repository) is a source tree whose build/sova serves the API, so another
# commit can be measured the same way: git archive COMMIT | tar -x -C DIR, build it there, then
# bench/api_me_keepalive.sh 500 DIR.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
n=${1:-500}
tree=$(cd "${2:-$SOVA_ROOT}" && pwd)
cd "$SOVA_ROOT"
if [ "$tree" = "$SOVA_ROOT" ]; then
  sova_install
  sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
[ -x "$tree/build/sova" ] || { echo "no $tree/build/sova: build that tree first" >&2; exit 1; }

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_bench" SOVA_DATA_DIR="$work" SOVA_DEMO_PASSWORD="bench-password-1234"
(cd "$tree" && build/sova script scripts/setup_multi_tenant.lua >/dev/null)

export SOVA_HTTP_PORT=$(free_port) SOVA_HTTP_THREADS=8
(cd "$tree" && exec build/sova api 2>"$work/api.log") &
pids+=("$!")
wait_port "$SOVA_HTTP_PORT" 20

host='democlinicalpha.localhost'
base="http://127.0.0.1:$SOVA_HTTP_PORT"
token=$(curl -sf -H "Host: $host" -H 'Content-Type: application/json' \
  -d '{"email":"adambehun22@gmail.com","password":"bench-password-1234"}' \
  "$base/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -o /dev/null -H "Host: $host" -H "Authorization: Bearer $token" "$base/api/me"

# one curl, N transfers: each URL with its own output, all on the connection the first opened
{
  for _ in $(seq "$n"); do printf 'url = "%s/api/me"\noutput = "/dev/null"\n' "$base"; done
} >"$work/urls"
curl -s --keepalive-time 60 -H "Host: $host" -H "Authorization: Bearer $token" -K "$work/urls" \
  -w '%{http_code} %{num_connects} %{time_starttransfer} %{time_total}\n' >"$work/times"

python3 - "$work/times" "$(cd "$tree" && git rev-parse --short HEAD 2>/dev/null || basename "$tree")" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
codes = {r[0] for r in rows}
connects = sum(int(r[1]) for r in rows)
first = sorted(float(r[2]) * 1000 for r in rows)
total = sorted(float(r[3]) * 1000 for r in rows)
def pct(xs, p): return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"tree: {sys.argv[2]}; {len(rows)} requests, statuses {sorted(codes)}, connections opened: {connects}")
for name, xs in (("first byte", first), ("complete", total)):
    print(f"{name:>10}: p50 {pct(xs, 50):.2f} ms  p90 {pct(xs, 90):.2f} ms  p99 {pct(xs, 99):.2f} ms  "
          f"max {xs[-1]:.2f} ms  mean {sum(xs) / len(xs):.2f} ms")
PY
