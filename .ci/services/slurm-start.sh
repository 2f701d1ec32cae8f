#!/usr/bin/env bash
# (Copied from the team recipe ../shared/slurm/ so that CI does not depend on it; state records
# go to /tmp/hydralit-slurm. Caveats: without --accounting submitit cannot see a job SLURM
# killed; the node has as many CPUs as the machine (2 here): cap tasks_per_node/cpus_per_task.)
# start-slurm.sh - bring up a single-node SLURM cluster (munged + slurmctld + slurmd)
# on Debian 12 (slurm 22.05) without systemd.
#
# Idempotent: safe to run any number of times. It
#   1. installs munge/slurmctld/slurmd/slurm-client via apt if missing,
#   2. writes /etc/slurm/slurm.conf for this host (one node, partition "debug"),
#   3. ensures a munge key exists,
#   4. starts the daemons that are not already running,
#   5. waits up to $SLURM_LOCAL_WAIT (default 60) s for the node to be usable.
# Daemons started by this script are recorded (pid + process start time) in
# $STATE_DIR (default: <script dir>/run); stop-slurm.sh stops only those.
#
# Options:
#   --accounting     also run mariadbd + slurmdbd so that sacct works (installs
#                    slurmdbd + mariadb-server). Remembered for later runs.
#   --no-accounting  back to the default (no slurmdbd, sacct does not work).
#   --smoke-test     run `srun -N1 -n1 hostname` at the end.
# Exit codes: 0 ok, 1 setup/start error, 2 node not ready in time.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${SLURM_LOCAL_STATE_DIR:-/tmp/hydralit-slurm}"
WAIT_SECS="${SLURM_LOCAL_WAIT:-60}"
PARTITION="debug"
CLUSTER="localcluster"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARKER="# Managed by slurm-local/start-slurm.sh"

[ "$(id -u)" -eq 0 ] || { echo "[start-slurm] ERROR: must run as root" >&2; exit 1; }
mkdir -p "$STATE_DIR"
ACCOUNTING="$(cat "$STATE_DIR/accounting" 2>/dev/null || echo 0)"
SMOKE=0
for a in "$@"; do
  case "$a" in
    --accounting) ACCOUNTING=1 ;;
    --no-accounting) ACCOUNTING=0 ;;
    --smoke-test) SMOKE=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $a (see --help)" >&2; exit 1 ;;
  esac
done
echo "$ACCOUNTING" > "$STATE_DIR/accounting"

T0=$EPOCHREALTIME
log() { printf '[start-slurm %5ss] %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')" "$*"; }
die() { printf '[start-slurm] ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }

# ---------------------------------------------------------------- packages
pkgs=(munge slurmctld slurmd slurm-client procps)
[ "$ACCOUNTING" = 1 ] && pkgs+=(slurmdbd mariadb-server)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${need[@]}"; then
    apt-get update && apt-get install -y --no-install-recommends "${need[@]}" \
      || die "apt-get install ${need[*]} failed"
  fi
fi
for b in munged munge unmunge slurmctld slurmd sinfo scontrol srun sbatch pgrep; do
  command -v "$b" >/dev/null || die "$b not found after install"
done
getent passwd slurm >/dev/null || die "user 'slurm' missing (should come with slurm packages)"
getent passwd munge >/dev/null || die "user 'munge' missing (should come with munge package)"

# ---------------------------------------------------------------- host / hardware
NODE="$(hostname -s)"
[ -n "$NODE" ] || die "hostname -s is empty"
# All traffic uses 127.0.0.1 (NodeAddr, SlurmctldHost address, munged --origin), so the
# short hostname does not need to resolve; /etc/hosts is never modified.
getent hosts "$NODE" >/dev/null || log "note: hostname '$NODE' does not resolve (ok: everything uses 127.0.0.1)"
HW_LINE="$(slurmd -C 2>/dev/null | grep '^NodeName=' || true)"
[ -n "$HW_LINE" ] || die "slurmd -C printed no NodeName line"
# e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW="$(sed -E 's/^NodeName=[^ ]+ +//' <<<"$HW_LINE")"

# ---------------------------------------------------------------- config files
if [ "$ACCOUNTING" = 1 ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux"
else
  ACCT_LINES="# no accounting (no slurmdbd): sacct does not work
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/slurm.conf" <<EOF
$MARKER - regenerated on every run, local edits are overwritten.
ClusterName=${CLUSTER}
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# no cgroups in this sandbox: /proc based process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
# kill srun/salloc allocations whose client vanished (also clears ghost jobs after a slurmctld crash)
InactiveLimit=60
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
JobCompType=jobcomp/none
${ACCT_LINES}
NodeName=${NODE} NodeAddr=127.0.0.1 ${HW} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$TMP/slurmdbd.conf" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
# MariaDB user 'slurm' authenticates via unix_socket (slurmdbd runs as OS user slurm): no password
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF

install_if_changed() {  # SRC DST MODE OWNER -> returns 0 if DST was (re)written
  local src=$1 dst=$2 mode=$3 owner=$4 bak
  if cmp -s "$src" "$dst"; then chown "$owner" "$dst"; chmod "$mode" "$dst"; return 1; fi
  if [ -f "$dst" ] && ! head -1 "$dst" | grep -qF "$MARKER"; then
    bak="$dst.bak.$(date +%Y%m%d%H%M%S)"; cp -p "$dst" "$bak"
    log "existing $dst (not written by this script) backed up to $bak"
  fi
  install -o "${owner%:*}" -g "${owner#*:}" -m "$mode" "$src" "$dst"
  log "wrote $dst"
  return 0
}
mkdir -p /etc/slurm
CONF_CHANGED=0
install_if_changed "$TMP/slurm.conf" "$CONF" 0644 root:root && CONF_CHANGED=1
DBD_CONF_CHANGED=0
if [ "$ACCOUNTING" = 1 ]; then
  install_if_changed "$TMP/slurmdbd.conf" "$DBD_CONF" 0600 slurm:slurm && DBD_CONF_CHANGED=1
fi
[ "$CONF_CHANGED" = 1 ] && log "node $NODE: $HW, accounting=$ACCOUNTING"

# ---------------------------------------------------------------- dirs + munge key
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld /var/log/slurm
install -d -o root  -g root  -m 0755 /var/spool/slurmd
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /etc/munge
[ -d /var/lib/munge ] || install -d -o munge -g munge -m 0711 /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0600 /etc/munge/munge.key
[ "$ACCOUNTING" = 1 ] && install -d -o mysql -g root -m 0755 /run/mysqld

# ---------------------------------------------------------------- helpers
start_time_of() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
# alive PID NAME: process exists, is called NAME and is not a zombie
# (PID 1 in this sandbox reaps orphans lazily: a dead daemon can linger as a zombie for seconds)
alive() {
  [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] \
    && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
live_pid_from() {  # PIDFILE NAME -> pid if that pid is a live NAME
  local pid
  [ -r "$1" ] || return 0
  pid="$(tr -dc '0-9' < "$1")"
  if alive "$pid" "$2"; then echo "$pid"; fi
}
running_pid() {  # NAME PIDFILE -> pid of a running NAME (pid file first, then exact name match)
  local name=$1 pidfile=$2 pid
  pid="$(live_pid_from "$pidfile" "$name")"
  if [ -z "$pid" ]; then
    for pid in $(pgrep -x "$name" 2>/dev/null || true) ""; do alive "$pid" "$name" && break; done
  fi
  echo "$pid"
}
record() { echo "$2 $(start_time_of "$2")" > "$STATE_DIR/$1.pid"; }
ours() {  # NAME PID: is this the process we recorded?
  local rp rs
  [ -n "$2" ] && [ -r "$STATE_DIR/$1.pid" ] || return 1
  read -r rp rs < "$STATE_DIR/$1.pid" || return 1
  [ "$rp" = "$2" ] && [ "$rs" = "$(start_time_of "$2")" ]
}
wait_for() {  # SECONDS CMD...: poll every 0.2 s
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.2; done
}
wait_ready() {  # NAME PIDFILE SECONDS CMD...: like wait_for, but fail fast if the daemon died
  local name=$1 pidfile=$2 end=$(( $(date +%s) + $3 )); shift 3
  until "$@"; do
    [ -n "$(running_pid "$name" "$pidfile")" ] || { echo "[start-slurm] $name is not running any more" >&2; return 1; }
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}
munge_ok()   { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
db_ok()      { mariadb-admin ping >/dev/null 2>&1; }
dbd_ok()     { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
ctld_ok()    { scontrol ping 2>/dev/null | grep -q 'is UP'; }
slurmd_ok()  { scontrol show slurmd >/dev/null 2>&1; }
registered() { ! scontrol show node "$NODE" 2>/dev/null | grep -q 'SlurmdStartTime=None'; }
has_pid()    { [ -n "$(live_pid_from "$1" "$2")" ]; }
tail_log()   { echo "----- last lines of $1 -----" >&2; tail -n "${2:-15}" "$1" >&2 2>/dev/null || true; }

STARTED_NOW=" "
ensure_daemon() {  # NAME PIDFILE LOGFILE RESTART_IF_OURS(0/1) START_CMD...
  local name=$1 pidfile=$2 logf=$3 restart=$4 pid i; shift 4
  pid="$(running_pid "$name" "$pidfile")"
  if [ -n "$pid" ] && [ "$restart" = 1 ]; then
    if ours "$name" "$pid"; then
      log "$name: config changed - restarting it (pid $pid)"
      kill -TERM "$pid"
      for ((i = 0; i < 100; i++)); do alive "$pid" "$name" || break; sleep 0.2; done
      alive "$pid" "$name" && die "$name (pid $pid) did not stop for restart"
      pid=""
    else
      log "WARNING: config changed but $name (pid $pid) was not started by this script - not restarting it"
    fi
  fi
  if [ -n "$pid" ]; then
    if ours "$name" "$pid"; then log "$name already running (pid $pid, started by this script)"
    else log "$name already running (pid $pid, NOT started by this script - stop-slurm.sh leaves it alone)"
    fi
    return 0
  fi
  rm -f "$STATE_DIR/$name.pid"
  log "starting $name"
  "$@" </dev/null >>"$STATE_DIR/$name.out" 2>&1 \
    || { tail_log "$STATE_DIR/$name.out"; tail_log "$logf"; die "$name failed to start"; }
  if ! wait_for 20 has_pid "$pidfile" "$name"; then
    tail_log "$STATE_DIR/$name.out"; tail_log "$logf"; die "$name did not come up (no live pid in $pidfile)"
  fi
  pid="$(live_pid_from "$pidfile" "$name")"
  [ -n "$pid" ] || { tail_log "$STATE_DIR/$name.out"; tail_log "$logf"; die "$name exited right after starting"; }
  record "$name" "$pid"
  STARTED_NOW+="$name "
  log "$name started (pid $pid)"
}

# ---------------------------------------------------------------- daemons
ensure_daemon munged /run/munge/munged.pid /var/log/munge/munged.log 0 \
  runuser -u munge -- /usr/sbin/munged --origin=127.0.0.1
wait_ready munged /run/munge/munged.pid 10 munge_ok \
  || { tail_log /var/log/munge/munged.log; die "munge credential round-trip (munge -n | unmunge) fails"; }

if [ "$ACCOUNTING" = 1 ]; then
  ensure_daemon mariadbd /run/mysqld/mysqld.pid "$STATE_DIR/mariadbd.out" 0 \
    setsid -f /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid
  wait_ready mariadbd /run/mysqld/mysqld.pid 30 db_ok \
    || { tail_log "$STATE_DIR/mariadbd.out"; die "mariadbd does not answer ping"; }
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" \
    || die "could not create the slurm database user"
  ensure_daemon slurmdbd /run/slurmdbd.pid /var/log/slurm/slurmdbd.log "$DBD_CONF_CHANGED" /usr/sbin/slurmdbd
  wait_ready slurmdbd /run/slurmdbd.pid 30 dbd_ok \
    || { tail_log /var/log/slurm/slurmdbd.log; die "slurmdbd does not answer sacctmgr"; }
  if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    log "registering cluster $CLUSTER in slurmdbd"
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
fi

ensure_daemon slurmctld /run/slurmctld.pid /var/log/slurm/slurmctld.log "$CONF_CHANGED" /usr/sbin/slurmctld
wait_ready slurmctld /run/slurmctld.pid 20 ctld_ok \
  || { tail_log /var/log/slurm/slurmctld.log; die "slurmctld does not answer 'scontrol ping' (see log above)"; }
if [ "$CONF_CHANGED" = 1 ] && [[ "$STARTED_NOW" != *" slurmctld "* ]]; then
  log "slurm.conf changed but slurmctld was not (re)started: trying scontrol reconfigure"
  scontrol reconfigure || true
fi

ensure_daemon slurmd /run/slurmd.pid /var/log/slurm/slurmd.log "$CONF_CHANGED" /usr/sbin/slurmd
wait_ready slurmd /run/slurmd.pid 20 slurmd_ok \
  || { tail_log /var/log/slurm/slurmd.log; die "local slurmd does not answer 'scontrol show slurmd' (see log above)"; }

# ---------------------------------------------------------------- wait for the node
log "waiting up to ${WAIT_SECS}s for node $NODE to become idle"
end=$(( $(date +%s) + WAIT_SECS )); resumed=0; state=""
while :; do
  state="$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -1 || true)"
  case "$state" in
    idle|mixed|allocated|completing) registered && break ;;
    drain*|down*|inval*)
      # slurmd is up (checked above): clear a DOWN/DRAIN left over from an earlier run, once
      if [ "$resumed" = 0 ]; then
        log "node is '$state' (reason: $(sinfo -h -N -n "$NODE" -o '%E' 2>/dev/null || true)) - scontrol update State=RESUME"
        scontrol update NodeName="$NODE" State=RESUME 2>&1 | sed 's/^/    /' || true
        resumed=1
      fi ;;
  esac
  if [ "$(date +%s)" -ge "$end" ]; then
    sinfo -N -l >&2 || true; sinfo -R >&2 || true
    tail_log /var/log/slurm/slurmctld.log; tail_log /var/log/slurm/slurmd.log
    die "node $NODE not ready after ${WAIT_SECS}s (state: '${state:-unknown}')" 2
  fi
  sleep 0.5
done
log "node $NODE is $state; partition '$PARTITION' ready (accounting=$ACCOUNTING)"
sinfo

if [ "$SMOKE" = 1 ]; then
  out="$(timeout 60 srun -N1 -n1 -p "$PARTITION" bash -c 'echo "$SLURM_JOB_ID $(hostname)"' 2>"$TMP/srun.err")" \
    || die "smoke test srun failed: $out $(cat "$TMP/srun.err")"
  log "smoke test: srun -N1 -n1 -> job ${out% *} ran on ${out#* }"
  if [ "$ACCOUNTING" = 1 ]; then
    sacct_has() { sacct -n -X -P -o State -j "${out% *}" 2>/dev/null | grep -q COMPLETED; }
    wait_for 20 sacct_has || die "smoke test: job ${out% *} not COMPLETED in sacct"
    log "smoke test: sacct reports job ${out% *} COMPLETED"
  fi
fi
log "done"
