#!/usr/bin/env bash
# The phone simulator's own cost (figures in docs/benchmarks.md, "Phone simulator"): N simulated
# calls at once from one sova-phone-sim (one thread), streaming into a bot stand-in in
# bench/phonesim/phonesim_load.c, on hold (music) and talking. Usage: bench/phonesim.sh [calls...]
# (default: 500 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" sova-phone-sim bench_phonesim_load >/dev/null
SECONDS_PER_RUN=${SOVA_BENCH_SECONDS:-20}
for n in "${@:-500 1000}"; do
  for kind in hold talk; do
    "$BUILD/bench_phonesim_load" --sim "$BUILD/sova-phone-sim" --calls "$n" --seconds "$SECONDS_PER_RUN" --kind "$kind"
  done
done
