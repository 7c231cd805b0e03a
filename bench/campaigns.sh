#!/usr/bin/env bash
# Benchmark: the campaign scheduler's dispatch. Three simulated campaigns at once (the demo
# clinics' three workflows, so three caller IDs), BENCH_N patients each, through the real `sova
# api`, `sova campaigns`, `sova bot` and the phone simulator, on the embedded database; every
# callee's line fails at once, so what is measured is the platform's cost per attempt (the
# session, the audit record, the signed start, the bot's REST create and callbacks, the target's
# writes, the lease renewals), not a conversation. Figures in docs/benchmarks.md ("Campaigns").
# A benchmark, not a test.
#   bench/campaigns.sh            BENCH_N (200), BENCH_CONCURRENCY (20), BENCH_CPS (10), BENCH_KEEP
# Result: bench/results/campaigns-N.json.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$SOVA_ROOT"
sova_install
sova_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C build sova-phone-sim >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
db_port=$(free_port)
chmod 711 "$work" # the database cluster's account passes through (scripts/embedded-db)
start_database "$work/db" "$db_port" "$work/db.log"
pids+=("${DATABASE_PIDS[@]}")
export MONGODB_URI="mongodb://127.0.0.1:$db_port/sova_campaign_bench"
export SOVA_DATA_DIR="$work/data" SOVA_DEMO_PASSWORD="bench-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
export SOVA_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export SOVA_DATA_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export SOVA_BOT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
mkdir -p "$SOVA_DATA_DIR"
build/sova script scripts/setup_multi_tenant.lua >/dev/null

sid="AC$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
token="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
echo '{"*": {"kind": "failed"}}' >"$work/scenarios.json"
build/sova-phone-sim --account-sid "$sid" --auth-token "$token" --port 0 --scenarios "$work/scenarios.json" \
  >"$work/sim.out" 2>"$work/sim.err" &
pids+=("$!")
for _ in $(seq 100); do grep -q 'ready port=' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim_port=$(grep -o 'ready port=[0-9]*' "$work/sim.out" | cut -d= -f2)
[ -n "$sim_port" ] || { echo "sova-phone-sim did not start"; cat "$work/sim.err"; exit 1; }

export SOVA_BOT_PORT=$(free_port) SOVA_OFFLINE_VOICE_CALLS=64
SOVA_PHONE_SIM_URL="http://127.0.0.1:$sim_port" SOVA_PHONE_SIM_ACCOUNT_SID="$sid" SOVA_PHONE_SIM_AUTH_TOKEN="$token" \
  build/sova bot 2>"$work/bot.log" &
bot=$!
pids+=("$bot")
wait_port "$SOVA_BOT_PORT" 20 || { echo "the bot did not start"; tail "$work/bot.log"; exit 1; }
export SOVA_BOT_URL="http://127.0.0.1:$SOVA_BOT_PORT" SOVA_HTTP_PORT=$(free_port)
build/sova api 2>"$work/api.log" &
api=$!
pids+=("$api")
wait_port "$SOVA_HTTP_PORT" 20 || { echo "the api did not start"; tail "$work/api.log"; exit 1; }
build/sova campaigns 2>"$work/campaigns.log" &
sched=$!
pids+=("$sched")

mkdir -p bench/results
n=${BENCH_N:-200}
BENCH_API_URL="http://127.0.0.1:$SOVA_HTTP_PORT" BENCH_N=$n BENCH_RESULT="bench/results/campaigns-$n.json" \
  BENCH_PIDS="campaigns=$sched bot=$bot api=$api ferretdb=$FERRETDB_PID" \
  LUA_PATH="$SOVA_ROOT/lua/?.lua;$SOVA_ROOT/lua/?/init.lua;$SOVA_ROOT/spec/?.lua;;" LUA_CPATH="$SOVA_ROOT/build/lua/?.so;;" \
  luajit bench/campaigns_driver.lua
echo "scheduler log: $(grep -c '"level":"error"' "$work/campaigns.log" || true) errors, $(grep -c 'campaign.bot_refused' "$work/campaigns.log" || true) bot refusals"
