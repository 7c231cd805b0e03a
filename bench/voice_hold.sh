#!/usr/bin/env bash
# Calls on hold (docs/benchmarks.md, "Hold"): makes the hold audio at run time with
# core/tests/hold_audio.sh (sox music, flite and espeak-ng messages) into .test-runs/bench-hold/,
# then runs build/bench_voice_hold on one core: the voice's CPU per call-second on hold, with
# music only, with a recorded message every 30 s, recorded, and not on hold for comparison.
#
#   bench/voice_hold.sh [calls] [seconds] [repeats]     (default 1000 60 5; SOVA_BUILD_DIR=build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
OUT=.test-runs/bench-hold
ninja -C "$BUILD" bench_voice_hold >/dev/null
rm -rf "$OUT"
core/tests/hold_audio.sh "$OUT" >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
# one core: the figures are per core
taskset -c 0 "$BUILD/bench_voice_hold" "$OUT" "${1:-1000}" "${2:-60}" "${3:-5}"
