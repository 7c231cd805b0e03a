#!/usr/bin/env bash
# Benchmark: N concurrent voice calls in one `sova bot`, against the stand-in providers
# (sova-standin: Deepgram's live API hears, Cartesia's WebSocket API speaks, real wire formats and
# real audio), with real audio frames at real-time pace both ways. For each N: a fresh bot and
# database, N Alpha prior_auth calls (mode browser_voice, the offline rules engine as the model, so
# the "model" stage is the platform's own time) whose other parties (bench_voice_load) say the
# script's lines as flite audio, wait for each answer, and hang up after the last one. Figures:
# the bot's stages per turn from GET /stats (the platform's added latency: final transcript to
# the first say, first synthesized audio to the first frame out), outbound pacing as the parties
# received it and as the bot's pacer sent it, the answer's delay as the party hears it, the bot's
# CPU per call and RSS per call, and how the sessions ended. A benchmark, not a test: figures go to
# docs/benchmarks.md ("Voice calls in one bot").
#   bench/voice_calls.sh [N...]        (default: 100 200 500 750 1000)
# Settings (environment):
#   BENCH_ENGINES                 cloud (default: the stand-ins) or offline (no provider key set:
#                                 pocketsphinx and flite in the bot, at most SOVA_OFFLINE_VOICE_CALLS
#                                 calls, default 4: the first words of the offline engines)
#   BENCH_ENCODING / BENCH_RATE   the live sockets' audio (default mulaw / 8000: a phone call's;
#                                 pcm_s16le with 16000 is a browser's)
#   BENCH_RAMP_SECONDS            the calls' starts spread over this long (default 10)
#   BENCH_MAX_SECONDS             the parties give up after this long (default 300)
#   BENCH_NICE / BENCH_BOT_NICE   nice levels of FerretDB (default 10) and of the bot (default 0);
#                                 the stand-in and the parties run at the default
#   BENCH_TRACE                   1: the first call's messages and turns on stderr
#   BENCH_PERF                    set: a perf profile of the bot per N, in bench/results/voice-calls-perf-N.txt
#   BENCH_PIN                     1: the bot on CPU 0, the harness on CPU 1 (default 0)
# Per N: bench/results/voice-calls-N.json (every figure), voice-calls-bot-N.log (the bot's log).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 200 500 750 1000)
engines=${BENCH_ENGINES:-cloud}
case "$engines" in cloud|offline) ;; *) echo "BENCH_ENGINES must be cloud or offline" >&2; exit 64 ;; esac
encoding=${BENCH_ENCODING:-mulaw}
rate=${BENCH_RATE:-8000}
pin=${BENCH_PIN:-0}
harness_nice=${BENCH_NICE:-10}
bot_nice=${BENCH_BOT_NICE:-0}
on_bot=(nice -n "$bot_nice") on_rest=(nice -n "$harness_nice")
if [ "$pin" = 1 ]; then on_bot+=(taskset -c 0) on_rest+=(taskset -c 1); fi
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C build bench_voice_load sova-standin >/dev/null
ulimit -n "$(ulimit -Hn)" # three sockets per call in the bot (the party's, Deepgram's, Cartesia's)

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the other party's lines: the stand-in Deepgram's script, and the same lines as audio ----
lines=(
  "Sure, what's the member ID and date of birth?"
  "Authorization is required for that code."
  "It was approved."
  "The reference number is 5 5 1 2 3 4."
  "Yes, that's correct."
)
mkdir -p "$work/clips" "$work/scripts"
printf '%s\n' "${lines[@]}" >"$work/scripts/prior_auth.txt"
case "$encoding" in
  mulaw) sox_out=(-e mu-law -b 8) ;;
  pcm_s16le) sox_out=(-e signed-integer -b 16 -L) ;;
  *) echo "BENCH_ENCODING must be mulaw or pcm_s16le" >&2; exit 64 ;;
esac
for i in "${!lines[@]}"; do
  flite -voice kal -t "${lines[$i]}" -o "$work/clips/$((i + 1)).wav"
  sox "$work/clips/$((i + 1)).wav" -t raw "${sox_out[@]}" -r "$rate" -c 1 "$work/clips/$((i + 1)).raw"
done

# ---- the database ----
db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
renice -n "$harness_nice" -p "$FERRETDB_PID" >/dev/null
if [ "$pin" = 1 ]; then taskset -a -p -c 1 "$FERRETDB_PID" >/dev/null; fi
export SOVA_DEMO_PASSWORD="bench-password-1234"

# ---- the stand-in providers (offline: none, and no key, so the bot falls back to its own engines) ----
unset DEEPGRAM_API_KEY CARTESIA_API_KEY ELEVENLABS_API_KEY
if [ "$engines" = cloud ]; then
key="bench-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
# the stand-in is the providers: not niced (on one thread, starved, it would time the bot's clients out)
build/sova-standin --port 0 --key "$key" --script-dir "$work/scripts" >"$work/standin.out" 2>"$work/standin.err" &
standin=$!
pids+=("$standin")
for _ in $(seq 100); do grep -q 'ready port=' "$work/standin.out" 2>/dev/null && break; sleep 0.1; done
standin_port=$(grep -o 'ready port=[0-9]*' "$work/standin.out" | cut -d= -f2)
[ -n "$standin_port" ] || { echo "sova-standin did not start"; cat "$work/standin.err"; exit 1; }
export DEEPGRAM_API_KEY="$key" CARTESIA_API_KEY="$key"
export DEEPGRAM_API_BASE="ws://127.0.0.1:$standin_port/x/script=prior_auth.txt/" CARTESIA_API_BASE="ws://127.0.0.1:$standin_port"
fi

# ---- a flow root for the bot: the repository's schemas and Alpha's prior_auth flow ----
root="$work/root"
flow="$root/clients/demo_clinic_alpha/prior_auth"
mkdir -p "$flow"
ln -s "$SOVA_ROOT/schemas" "$root/schemas"
cp clients/demo_clinic_alpha/prior_auth/flow_definition.lua "$flow/"
cat >"$flow/services.yaml" <<YAML
# bench/voice_calls.sh: Deepgram and Cartesia (the stand-ins), the offline rules engine (the key's
# variable is never set)
llm:
  provider: openai
  model: gpt-4o-mini
  api_key_env: BENCH_UNSET_OPENAI_KEY
stt:
  provider: deepgram
  model: nova-2
  language: en-US
  api_key_env: DEEPGRAM_API_KEY
tts:
  provider: cartesia
  model: sonic-english
  voice: professional-woman
  api_key_env: CARTESIA_API_KEY
YAML

export SOVA_BOT_SECRET="bench-bot-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
lua_cmd=(env "LUA_PATH=$SOVA_ROOT/lua/?.lua;$SOVA_ROOT/lua/?/init.lua;;" "LUA_CPATH=$SOVA_ROOT/build/lua/?.so;;" luajit)
export BENCH_WORK="$work" BENCH_CLIPS="$work/clips" BENCH_ENCODING="$encoding" BENCH_RATE="$rate"
export BENCH_LOAD="$SOVA_ROOT/build/bench_voice_load"
mkdir -p bench/results
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: $engines engines, $encoding $rate Hz, ${#lines[@]} lines per call, ramp ${BENCH_RAMP_SECONDS:-10} s, bot nice $bot_nice, harness nice $harness_nice, pinned: $pin"

for n in "${sizes[@]}"; do
  echo "== N=$n (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_voice_bench_$n" SOVA_DATA_DIR="$work/data-$n"
  build/sova script scripts/setup_multi_tenant.lua >/dev/null
  export SOVA_BOT_PORT=$(free_port)
  SOVA_ROOT="$root" "${on_bot[@]}" build/sova bot 2>"$work/bot-$n.log" &
  bot=$!
  pids+=("$bot")
  wait_port "$SOVA_BOT_PORT" 20 || { echo "the bot did not start"; cp "$work/bot-$n.log" bench/results/voice-calls-bot-$n.log; exit 1; }
  result="bench/results/voice-calls-$n.json"
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -q -F 499 -g -p "$bot" -o "$work/perf-$n.data" 2>/dev/null &
    perf_pid=$!
  fi
  # the driver and its parties are not niced: a party that is served late sees the bot's frames late
  BENCH_N=$n BENCH_BOT_URL="http://127.0.0.1:$SOVA_BOT_PORT" BENCH_BOT_PID=$bot BENCH_RESULT="$result" \
    "${lua_cmd[@]}" bench/voice_calls_driver.lua || echo "driver failed for N=$n"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -n "${BENCH_PERF:-}" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    perf report -i "$work/perf-$n.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -50 >"bench/results/voice-calls-perf-$n.txt" || true
  fi
  kill "$bot"
  wait "$bot" 2>/dev/null || true
  cp "$work/bot-$n.log" "bench/results/voice-calls-bot-$n.log"
  if [ -f "$result" ]; then
    BENCH_RESULT="$result" BENCH_SPOOL="$SOVA_DATA_DIR/spool/writes.spool" \
      "${lua_cmd[@]}" bench/calls_driver.lua tally
  fi
  echo "bot log: $(grep -c '"level":"error"' "$work/bot-$n.log" || true) errors; ended: $(grep '"call.ended"' "$work/bot-$n.log" | grep -o '"status":"[a-z_]*"' | sort | uniq -c | tr -s ' \n' ' ')"
done
