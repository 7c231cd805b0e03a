#!/usr/bin/env bash
# The Twilio Media Streams codec's cost: bench/twilio_stream.sh [messages] [repeats] (default
# 200000 5). Builds bench_twilio_stream (only with SOVA_TESTS=ON, the default) and runs it on one
# core. Figures go in docs/benchmarks.md, "Twilio Media Streams codec".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" bench_twilio_stream >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "libbson $(pkg-config --modversion libbson-1.0), libsodium $(pkg-config --modversion libsodium), build $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2)"
# one core: the figures are per core
exec taskset -c 0 "$BUILD/bench_twilio_stream" "${1:-200000}" "${2:-5}"
