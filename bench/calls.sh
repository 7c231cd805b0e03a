#!/usr/bin/env bash
# Benchmark: N concurrent calls in one `sova bot` against a loopback stand-in language model with a
# fixed delay. For each N: a fresh bot, N signed replay call starts (Alpha prior_auth, BENCH_LINES
# lines of the other party each, one model round trip per line), then per-call memory, the bot's
# own time per turn and per call start (p50/p99, from its GET /stats), the loop thread's CPU per
# turn or start and, split, per call (its start and end, from /stats) and per model request
# (the rest, over the requests the stand-in answered), client-side start latency, and how the
# sessions ended in the database. A benchmark, not a test: figures go to
# docs/benchmarks.md.
#   bench/calls.sh [N...]            (default: 100 250 500 1000 2000)
# Settings (environment):
#   BENCH_DELAY_MS      the stand-in's fixed delay per answer (default 5000); the stand-in is the
#                       specs' own, spec/fixtures/llm/openai_standin.py (one asyncio thread)
#   BENCH_LINES         lines of the other party per call (default 8)
#   SOVA_BOT_THREADS    the bot's HTTP threads (default 16)
#   BENCH_DRAIN_SECONDS how long to wait after the calls for the bot's session writer to reach
#                       FerretDB before stopping the bot (default 0: what it has not written is in
#                       its spool file when it stops, and is counted from there)
#   BENCH_NICE          nice level of the harness: FerretDB, the stand-in, the load generator
#                       (default 10, so that the bot comes first on the shared cores)
#   BENCH_BOT_NICE      nice level of the bot (default 0; -10 puts it ahead of other work on a
#                       shared machine)
#   BENCH_PIN           1: the bot on CPU 0, the harness on CPU 1 (default 0: no pinning)
#   BENCH_PERF          set: a perf profile of the bot per N, in bench/results/calls-perf-N.txt
#   BENCH_WAVES         runs of N calls one after another in the same bot (default 1; 2 shows
#                       whether memory comes back: the second wave starts from the first's RSS;
#                       its timings mix both waves, /stats keeps the last 20,000 samples)
# Per N: bench/results/calls-N.json (every figure), calls-bot-N.log (the bot's log).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 250 500 1000 2000)
delay=${BENCH_DELAY_MS:-5000}
lines=${BENCH_LINES:-8}
pin=${BENCH_PIN:-0}
harness_nice=${BENCH_NICE:-10}
bot_nice=${BENCH_BOT_NICE:-0}
on_bot=(nice -n "$bot_nice") on_rest=(nice -n "$harness_nice")
if [ "$pin" = 1 ]; then on_bot+=(taskset -c 0) on_rest+=(taskset -c 1); fi
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the database ----
db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
renice -n "$harness_nice" -p "$FERRETDB_PID" >/dev/null
if [ "$pin" = 1 ]; then taskset -a -p -c 1 "$FERRETDB_PID" >/dev/null; fi
export SOVA_DEMO_PASSWORD="bench-password-1234"

# ---- the stand-in language model ----
llm_port=$(free_port)
export BENCH_OPENAI_KEY="sk-bench-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
"${on_rest[@]}" python3 spec/fixtures/llm/openai_standin.py "$llm_port" --api-key "$BENCH_OPENAI_KEY" --delay-ms "$delay" \
  >"$work/standin.log" 2>&1 &
llm_pid=$!
pids+=("$llm_pid")
wait_port "$llm_port" 20

# ---- a flow root for the bot: the repository's schemas and Alpha's prior_auth flow ----
root="$work/root"
flow="$root/clients/demo_clinic_alpha/prior_auth"
mkdir -p "$flow"
ln -s "$SOVA_ROOT/schemas" "$root/schemas"
cp clients/demo_clinic_alpha/prior_auth/flow_definition.lua "$flow/"
cat >"$flow/services.yaml" <<YAML
# bench/calls.sh: the prior_auth flow against the loopback stand-in (fixed delay ${delay} ms)
llm:
  provider: openai
  model: gpt-standin
  base_url: http://127.0.0.1:$llm_port/v1
  api_key_env: BENCH_OPENAI_KEY
  timeout_ms: 120000
YAML

export SOVA_BOT_SECRET="bench-bot-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export SOVA_BOT_THREADS=${SOVA_BOT_THREADS:-16}
export BENCH_LINES=$lines BENCH_WORK="$work" BENCH_LLM_URL="http://127.0.0.1:$llm_port"
# The driver runs under LuaJIT with the specs' modules (sova.core, and sova.testkit for processes).
# (an array, not a function: it also runs under nice, which cannot run a shell function)
lua_cmd=(env "LUA_PATH=$SOVA_ROOT/lua/?.lua;$SOVA_ROOT/lua/?/init.lua;;" "LUA_CPATH=$SOVA_ROOT/build/lua/?.so;;" luajit)
bench_lua() { "${lua_cmd[@]}" "$@"; }
export BENCH_DRAIN_SECONDS=${BENCH_DRAIN_SECONDS:-0}
mkdir -p bench/results
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: stand-in delay ${delay} ms, ${lines} lines per call, SOVA_BOT_THREADS=$SOVA_BOT_THREADS, bot nice $bot_nice, harness nice $harness_nice, pinned: $pin"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for n in "${sizes[@]}"; do
  echo "== N=$n (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  # a database and a data dir (secrets, write spool) of its own per N: no run inherits another's
  # documents or unwritten sessions
  export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_bench_$n" SOVA_DATA_DIR="$work/data-$n"
  build/sova script scripts/setup_multi_tenant.lua >/dev/null
  export SOVA_BOT_PORT=$(free_port)
  SOVA_ROOT="$root" "${on_bot[@]}" build/sova bot 2>"$work/bot-$n.log" &
  bot=$!
  pids+=("$bot")
  wait_port "$SOVA_BOT_PORT" 20 || { echo "the bot did not start; see bench/results/calls-bot-$n.log"; cp "$work/bot-$n.log" bench/results/calls-bot-$n.log; exit 1; }
  bot_cpu0=$(cpu_ticks "$bot") llm_cpu0=$(cpu_ticks "$llm_pid") db_cpu0=$(cpu_ticks "$FERRETDB_PID")
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -q -F 499 -g -p "$bot" -o "$work/perf-$n.data" 2>/dev/null &
    perf_pid=$!
  fi
  results=()
  for wave in $(seq 1 "${BENCH_WAVES:-1}"); do
    result="bench/results/calls-$n.json"
    [ "$wave" = 1 ] || { result="bench/results/calls-$n-wave$wave.json"; echo "-- wave $wave"; }
    results+=("$result")
    BENCH_N=$n BENCH_BOT_URL="http://127.0.0.1:$SOVA_BOT_PORT" BENCH_BOT_PID=$bot BENCH_RESULT="$result" \
      "${on_rest[@]}" "${lua_cmd[@]}" bench/calls_driver.lua run || echo "driver failed for N=$n"
  done
  awk -v b=$(($(cpu_ticks "$bot") - bot_cpu0)) -v l=$(($(cpu_ticks "$llm_pid") - llm_cpu0)) \
    -v d=$(($(cpu_ticks "$FERRETDB_PID") - db_cpu0)) -v hz="$hz" \
    'BEGIN { printf "CPU seconds during the run: bot %.1f, stand-in %.1f, FerretDB %.1f\n", b/hz, l/hz, d/hz }'
  if [ -n "${BENCH_PERF:-}" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    perf report -i "$work/perf-$n.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -40 >"bench/results/calls-perf-$n.txt" || true
    perf report -i "$work/perf-$n.data" --no-children -g none --sort dso --stdio 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -15 >>"bench/results/calls-perf-$n.txt" || true
  fi
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "bot threads: $(awk '/Threads/ {print $2}' /proc/$bot/status)"
  kill "$bot"
  wait "$bot" 2>/dev/null || true
  cp "$work/bot-$n.log" "bench/results/calls-bot-$n.log"
  for result in "${results[@]}"; do
    if [ -f "$result" ]; then
      BENCH_RESULT="$result" BENCH_SPOOL="$SOVA_DATA_DIR/spool/writes.spool" \
        bench_lua bench/calls_driver.lua tally
    fi
  done
  echo "bot log: ended $(grep '"call.ended"' "$work/bot-$n.log" | grep -o '"status":"[a-z_]*"' | sort | uniq -c | tr -s ' \n' ' ')," \
    "$(grep -c '"level":"error"' "$work/bot-$n.log" || true) errors"
done
