#!/usr/bin/env bash
# The recorder's costs: bench/recorder.sh [SECONDS] (default 600: a 10-minute call).
# Recorder CPU per 20 ms frame and memory per call at 8/16/48 kHz, then the writer's recording
# operation storing a SECONDS-long 8 kHz and 16 kHz recording into FerretDB (started here, on
# loopback, SQLite backend). Figures go in docs/benchmarks.md, "Recording".
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
seconds=${1:-600}
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" bench_recorder >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
"$BUILD/bench_recorder" frames "$seconds"
db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
for rate in 8000 16000; do
  "$BUILD/bench_recorder" store "mongodb://127.0.0.1:$db_port/sova_bench" "$seconds" "$rate"
done
