#!/usr/bin/env bash
# Benchmark: N concurrent phone calls through the phone simulator in one `sova bot` (release
# build). The bot places every call at sova-phone-sim (TWILIO_API_BASE: its real Twilio client,
# signed status callbacks, a Media Streams socket per call, μ-law 8 kHz at real-time pace both
# ways), hears and speaks through the stand-in providers (sova-standin: Deepgram's live API and
# Cartesia's WebSocket API, real wire formats and real audio), runs Alpha's prior_auth flow with
# the offline rules engine as the model (so the "model" stage is the platform's own time), and
# writes every session through its writer to FerretDB. The calls are started by signed starts
# straight to the bot's POST /calls (mode phone), BENCH_START_RATE a second, so the API is not
# what is measured. Two workloads:
#   talk   every callee is an insurer's representative (a human scenario) who asks a question,
#          waits for the agent's answer, and asks the next: about 20 turns, longer than the run
#   hold   every callee puts the call on hold at once ("Please hold while I transfer you") and
#          plays the simulator's hold music for the rest of the call; the flow holds (its
#          on_hold node: recognition paused, the hold watcher listening)
# Once every call is connected and BENCH_SETTLE_SECONDS more have passed, a window of
# BENCH_WINDOW_SECONDS is measured (bench/phone_calls_driver.lua); then every call is hung up
# through the simulator's REST API (as the callee's side). Figures go to docs/benchmarks.md
# ("Phone calls through the simulator"). A benchmark, not a test.
#   bench/phone_calls.sh talk|hold [N...]      (default: talk 100 250 500, hold 500 1000)
# Settings (environment):
#   BENCH_RUNS                 runs of each N (default 1)
#   BENCH_START_RATE           calls started a second (default 20)
#   BENCH_SETTLE_SECONDS       after the last call connected, before the window (default 15 talk,
#                              30 hold: the greeting and "Sure, I'll hold" come first)
#   BENCH_WINDOW_SECONDS       the measured window (default 60)
#   BENCH_HOLD_MESSAGE_S       hold: a "your call is important" message every this many seconds
#                              (default 0: music only)
#   BENCH_NICE / BENCH_BOT_NICE  nice levels of FerretDB (default 10) and of the bot (default 0);
#                              the simulator and the stand-in run at 0
#   BENCH_PIN                  1: the bot on CPU 0, everything else on CPU 1 (default 0)
#   BENCH_KEEP                 set: the scratch directory (events files, logs) is kept
#   BENCH_PERF                 set: a perf profile of the bot over the window, in
#                              bench/results/phone-calls-perf-<workload>-N.txt
# Per run: bench/results/phone-calls-<workload>-N[-r].json (every figure), phone-calls-bot-….log.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
workload=${1:-talk}
shift || true
case "$workload" in talk|hold) ;; *) echo "usage: bench/phone_calls.sh talk|hold [N...]" >&2; exit 64 ;; esac
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then
  if [ "$workload" = talk ]; then sizes=(100 250 500); else sizes=(500 1000); fi
fi
runs=${BENCH_RUNS:-1}
pin=${BENCH_PIN:-0}
harness_nice=${BENCH_NICE:-10}
bot_nice=${BENCH_BOT_NICE:-0}
hold_message=${BENCH_HOLD_MESSAGE_S:-0}
on_bot=(nice -n "$bot_nice") on_rest=()
if [ "$pin" = 1 ]; then on_bot+=(taskset -c 0) on_rest=(taskset -c 1); fi
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C build sova-phone-sim sova-standin >/dev/null
# per call in the bot: the Media Streams socket, Deepgram's, Cartesia's, webhooks; in the simulator
# the stream and its webhooks
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the callee's lines: the simulator says them (flite), the stand-in Deepgram "hears" them ----
# talk: the representative asks for the details one at a time (the flow answers each from the
# patient's record, staying in its verify node), then the status, the reference number and its
# corrections; every line a question or a statement the rules engine takes in one step
talk_lines=(
  "Sure, what's the member ID and date of birth?"
  "Can you spell the patient's full name?"
  "And who is the rendering provider?"
  "Where will the procedure be done?"
  "When is the appointment scheduled?"
  "What is the CPT code again?"
  "What was the member ID once more?"
  "And the date of birth again?"
  "What's the provider's NPI?"
  "Authorization is required for that code."
  "It was approved."
  "The reference number is 5 5 1 2 3 4."
  "No, let me repeat, it is 5 5 1 2 3 5."
  "No, let me repeat, it is 5 5 1 2 3 6."
  "No, let me repeat, it is 5 5 1 2 3 7."
  "No, let me repeat, it is 5 5 1 2 3 8."
  "No, let me repeat, it is 5 5 1 2 3 9."
  "No, let me repeat, it is 5 5 1 2 4 0."
  "No, let me repeat, it is 5 5 1 2 4 1."
  "No, let me repeat, it is 5 5 1 2 4 2."
  "Yes, that's correct."
)
hold_say="Please hold while I transfer you to a representative."
# a probe (the watcher taking the music or a message for a voice) lets the recognizer hear it:
# the stand-in answers each utterance with its next line, which keeps the flow holding
hold_lines=("$hold_say")
for _ in $(seq 200); do hold_lines+=("Your call is important to us. Please stay on the line."); done
mkdir -p "$work/scripts"
if [ "$workload" = talk ]; then
  printf '%s\n' "${talk_lines[@]}" >"$work/scripts/phone.txt"
else
  printf '%s\n' "${hold_lines[@]}" >"$work/scripts/phone.txt"
fi
# the scenario of every number ("*"): cjson from a shell array, through python for the quoting
python3 - "$workload" "$hold_say" "$hold_message" "${talk_lines[@]}" >"$work/scenarios.json" <<'PY'
import json, sys
workload, hold_say, message_s, lines = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
if workload == "talk":
    callee = {"kind": "human", "ring_ms": 1000, "reply_gap_ms": 600, "lines": lines, "end": "wait"}
else:
    callee = {"kind": "hold", "ring_ms": 1000, "say": hold_say, "hold_seconds": 7200,
              "rep": {"greeting": "Thanks for holding, this is Dana.", "lines": ["Yes, that's correct."]}}
    if message_s > 0:
        callee["message"] = "Your call is important to us. Please stay on the line."
        callee["message_every_s"] = message_s
print(json.dumps({"*": callee}))
PY

# ---- the database ----
db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/database.log"
pids+=("${DATABASE_PIDS[@]}")
renice -n "$harness_nice" -p "$FERRETDB_PID" >/dev/null
if [ "$pin" = 1 ]; then taskset -a -p -c 1 "$FERRETDB_PID" >/dev/null; fi
export SOVA_DEMO_PASSWORD="bench-password-1234"

# ---- the stand-in providers: one process for each (each is one thread: Deepgram's level
# detection for every call and Cartesia's synthesis would share it), not niced ----
unset DEEPGRAM_API_KEY CARTESIA_API_KEY ELEVENLABS_API_KEY OPENAI_API_KEY
key="bench-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
start_standin() { # NAME: sets standin_port
  "${on_rest[@]}" build/sova-standin --port 0 --key "$key" --script-dir "$work/scripts" >"$work/$1.out" 2>"$work/$1.err" &
  pids+=("$!")
  for _ in $(seq 100); do grep -q 'ready port=' "$work/$1.out" 2>/dev/null && break; sleep 0.1; done
  standin_port=$(grep -o 'ready port=[0-9]*' "$work/$1.out" | cut -d= -f2)
  [ -n "$standin_port" ] || { echo "sova-standin ($1) did not start"; cat "$work/$1.err"; exit 1; }
}
start_standin deepgram
deepgram_port=$standin_port deepgram_pid=${pids[-1]}
start_standin cartesia
cartesia_pid=${pids[-1]}
export DEEPGRAM_API_KEY="$key" CARTESIA_API_KEY="$key"
# endpointing 300 ms (a phone line's setting; the stand-in's default is Deepgram's 10 ms): the
# stand-in hands out a line's whole text at its first pause, and with 10 ms a line that starts
# loud (flite's "Where…", "When…") is final 60 ms in, before the bot's VAD has confirmed the speech
# (100 ms), so the bot answered while the callee was still talking
export DEEPGRAM_API_BASE="ws://127.0.0.1:$deepgram_port/x/script=phone.txt&endpointing=300/" CARTESIA_API_BASE="ws://127.0.0.1:$standin_port"

# ---- a flow root for the bot: the repository's schemas and Alpha's prior_auth flow ----
root="$work/root"
flow="$root/clients/demo_clinic_alpha/prior_auth"
mkdir -p "$flow"
ln -s "$SOVA_ROOT/schemas" "$root/schemas"
cp clients/demo_clinic_alpha/prior_auth/flow_definition.lua clients/demo_clinic_alpha/insurer_menus.yaml "$flow/"
mv "$flow/insurer_menus.yaml" "$root/clients/demo_clinic_alpha/"
# nova-2: no keyterms, so a node change keeps the call's one Deepgram stream (and the stand-in's
# place in the script)
cat >"$flow/services.yaml" <<YAML
# bench/phone_calls.sh: Deepgram and Cartesia (the stand-ins), the offline rules engine (the key's
# variable is never set), Twilio (the phone simulator)
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
telephony:
  provider: twilio
  to_field: insurance_phone
  ring_seconds: 30
  max_call_seconds: 7200
  voicemail: false
  account_sid_env: TWILIO_ACCOUNT_SID
  auth_token_env: TWILIO_AUTH_TOKEN
  from_number_env: ALPHA_TWILIO_FROM_NUMBER
YAML

export TWILIO_ACCOUNT_SID="AC$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export TWILIO_AUTH_TOKEN="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export ALPHA_TWILIO_FROM_NUMBER="+15165550100"
export SOVA_BOT_SECRET="bench-bot-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
lua_cmd=(env "LUA_PATH=$SOVA_ROOT/lua/?.lua;$SOVA_ROOT/lua/?/init.lua;;" "LUA_CPATH=$SOVA_ROOT/build/lua/?.so;;" luajit)
export BENCH_WORK="$work" BENCH_WORKLOAD="$workload"
mkdir -p bench/results
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: $workload, rate ${BENCH_START_RATE:-20}/s, settle ${BENCH_SETTLE_SECONDS:-default} s, window ${BENCH_WINDOW_SECONDS:-60} s, hold message every ${hold_message} s, bot nice $bot_nice, harness nice $harness_nice, pinned: $pin"

for n in "${sizes[@]}"; do
  for r in $(seq "$runs"); do
    tag="$workload-$n"
    [ "$runs" -gt 1 ] && tag="$tag-$r"
    echo "== $workload N=$n run $r (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
    # a fresh simulator (its events file is this run's), database and bot
    events="$work/events-$tag.jsonl"
    "${on_rest[@]}" build/sova-phone-sim --port 0 --scenarios "$work/scenarios.json" --events "$events" \
      >"$work/sim-$tag.out" 2>"$work/sim-$tag.err" &
    sim=$!
    pids+=("$sim")
    for _ in $(seq 300); do grep -q 'ready port=' "$work/sim-$tag.out" 2>/dev/null && break; sleep 0.1; done
    sim_port=$(grep -o 'ready port=[0-9]*' "$work/sim-$tag.out" | cut -d= -f2)
    [ -n "$sim_port" ] || { echo "sova-phone-sim did not start"; cat "$work/sim-$tag.err"; exit 1; }
    export TWILIO_API_BASE="http://127.0.0.1:$sim_port"
    export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_phone_bench_${tag//-/_}" SOVA_DATA_DIR="$work/data-$tag"
    build/sova script scripts/setup_multi_tenant.lua >/dev/null
    export SOVA_BOT_PORT=$(free_port)
    SOVA_ROOT="$root" "${on_bot[@]}" build/sova bot 2>"$work/bot-$tag.log" &
    bot=$!
    pids+=("$bot")
    wait_port "$SOVA_BOT_PORT" 20 || { echo "the bot did not start"; cp "$work/bot-$tag.log" "bench/results/phone-calls-bot-$tag.log"; exit 1; }
    result="bench/results/phone-calls-$tag.json"
    BENCH_N=$n BENCH_BOT_URL="http://127.0.0.1:$SOVA_BOT_PORT" BENCH_BOT_PID=$bot BENCH_SIM_PID=$sim \
      BENCH_EVENTS="$events" BENCH_RESULT="$result" \
      BENCH_OTHER_PIDS="deepgram=$deepgram_pid cartesia=$cartesia_pid ferretdb=$FERRETDB_PID" \
      "${lua_cmd[@]}" bench/phone_calls_driver.lua || echo "driver failed for $tag"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "${BENCH_PERF:-}" ] && [ -f "$work/perf.data" ]; then
      { echo "-- by thread and library"
        perf report -i "$work/perf.data" --no-children -g none --sort comm,dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
        echo "-- by function, self"
        perf report -i "$work/perf.data" --no-children -g none --sort comm,dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
        echo "-- by function, with what it calls (children)"
        perf report -i "$work/perf.data" --children -g none --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80
      } >"bench/results/phone-calls-perf-$tag.txt" || true
      mv "$work/perf.data" "bench/results/phone-calls-perf-$tag.data"
    fi
    kill "$bot"
    wait "$bot" 2>/dev/null || true
    kill "$sim"
    wait "$sim" 2>/dev/null || true
    cp "$work/bot-$tag.log" "bench/results/phone-calls-bot-$tag.log"
    if [ -f "$result" ]; then
      BENCH_RESULT="$result" BENCH_SPOOL="$SOVA_DATA_DIR/spool/writes.spool" \
        "${lua_cmd[@]}" bench/calls_driver.lua tally
    fi
    echo "bot log: $(grep -c '"level":"error"' "$work/bot-$tag.log" || true) errors; ended: $(grep '"call.ended"' "$work/bot-$tag.log" | grep -o '"status":"[a-z_]*"' | sort | uniq -c | tr -s ' \n' ' ')"
  done
done
