#!/usr/bin/env bash
# postgres.sh [start|stop] - a throwaway PostgreSQL server for the sweeper's shared-storage tests.
#
# start (default): installs the Debian package `postgresql` if missing, initialises a cluster in
# $HYDRALIT_PG_DIR (default /tmp/hydralit-pg; trust auth, owned by the OS user postgres), starts
# it on 127.0.0.1:$HYDRALIT_PG_PORT (default 55432) unless it already runs, creates database
# `hydralit`, and prints its SQLAlchemy URL as the last line of output. Idempotent; run as root.
# stop: stops that server (only the one in $HYDRALIT_PG_DIR).
set -euo pipefail
DIR="${HYDRALIT_PG_DIR:-/tmp/hydralit-pg}"
PORT="${HYDRALIT_PG_PORT:-55432}"
DB=hydralit
log() { echo "[postgres.sh] $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() { runuser -u postgres -- "$@"; }

if [ "${1:-start}" = stop ]; then
  BIN="$(bindir)"; [ -n "$BIN" ] && [ -f "$DIR/PG_VERSION" ] || exit 0
  as_pg "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null 2>&1 || true
  log "stopped"; exit 0
fi
[ "$(id -u)" -eq 0 ] || { log "ERROR: run as root (installs packages, switches to user postgres)"; exit 1; }

if [ -z "$(bindir)" ]; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends postgresql >/dev/null; }
fi
BIN="$(bindir)"
[ -x "$BIN/initdb" ] || { log "ERROR: initdb not found under /usr/lib/postgresql"; exit 1; }

if [ ! -f "$DIR/PG_VERSION" ]; then
  mkdir -p "$DIR" && chown postgres:postgres "$DIR" && chmod 700 "$DIR"
  as_pg "$BIN/initdb" -D "$DIR" -A trust -U postgres >/dev/null
  log "initialised $DIR"
fi
if ! as_pg "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  # the socket lives in the data dir: no /var/run/postgresql needed
  as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  log "started on 127.0.0.1:$PORT"
fi
if ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
# psycopg2 named explicitly: SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3
echo "postgresql+psycopg2://postgres@127.0.0.1:$PORT/$DB"
