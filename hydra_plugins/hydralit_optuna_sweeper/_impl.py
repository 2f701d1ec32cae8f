"""The sweep loop: ask a batch of trials, launch it, tell the outcomes, repeat until done.

Trials are counted in the storage, not in this process, so a rerun of the same command resumes
the study and several sweeper processes can share one study (PostgreSQL, say). A trial is
"counted" unless it was excluded (left RUNNING by a killed sweeper and retried, surplus when
concurrent sweepers over-asked, or a repeat of a counted trial's parameters); the study is done
when ``n_trials`` counted trials finished and none is left RUNNING.
"""

import logging
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

from hydra_plugins.hydralit_optuna_sweeper import _liveness as liveness
from hydra_plugins.hydralit_optuna_sweeper import _objective as objective
from hydra_plugins.hydralit_optuna_sweeper import _results as results
from hydra_plugins.hydralit_optuna_sweeper import _space as space
from hydra_plugins.hydralit_optuna_sweeper._outcome import Outcome, outcome_of
from hydra_plugins.hydralit_optuna_sweeper._samplers import trial_seed
from hydra_plugins.hydralit_optuna_sweeper._study import open_study, storage_url
from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError

log = logging.getLogger(__name__)

EXCLUDED = "hydralit:excluded"  # user attr: why this trial does not count towards n_trials
# new asks after one that repeats a counted trial's parameters, before accepting a repeat
MAX_REDRAWS = 10
WAIT_S = 1.0  # between looks at other sweepers' trials once none is left to ask


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
        self.grid = "GridSampler" in self.s.sampler._target_
        self.ids: dict[int, int] = {}  # trial number -> storage trial id

    # --- setup, all checks before any trial runs ------------------------------------------
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

    def _sampler(self, search: space.SearchSpace, n_in_study: int = 0) -> Any:
        kwargs: dict[str, Any] = {"search_space": search.grid()} if self.grid else {}
        seed = self.s.sampler.get("seed")
        if seed is not None:
            kwargs["seed"] = trial_seed(self.s.sampler._target_, seed, n_in_study)
        return self._build(self.s.sampler, "sampler", **kwargs)

    def _cap_to_grid(self, search: space.SearchSpace) -> None:
        size = search.size()
        if self.grid and size is not None and size < self.n_trials:
            log.warning(
                "the grid has %d points: n_trials=%d lowered to %d", size, self.n_trials, size
            )
            self.n_trials = size

    def _prepare(
        self, arguments: list[str], validate: Callable[[Sequence[Sequence[str]]], None]
    ) -> tuple[space.SearchSpace, Any, Any]:
        """Every check that needs no storage: the search space, sampler and pruner."""
        # ${hydra:...} in the sweep dir (e.g. via ${name}) resolves against the set config
        HydraConfig.instance().set_config(self.config)
        self.sweep_dir = Path(self.config.hydra.sweep.dir).absolute()
        # resolved against the whole config: max_resource: ${trainer.max_epochs}, say
        self.pruner_cfg = OmegaConf.to_container(self.config.hydra.sweeper.pruner, resolve=True)
        self.storage_url = storage_url(self.s.storage, self.sweep_dir)
        self._check_settings()
        search = space.parse(OmegaConf.to_container(self.s.params) or {}, arguments)  # type: ignore[arg-type]
        validate([search.fixed + search.overrides(search.first_point())])
        sampler, pruner = self._sampler(search), self._build(self.pruner_cfg, "pruner")
        self._cap_to_grid(search)
        return search, sampler, pruner

    # --- the loop ---------------------------------------------------------------------------
    def sweep(
        self, arguments: list[str], validate: Callable[[Sequence[Sequence[str]]], None]
    ) -> list[FrozenTrial]:
        search, sampler, pruner = self._prepare(arguments, validate)
        if self.s.dry_run:
            log.info("dry run: search space %s, fixed %s", search.distributions, search.fixed)
            return []
        study, self.storage = open_study(
            self.storage_url, self.study_name, sampler, pruner, self.directions
        )
        self.study_id = self.storage.get_study_id_from_name(self.study_name)
        log.info(
            "Optuna study '%s' in %s: %d trial(s) wanted, %d already in it, %d per batch",
            self.study_name,
            self.storage_url,
            self.n_trials,
            len(self._trials()),
            self.s.n_jobs,
        )
        self.heartbeat = liveness.Heartbeat(self.storage, float(self.s.heartbeat_interval))
        self.heartbeat.start()
        try:
            self._loop(study, search)
        finally:
            self.heartbeat.stop()
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
            self._fail_orphans(study)
            self._check_failures()
            batch = self._ask_batch(study, search)
            if not batch:
                if self._wait_for_others():
                    continue
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
            trial = self._ask(study, search)
            if trial is None:
                break
            batch.append(trial)
            room -= 1
            waiting = any(t.state == TrialState.WAITING for t in self._trials())
        return batch

    def _ask(self, study: optuna.Study, search: space.SearchSpace) -> optuna.Trial | None:
        """A new trial, or None when a concurrent sweeper took the last slot.

        A trial that repeats a counted trial's parameters would spend a whole run on a known
        result: it is excluded and asked again, up to MAX_REDRAWS times. A grid (its sampler
        walks the points itself) and a finite space whose points were all used may repeat.
        """
        trial = self._ask_in_quota(study, search)
        for _ in range(MAX_REDRAWS):
            if trial is None or self.grid:
                return trial
            earlier = [t for t in self.counted() if t.number < trial.number]
            twin = search.repeat_of(trial.params, earlier)
            if twin is None:
                return trial
            self._exclude(study, trial, f"repeats trial {twin}'s parameters, asked again")
            trial = self._ask_in_quota(study, search)
        return trial

    def _ask_in_quota(self, study: optuna.Study, search: space.SearchSpace) -> optuna.Trial | None:
        self._reseed(study, search)
        trial = study.ask(fixed_distributions=dict(search.distributions))
        self.heartbeat.mark(self._id(trial.number))
        if self._in_quota(trial.number):
            return trial
        # a concurrent sweeper took the last slot between our count and our ask
        self._exclude(study, trial, "surplus")
        return None

    def _reseed(self, study: optuna.Study, search: space.SearchSpace) -> None:
        """A seeded sampler asks each trial with its own seed (``_samplers.trial_seed``)."""
        seed = self.s.sampler.get("seed")
        n = len(self._trials())
        if trial_seed(self.s.sampler._target_, seed, n) != seed:
            study.sampler = self._sampler(search, n)

    def _exclude(self, study: optuna.Study, trial: optuna.Trial, why: str) -> None:
        self.storage.set_trial_user_attr(self._id(trial.number), EXCLUDED, why)
        study.tell(trial, state=TrialState.FAIL)
        self.heartbeat.release(self._id(trial.number))

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
            f"++optuna={space.hydra_value(node)}",
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
            self.heartbeat.release(self._id(trial.number))

    # --- orphans and failures -----------------------------------------------------------
    def _fail_orphans(self, study: optuna.Study) -> None:
        """Fail RUNNING trials whose sweeper is gone (see ``_liveness``); re-queue their params."""
        grace = float(self.s.grace_period)
        for t in self._trials(states=(TrialState.RUNNING,)):
            trial_id = self._id(t.number)
            if trial_id in self.heartbeat.running:
                continue  # ours, alive
            reason = liveness.orphan_reason(t, grace)
            if reason is None:
                continue
            try:
                self.storage.set_trial_user_attr(trial_id, "fail_reason", reason)
                if self.s.retry_stale:
                    self.storage.set_trial_user_attr(trial_id, EXCLUDED, "orphaned, retried")
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another sweeper got there first
            log.warning("trial %d: %s", t.number, reason)
            if self.s.retry_stale:
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})

    def _wait_for_others(self) -> bool:
        """Sleep a little if other sweepers still run counted trials; False once none does.

        Until then the study is not done: such a trial may fail (and be retried here), or be
        left RUNNING by a sweeper that dies.
        """
        others = [t.number for t in self.counted() if t.state == TrialState.RUNNING]
        if others:
            log.debug("waiting for trial(s) %s of other sweepers", others)
            time.sleep(WAIT_S)
        return bool(others)

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
