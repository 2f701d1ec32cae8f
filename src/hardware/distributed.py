"""DDP/FSDP ranks that re-run exactly the current Hydra job, in single runs and in ``-m`` sweeps.

Lightning starts ranks 1..N-1 of a node by re-running the script with ``sys.argv``
(``_SubprocessScriptLauncher``, strategies ``ddp``/``fsdp`` with the default ``popen`` start).
Under Hydra that goes wrong in three ways:

- with ``-m`` the argv is the whole sweep, so every extra rank starts a sweep of its own and
  writes to other directories; a sweeper that picks values itself (Optuna) or a launcher that
  runs jobs in worker processes (joblib) leaves nothing in argv that names the current job;
- the second job of a sequential sweep runs in the same process as the first and finds the
  environment it left (``LOCAL_RANK``, ``MASTER_PORT``, ...): Lightning then believes the
  ranks were created externally and starts none, and reuses the first job's process group,
  whose peers have exited, so the job hangs;
- every extra rank is a full Hydra run: its own ``.hydra/``, log file and callbacks.

The fix lives here and is applied by ``src.experiments.build.trainer``, once per job:

- :func:`relaunch_as_job` (after the Trainer is built) swaps a strategy's script launcher
  for a :class:`JobLauncher`, whatever the strategy was called (``ddp``, ``fsdp``, a
  ``DDPStrategy`` node). It starts the extra ranks as ``python -m src.experiments.rank`` and
  writes this job's composed config and Hydra config (pickled) to their stdin, so they run the
  same entry function on the same config: the same overrides, however they were chosen, and
  the same job directory (``hydra.runtime.output_dir``). They never enter Hydra's launcher, so
  they start no sweep and write no ``.hydra/`` or log file; what a run writes (config, metrics,
  plots, checkpoints, logger files) is written by global rank 0 only.
- :func:`end_previous_job` (before the Trainer is built) waits for the ranks of the previous
  job of this process, destroys its process group and removes the variables its launcher set.

When processes are created externally (torchrun, SLURM: Lightning's cluster environment says
so) the launcher starts nothing, and each process runs ``run.py`` itself.
"""

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.fabric.plugins import ClusterEnvironment
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies import Strategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds `src/`


@dataclass
class _Started:
    """Ranks a JobLauncher started and the environment it set for them in this process."""

    env: dict[str, str]
    procs: list[subprocess.Popen]
    #: set when rank 0's part of the job has returned or raised
    done: threading.Event = field(default_factory=threading.Event)


_STARTED: list[_Started] = []


class JobLauncher(_SubprocessScriptLauncher):
    """Starts local ranks 1..N-1 as ``python -m src.experiments.rank`` fed ``job`` on stdin.

    Args:
        cluster_environment: where rank 0 listens and which node this is.
        num_processes: processes on this node (rank 0 is the calling process).
        num_nodes: nodes in the run.
        job: the pickled job (see :func:`job_payload`).
    """

    def __init__(
        self,
        cluster_environment: ClusterEnvironment,
        num_processes: int,
        num_nodes: int,
        job: bytes,
    ) -> None:
        super().__init__(cluster_environment, num_processes, num_nodes)
        self.job = job

    def _call_children_scripts(self) -> None:
        self._check_can_spawn_children()
        env = {
            "MASTER_ADDR": self.cluster_environment.main_address,
            "MASTER_PORT": str(self.cluster_environment.main_port),
            "NODE_RANK": str(self.cluster_environment.node_rank()),
            "LOCAL_RANK": str(self.cluster_environment.local_rank()),
            "WORLD_SIZE": str(self.num_processes * self.num_nodes),
        }
        os.environ.update(env)  # rank 0 reads them too, as in Lightning's launcher
        self.procs = [self._start(rank) for rank in range(1, self.num_processes)]
        _STARTED.append(_Started(env, self.procs))

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        """Start the extra ranks, watch them, and run ``function`` as rank 0.

        Lightning's own watcher SIGKILLs this process whenever a rank exits with an error, even
        after the job has ended: that ends a whole in-process sweep (or a test session) for a
        rank that failed on a trial's bad config, or at shutdown. :class:`RankWatcher` does that
        only while rank 0 cannot finish on its own.
        """
        env = self.cluster_environment
        env.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if env.creates_processes_externally:
            return function(*args, **kwargs)
        self._call_children_scripts()
        started = _STARTED[-1]
        RankWatcher(started).start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        try:
            return function(*args, **kwargs)
        finally:
            started.done.set()

    def _start(self, local_rank: int) -> subprocess.Popen:
        path = os.pathsep.join(p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "LOCAL_RANK": str(local_rank), "PYTHONPATH": path}
        proc = subprocess.Popen(
            [sys.executable, "-m", "src.experiments.rank"], env=env, stdin=subprocess.PIPE
        )
        assert proc.stdin is not None  # stdin=PIPE
        proc.stdin.write(self.job)
        proc.stdin.close()
        return proc


class RankWatcher(threading.Thread):
    """Watches a job's extra ranks; a rank that exits with an error ends the job.

    The other ranks are killed at once (they would wait for it in a collective forever). Rank
    0, this process, is given ``grace_s`` to finish its part, which it does when it failed too
    or had no collective left; past that it is stuck in a collective and is SIGKILLed, as
    Lightning does. After rank 0 has finished, a rank's exit code is only logged.
    """

    def __init__(self, started: _Started, period_s: float = 1.0, grace_s: float = 60.0) -> None:
        super().__init__(daemon=True, name="rank-watcher")
        self.started, self.period_s, self.grace_s = started, period_s, grace_s

    def run(self) -> None:
        procs, done = self.started.procs, self.started.done
        while not done.wait(self.period_s):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if not failed:
                continue
            for proc in failed:
                log.error("rank process %d exited with code %d", proc.pid, proc.returncode)
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            if not done.wait(self.grace_s):
                log.error("rank 0 is stuck waiting for a rank that exited: ending it")
                os.kill(os.getpid(), signal.SIGKILL)
            return


def job_payload(cfg: DictConfig) -> bytes:
    """This job's config and, when Hydra runs it, Hydra's config (which names the job dir)."""
    hydra_cfg = None
    if HydraConfig.initialized():
        # as plain containers: launcher configs such as submitit's SlurmQueueConf do not pickle
        hydra_cfg = OmegaConf.to_container(HydraConfig.instance().cfg, resolve=False)
    return pickle.dumps({"cfg": cfg, "hydra": hydra_cfg})


def relaunch_as_job(strategy: Strategy, cfg: DictConfig) -> None:
    """Make ``strategy`` start its extra ranks on this job's config instead of ``sys.argv``."""
    old = strategy.launcher
    if type(old) is _SubprocessScriptLauncher:  # exact type: leave other launchers alone
        strategy._launcher = JobLauncher(
            old.cluster_environment, old.num_processes, old.num_nodes, job_payload(cfg)
        )


def gather_split(trainer: pl.Trainer, local: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of an evaluation split, in the split's order, on every rank.

    A collective. ``local`` holds this rank's rows of a split sharded as the evaluation loaders
    shard it (``TensorLoader(even_shards=False)``: rank r has rows r, r + W, r + 2W, ...), so
    the shards may differ by one row: each is padded to the longest, gathered, interleaved back
    into the split's order and trimmed.
    """
    if trainer.world_size == 1:
        return local
    device = trainer.strategy.root_device
    sizes = trainer.strategy.all_gather(torch.tensor(len(local), device=device)).flatten()
    longest = int(sizes.max())
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: len(local)] = local.to(device)
    gathered = trainer.strategy.all_gather(padded)  # (W, longest, ...)
    # row j of rank r is row j * W + r of the split; rows past the split's end are padding
    return gathered.transpose(0, 1).flatten(0, 1)[: int(sizes.sum())].cpu()


def end_previous_job(timeout_s: float = 300) -> None:
    """Wait for the ranks an earlier job of this process started, then clear what it left.

    Raises:
        subprocess.TimeoutExpired: a rank of the earlier job is still running after ``timeout_s``.
    """
    while _STARTED:
        started = _STARTED.pop()
        for proc in started.procs:
            if proc.wait(timeout_s) != 0:
                log.warning("rank process %d exited with code %d", proc.pid, proc.returncode)
        for key, value in started.env.items():
            if os.environ.get(key) == value:
                del os.environ[key]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
