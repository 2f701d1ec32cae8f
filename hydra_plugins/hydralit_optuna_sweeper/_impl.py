"""The sweep loop: ask a batch of trials, launch it, tell the outcomes, repeat until done.

Trials are counted in the storage, not in this process, so a rerun of the same command resumes
the study and several sweeper processes can share one study (PostgreSQL, say). A trial is
"counted" unless it was excluded (left RUNNING by a killed sweeper and retried, or surplus
when concurrent sweepers over-asked); the study is done when ``n_trials`` counted trials finished.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.hydralit_optuna_sweeper import _objective as objective
from hydra_plugins.hydralit_optuna_sweeper import _results as results
from hydra_plugins.hydralit_optuna_sweeper import _space as space
from hydra_plugins.hydralit_optuna_sweeper._outcome import Outcome, outcome_of
from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError
from src.sweep.storage import open_storage

log = logging.getLogger(__name__)

EXCLUDED = "hydralit:excluded"  # user attr: why this trial does not count towards n_trials
HEARTBEAT = "hydralit:heartbeat"  # system attr: last time its sweeper was seen alive
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class OptunaSweep:
    """One sweeper process's view of a study; built by ``OptunaSweeper.setup``."""

    def __init__(
        self,
        settings: dict[str, Any],
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from hydra.core.plugins import Plugins

        self.s = OmegaConf.create(settings)
        self.config = config
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.objectives = objective.objectives(self.s.objectives, config)
        self.directions = objective.directions(self.s.direction, self.objectives, config)
        self.study_name = self.s.study_name or "hydralit"
        self.n_trials = int(self.s.n_trials)
        self.running: set[int] = set()  # trial ids this process has in flight
        self.ids: dict[int, int] = {}  # trial number -> storage trial id

    # --- setup, all checks before any trial runs ------------------------------------------
    def _storage_url(self) -> str:
        url = self.s.storage
        if url is None:
            return f"sqlite:///{self.sweep_dir / 'optuna.db'}"
        return str(url)

    def _check_settings(self) -> None:
        for key in ("n_trials", "n_jobs"):
            if int(self.s[key]) < 1:
                raise SweepConfigError(key, self.s[key], "must be >= 1", f"set {key} to 1 or more")
        if not 0 <= float(self.s.max_failure_rate) <= 1:
            raise SweepConfigError(
                "max_failure_rate",
                self.s.max_failure_rate,
                "must lie in [0, 1]",
                "e.g. max_failure_rate=0.25",
            )

    def _build(self, node: Any, key: str, **kwargs: Any) -> Any:
        try:
            return instantiate(node, **kwargs)
        except Exception as e:
            raise SweepConfigError(
                key,
                node.get("_target_"),
                f"could not be built: {e}",
                f"check the keys under hydra.sweeper.{key}",
            ) from e

    def _sampler_and_pruner(self, search: space.SearchSpace) -> tuple[Any, Any]:
        grid = {"search_space": search.grid()} if "GridSampler" in self.s.sampler._target_ else {}
        if grid:
            size = math.prod(len(v) for v in grid["search_space"].values())
            if size < self.n_trials:
                log.warning(
                    "the grid has %d points: n_trials=%d lowered to %d", size, self.n_trials, size
                )
                self.n_trials = size
        return self._build(self.s.sampler, "sampler", **grid), self._build(
            self.pruner_cfg, "pruner"
        )

    def _open_study(self, sampler: Any, pruner: Any) -> optuna.Study:
        if self.storage_url.startswith("sqlite:///"):
            Path(self.storage_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            self.storage = open_storage(self.storage_url)
            return optuna.create_study(
                study_name=self.study_name,
                storage=self.storage,
                sampler=sampler,
                pruner=pruner,
                directions=self.directions,  # type: ignore[arg-type]
                load_if_exists=True,
            )
        except ValueError as e:  # an existing study with other directions
            raise SweepConfigError(
                "study_name",
                self.study_name,
                str(e),
                "use a new study_name or the study's directions",
            ) from e
        except Exception as e:
            fix = (
                "install its database driver and name it in the URL, e.g. postgresql+psycopg2://..."
                if isinstance(e, ImportError)
                else "check that the database is up and the URL right"
            )
            raise SweepConfigError(
                "storage",
                self.storage_url,
                f"cannot open the study storage ({type(e).__name__}: {str(e).splitlines()[0]})",
                fix,
            ) from e

    # --- the loop ---------------------------------------------------------------------------
    def sweep(
        self, arguments: list[str], validate: Callable[[Sequence[Sequence[str]]], None]
    ) -> list[FrozenTrial]:
        # ${hydra:...} in the sweep dir (e.g. via ${name}) resolves against the set config
        HydraConfig.instance().set_config(self.config)
        self.sweep_dir = Path(self.config.hydra.sweep.dir).absolute()
        # resolved against the whole config: max_resource: ${trainer.max_epochs}, say
        self.pruner_cfg = OmegaConf.to_container(self.config.hydra.sweeper.pruner, resolve=True)
        self.storage_url = self._storage_url()
        self._check_settings()
        search = space.parse(OmegaConf.to_container(self.s.params) or {}, arguments)  # type: ignore[arg-type]
        validate([search.fixed + search.overrides(_sample_point(search))])
        sampler, pruner = self._sampler_and_pruner(search)
        if self.s.dry_run:
            log.info("dry run: search space %s, fixed %s", search.distributions, search.fixed)
            return []
        study = self._open_study(sampler, pruner)
        self.study_id = self.storage.get_study_id_from_name(self.study_name)
        log.info(
            "Optuna study '%s' in %s: %d trial(s) wanted, %d per batch",
            self.study_name,
            self.storage_url,
            self.n_trials,
            self.s.n_jobs,
        )
        self._stop = False
        threading.Thread(target=self._heartbeat, daemon=True).start()
        try:
            self._loop(study, search)
        finally:
            self._stop = True
            trials = self.counted()
            results.write(study, trials, self.sweep_dir, self._summary_settings(), arguments)
        return trials

    def _summary_settings(self) -> results.StudySettings:
        return results.StudySettings(
            study_name=self.study_name,
            storage=self.storage_url,
            directions=self.directions,
            objectives=self.objectives,
            n_trials=self.n_trials,
            plots=bool(self.s.plots),
        )

    def _loop(self, study: optuna.Study, search: space.SearchSpace) -> None:
        while True:
            self._fail_stale(study)
            self._check_failures()
            batch = self._ask_batch(study, search)
            if not batch:
                return
            overrides = [self._job_overrides(t, search) for t in batch]
            try:
                returns = self.launcher.launch(overrides, initial_job_idx=batch[0].number)
            except Exception as e:  # the launcher itself failed: no job result to tell
                for trial in batch:
                    trial.set_user_attr("fail_reason", f"launcher: {type(e).__name__}: {e}")
                    study.tell(trial, state=TrialState.FAIL)
                raise
            for trial, ret in zip(batch, returns, strict=True):
                self._tell(study, trial, ret)

    def _trials(self, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False, states=states)

    def counted(self) -> list[FrozenTrial]:
        """Trials that count towards n_trials, in number order."""
        return [t for t in self._trials() if EXCLUDED not in t.user_attrs]

    def _ask_batch(self, study: optuna.Study, search: space.SearchSpace) -> list[optuna.Trial]:
        batch: list[optuna.Trial] = []
        counted = self.counted()
        waiting = any(t.state == TrialState.WAITING for t in counted)
        room = self.n_trials - len(counted)
        for _ in range(int(self.s.n_jobs)):
            if room <= 0 and not waiting:
                break
            trial = study.ask(fixed_distributions=dict(search.distributions))
            self._mark_alive(self._id(trial.number))
            if not self._in_quota(trial.number):
                # a concurrent sweeper took the last slot between our count and our ask
                self.storage.set_trial_user_attr(self._id(trial.number), EXCLUDED, "surplus")
                study.tell(trial, state=TrialState.FAIL)
                self.running.discard(self._id(trial.number))
                break
            batch.append(trial)
            room -= 1
            waiting = any(t.state == TrialState.WAITING for t in self._trials())
        return batch

    def _id(self, number: int) -> int:
        if number not in self.ids:
            self.ids[number] = self.storage.get_trial_id_from_study_id_trial_number(
                self.study_id, number
            )
        return self.ids[number]

    def _in_quota(self, number: int) -> bool:
        before = [t for t in self.counted() if t.number < number]
        return len(before) < self.n_trials

    def _job_overrides(self, trial: optuna.Trial, search: space.SearchSpace) -> list[str]:
        extra: dict[str, Any] = {}
        if self.s.custom_search_space:
            extra = get_method(self.s.custom_search_space)(self.config, trial) or {}
        sampled = {k: v for k, v in trial.params.items() if k in search.distributions}
        params = search.overrides(sampled) + [f"{k}={v}" for k, v in extra.items()]
        trial.set_user_attr("overrides", search.fixed + params)
        prune = len(self.directions) == 1 and "NopPruner" not in self.s.pruner._target_
        node = {
            "study_name": self.study_name,
            "storage": self.storage_url,
            "trial": trial.number,
            "monitor": self.objectives[0],
            "prune": prune,
            # the job builds the same pruner: Optuna storages keep no pruner
            "pruner": self.pruner_cfg if prune else None,
        }
        return [
            *search.fixed,
            *params,
            f"++optuna={hydra_value(node)}",
            f"hydra.sweep.subdir=trial_{trial.number}",
        ]

    def _tell(self, study: optuna.Study, trial: optuna.Trial, ret: JobReturn) -> None:
        result: Outcome = outcome_of(ret, self.s.objectives, len(self.directions))
        try:
            if result.reason:
                key = "prune_reason" if result.state == TrialState.PRUNED else "fail_reason"
                trial.set_user_attr(key, result.reason)
            if result.state == TrialState.PRUNED:
                # intermediate values were reported by the job; tell() takes the last as value
                study.tell(trial, state=TrialState.PRUNED)
            elif result.state == TrialState.FAIL:
                study.tell(trial, state=TrialState.FAIL)
                log.warning("trial %d failed: %s", trial.number, result.reason)
            else:
                study.tell(trial, values=result.values)
        finally:
            self.running.discard(self._id(trial.number))

    # --- liveness and failures ----------------------------------------------------------
    def _mark_alive(self, trial_id: int) -> None:
        self.running.add(trial_id)
        self.storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())

    def _heartbeat(self) -> None:
        # a separate thread so that a long synchronous batch keeps its trials alive
        beat = int(self.s.heartbeat_interval)
        while not getattr(self, "_stop", False):
            time.sleep(beat)
            for trial_id in list(self.running):
                try:
                    self.storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.running.discard(trial_id)  # told between listing and marking

    def _fail_stale(self, study: optuna.Study) -> None:
        """Fail RUNNING trials whose sweeper stopped beating; re-queue their params."""
        now, grace = time.time(), float(self.s.grace_period)
        for t in self._trials(states=(TrialState.RUNNING,)):
            last = t.system_attrs.get(HEARTBEAT)
            if self._id(t.number) in self.running or last is None or now - float(last) < grace:
                continue
            reason = f"stale: no heartbeat for {now - float(last):.0f} s (its sweeper was killed?)"
            try:
                self.storage.set_trial_user_attr(self._id(t.number), "fail_reason", reason)
                if self.s.retry_stale:
                    self.storage.set_trial_user_attr(self._id(t.number), EXCLUDED, "stale, retried")
                self.storage.set_trial_state_values(self._id(t.number), TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another sweeper got there first
            log.warning("trial %d: %s", t.number, reason)
            if self.s.retry_stale:
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})

    def _check_failures(self) -> None:
        failed = [t for t in self.counted() if t.state == TrialState.FAIL]
        limit = float(self.s.max_failure_rate) * self.n_trials
        if len(failed) > limit:
            reasons = "; ".join(
                f"#{t.number}: {t.user_attrs.get('fail_reason')}" for t in failed[-3:]
            )
            raise RuntimeError(
                f"Optuna sweep stopped: {len(failed)} failed trials exceed max_failure_rate="
                f"{self.s.max_failure_rate} x n_trials={self.n_trials}. Last: {reasons}"
            )


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar: ``{a:1,b:'text',c:[1,2],d:null}``."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "\\'") + "'"


def _sample_point(search: space.SearchSpace) -> dict[str, Any]:
    """One value per parameter (its lowest), to check that every key exists in the config."""
    point: dict[str, Any] = {}
    for key, dist in search.distributions.items():
        point[key] = dist.choices[0] if hasattr(dist, "choices") else dist.low  # type: ignore[attr-defined]
    return point
