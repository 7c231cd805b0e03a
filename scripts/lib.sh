# Shared by scripts/run and scripts/test: install, build, and the local database.
# shellcheck shell=bash

SOVA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

sova_install() {
  "$SOVA_ROOT/scripts/install-deps"
}

# sova_build DIR [cmake args...]: configure once, then incremental builds.
sova_build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$SOVA_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}

# Builds the web UI into frontend/dist when its sources are newer than the build.
sova_build_frontend() {
  local fe="$SOVA_ROOT/frontend"
  [ -f "$fe/package.json" ] || return 0
  if [ ! -f "$fe/dist/index.html" ] || [ -n "$(find "$fe/src" "$fe/index.html" "$fe/package-lock.json" "$fe/vite.config.ts" -newer "$fe/dist/index.html" -print -quit 2>/dev/null)" ]; then
    (cd "$fe" && npm run build --silent >/dev/null) || { echo "frontend build failed (cd frontend && npm run build)" >&2; return 1; }
    sova_gzip_dir "$fe/dist"
  fi
}

# sova_gzip_dir DIR: FILE.gz beside each text file, which sova api sends to clients that accept
# gzip (civetweb compresses nothing on the fly in Debian's build).
sova_gzip_dir() {
  find "$1" -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.svg' -o -name '*.json' \
    -o -name '*.map' -o -name '*.txt' \) -exec gzip -k -f -9 -n {} +
}

# A TCP port on loopback that is free now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT SECONDS: until something listens there.
wait_port() {
  local port=$1 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# start_database DATADIR PORT LOG: the embedded database (scripts/embedded-db): its PostgreSQL
# cluster in DATADIR/pg on a Unix socket only, and FerretDB over it on 127.0.0.1:PORT. A data
# directory of the old SQLite backend is migrated first (scripts/migrate-sqlite). Sets
# POSTGRES_PID, FERRETDB_PID and DATABASE_PIDS (both).
start_database() {
  local edb="$SOVA_ROOT/scripts/embedded-db"
  mkdir -p "$1"
  if [ "$(id -u)" -eq 0 ]; then chmod 711 "$1"; fi # the cluster's owner (postgres) passes through
  if compgen -G "$1/*.sqlite" >/dev/null && [ ! -f "$1/pg/PG_VERSION" ]; then
    "$SOVA_ROOT/scripts/migrate-sqlite" "$1" "$3" || return 1
  fi
  "$edb" init "$1" || return 1
  "$edb" postgres "$1" >>"$3" 2>&1 &
  POSTGRES_PID=$!
  "$edb" wait "$1" 30 || { echo "PostgreSQL did not start; see $3" >&2; return 1; }
  "$edb" ferretdb "$1" "$2" >>"$3" 2>&1 &
  FERRETDB_PID=$!
  DATABASE_PIDS=("$FERRETDB_PID" "$POSTGRES_PID")
  wait_port "$2" 20 || { echo "FerretDB did not start; see $3" >&2; return 1; }
}
