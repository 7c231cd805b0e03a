#!/usr/bin/env bash
# Provider stand-in load (figures in docs/benchmarks.md, "Provider stand-ins"): N Deepgram streams
# and N Cartesia streams at real-time pace from one process through the production clients, against
# one sova-standin process (one thread). Usage: bench/standins.sh [streams...] (default: 100 500).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" sova-standin bench_standins >/dev/null
SECONDS_PER_RUN=${SOVA_BENCH_SECONDS:-20}
for n in "${@:-100 500}"; do
  for mode in deepgram cartesia; do
    "$BUILD/bench_standins" --standin "$BUILD/sova-standin" --mode "$mode" --streams "$n" --seconds "$SECONDS_PER_RUN"
  done
done
