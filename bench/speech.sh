#!/usr/bin/env bash
# The offline speech engines' costs: bench/speech.sh [repeats] (default 3).
# Builds bench_speech (only with SOVA_TESTS=ON, the default) and runs it on one core.
# Figures go in docs/benchmarks.md, "Offline speech engines".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SOVA_BUILD_DIR:-build}
ninja -C "$BUILD" bench_speech >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pocketsphinx $(dpkg-query -W -f='${Version}' libpocketsphinx3 2>/dev/null), flite $(dpkg-query -W -f='${Version}' libflite1 2>/dev/null), espeak-ng $(dpkg-query -W -f='${Version}' libespeak-ng1 2>/dev/null)"
# one core: the figures are per core
exec taskset -c 0 "$BUILD/bench_speech" "${1:-3}"
