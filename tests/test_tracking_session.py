"""The tracking session closes every logger once, with the job's outcome."""

import pytest

from src import tracking
from src.tracking import JobOutcome
from tests.conftest import Compose


class TrialPruned(Exception):
    """Stands in for optuna.TrialPruned, which the session recognises by name."""


def test_closers_get_metrics_and_status(compose_cfg: Compose) -> None:
    cfg = compose_cfg()
    seen: list[JobOutcome] = []
    with tracking.session(cfg) as s:
        assert tracking.current() is s
        s.on_close(seen.append)
        s.record({"val/acc": 0.9})
    assert tracking.current() is None
    assert seen == [JobOutcome({"val/acc": 0.9}, exit_code=0, state="COMPLETE")]

    for error, state in ((RuntimeError("boom"), "FAIL"), (TrialPruned(), "PRUNED")):
        seen.clear()
        with pytest.raises(type(error)), tracking.session(cfg) as s:
            s.on_close(seen.append)
            raise error
        assert [(o.exit_code, o.state) for o in seen] == [(1, state)]


def test_a_failing_closer_does_not_skip_the_others(compose_cfg: Compose) -> None:
    closed: list[str] = []

    def broken(outcome: JobOutcome) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), tracking.session(compose_cfg()) as s:
        s.on_close(broken)
        s.on_close(lambda o: closed.append("mlflow"))
    assert closed == ["mlflow"]
