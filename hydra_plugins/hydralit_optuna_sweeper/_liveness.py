"""Whether the sweeper that left a trial RUNNING is still alive.

A sweeper killed with SIGKILL leaves its trial RUNNING. Its heartbeat shows that only after
``grace_period``; a rerun on the same machine need not wait: it sees that the owner's process
is gone. An owner is ``host/pid-namespace/pid/start-time``: the pid namespace keeps containers
with one host name apart, the start time a reused pid. Where the owner ran on another machine
(a sweeper sharing a PostgreSQL study, say) only the heartbeat can tell.
"""

import os
import socket
import threading
import time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

OWNER = "hydralit:owner"  # system attr: the sweeper process that asked the trial
HEARTBEAT = "hydralit:heartbeat"  # system attr: last time its sweeper was seen alive


def me() -> str:
    """This process as the owner of the trials it asks."""
    return f"{_machine()}/{os.getpid()}/{_start_time(os.getpid())}"


def _machine() -> str:
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # no /proc (macOS): the host name alone
        namespace = "-"
    return f"{socket.gethostname()}/{namespace}"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks after boot); None when it no longer runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: alive or not, without a start time
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (command name)"
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` ran on this machine and has ended; False if alive or unknown."""
    machine, pid, start = owner.rsplit("/", 2)
    if machine != _machine():
        return False
    return _start_time(int(pid)) != start


def orphan_reason(trial: FrozenTrial, grace_period: float) -> str | None:
    """Why the RUNNING ``trial`` has no live sweeper, or None while it may still have one."""
    owner = trial.system_attrs.get(OWNER)
    if owner and owner_is_dead(owner):
        host, _, pid, _ = owner.rsplit("/", 3)
        return f"orphaned: its sweeper (pid {pid} on {host}) is gone (killed?)"
    # no heartbeat yet: the sweeper died between asking the trial and marking it
    start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
    idle = time.time() - float(trial.system_attrs.get(HEARTBEAT, start))
    if idle < grace_period:
        return None
    return f"stale: no heartbeat for {idle:.0f} s (its sweeper was killed?)"


class Heartbeat:
    """Owns the trials this process asks and marks them alive every ``interval`` seconds."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float) -> None:
        self.storage, self.interval = storage, interval
        self.owner = me()
        self.running: set[int] = set()  # storage ids of the trials in flight here
        self._stop = threading.Event()

    def start(self) -> None:
        # a thread, so that a long synchronous batch keeps its trials alive
        threading.Thread(target=self._beat, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def mark(self, trial_id: int) -> None:
        """Own the just-asked trial ``trial_id`` and keep it alive until :meth:`release`."""
        self.running.add(trial_id)
        self.storage.set_trial_system_attr(trial_id, OWNER, self.owner)
        self.storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())

    def release(self, trial_id: int) -> None:
        self.running.discard(trial_id)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            for trial_id in list(self.running):
                try:
                    self.storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.running.discard(trial_id)  # told between listing and marking
