#!/usr/bin/env bash
# The voice pipeline's costs: bench/voice_pipeline.sh [calls] [seconds] [repeats] (default 500 20 10).
# Builds bench_voice_pipeline (only with SOVA_TESTS=ON, the default) and runs it on one core.
# Figures go in docs/benchmarks.md, "Voice pipeline".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" bench_voice_pipeline >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pocketsphinx $(dpkg-query -W -f='${Version}' libpocketsphinx3 2>/dev/null), flite $(dpkg-query -W -f='${Version}' libflite1 2>/dev/null), speexdsp $(dpkg-query -W -f='${Version}' libspeexdsp1 2>/dev/null)"
# one core: the figures are per core
exec taskset -c 0 "$BUILD/bench_voice_pipeline" "${1:-500}" "${2:-20}" "${3:-10}"
