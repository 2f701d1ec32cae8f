#!/usr/bin/env bash
# stop-slurm.sh - stop the daemons that start-slurm.sh started, and nothing else.
# Each daemon is identified by the record start-slurm.sh wrote in $STATE_DIR
# (pid + process start time + process name must all match; a reused pid is left alone).
# Sends SIGTERM, waits up to $SLURM_LOCAL_STOP_WAIT (default 20) s, then SIGKILL to that pid only.
# Note: job steps (slurmstepd) still running keep running after slurmd stops.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${SLURM_LOCAL_STATE_DIR:-/tmp/hydralit-slurm}"
STOP_WAIT="${SLURM_LOCAL_STOP_WAIT:-20}"

log() { printf '[stop-slurm] %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "[stop-slurm] ERROR: must run as root" >&2; exit 1; }

start_time_of() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
is_same_proc() {  # NAME PID STARTTIME: same live (non-zombie) process that start-slurm.sh recorded
  [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ] && [ "$(start_time_of "$2")" = "$3" ] \
    && ! grep -q '^State:[[:space:]]*Z' "/proc/$2/status" 2>/dev/null
}

if command -v squeue >/dev/null && [ -r "$STATE_DIR/slurmctld.pid" ]; then
  n="$(timeout 5 squeue -h -t RUNNING,COMPLETING 2>/dev/null | wc -l || true)"
  if [ "${n:-0}" -gt 0 ] 2>/dev/null; then
    log "warning: $n job(s) still running; their job steps keep running after slurmd stops"
  fi
fi

rc=0
stop_one() {  # NAME DAEMON_PIDFILE
  local name=$1 dpf=$2 rec="$STATE_DIR/$1.pid" pid st i
  if [ ! -f "$rec" ]; then
    for pid in $(pgrep -x "$name" 2>/dev/null || true); do
      if ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
        log "$name: pid $pid running but not started by start-slurm.sh - leaving it alone"
      fi
    done
    return 0
  fi
  read -r pid st < "$rec" || true
  if [ -z "${pid:-}" ] || ! is_same_proc "$name" "$pid" "${st:-}"; then
    log "$name: recorded pid ${pid:-?} is no longer running - removing stale record"
    rm -f "$rec"; return 0
  fi
  log "$name: SIGTERM to pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_WAIT * 5; i++)); do
    is_same_proc "$name" "$pid" "$st" || break
    sleep 0.2
  done
  if is_same_proc "$name" "$pid" "$st"; then
    log "$name: still alive after ${STOP_WAIT}s - SIGKILL to pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    if is_same_proc "$name" "$pid" "$st"; then log "$name: could not stop pid $pid"; rc=1; return 0; fi
  fi
  rm -f "$rec"
  # slurmctld cannot delete its own pid file (written as root, daemon then runs as user slurm);
  # a stale /run/slurmctld.pid makes Debian's slurmctld prerm fail on apt-get remove.
  if [ -f "$dpf" ] && [ "$(tr -dc '0-9' < "$dpf")" = "$pid" ]; then rm -f "$dpf"; fi
  log "$name: stopped"
}

# reverse start order
stop_one slurmd    /run/slurmd.pid
stop_one slurmctld /run/slurmctld.pid
stop_one slurmdbd  /run/slurmdbd.pid        # only with --accounting
stop_one mariadbd  /run/mysqld/mysqld.pid   # only with --accounting
stop_one munged    /run/munge/munged.pid
exit "$rc"
