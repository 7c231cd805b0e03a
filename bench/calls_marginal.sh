#!/usr/bin/env bash
# The bot's CPU per model turn, apart from the call's start: bench/calls.sh run twice at the same
# N, with BENCH_LINES (default 8) and with 2 lines of the other party per call, fresh bots both;
# the loop thread's CPU difference over the turns difference is what one more model turn costs
# (the goal of issue 9: <= 0.5 ms), and what is left of the first run is the start's share.
#   bench/calls_marginal.sh [N]        (default 100; other settings as bench/calls.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
long=${BENCH_LINES:-8}
[ "$long" -gt 2 ] || { echo "BENCH_LINES must be more than 2" >&2; exit 64; }
mkdir -p bench/results
BENCH_LINES=$long bench/calls.sh "$n"
cp "bench/results/calls-$n.json" "bench/results/calls-$n-lines$long.json"
BENCH_LINES=2 bench/calls.sh "$n"
cp "bench/results/calls-$n.json" "bench/results/calls-$n-lines2.json"
python3 - "bench/results/calls-$n-lines$long.json" "bench/results/calls-$n-lines2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def turns(r): return (r["bot_turn_ms"] or {}).get("count") or 0
def starts(r): return (r["bot_start_ms"] or {}).get("count") or 0
dt = turns(a) - turns(b)
if dt <= 0 or starts(a) != starts(b):
    sys.exit(f"cannot compare: turns {turns(a)} vs {turns(b)}, starts {starts(a)} vs {starts(b)}")
per_turn = (a["bot_cpu"]["loop_run"] - b["bot_cpu"]["loop_run"]) * 1000 / dt
per_start = (b["bot_cpu"]["loop_run"] * 1000 - per_turn * turns(b)) / max(1, starts(b))
print(f"loop CPU per model turn (marginal, {dt} more turns): {per_turn:.3f} ms; per call start with its greeting: {per_start:.3f} ms")
PY
