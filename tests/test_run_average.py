"""compare.average_over: runs differing only in the seed become one row with mean and std."""

from pathlib import Path

import pytest

from src.utils.run_average import average_over
from src.utils.runs import Run


def run(fusion: str, seed: int, acc: float) -> Run:
    curves = [{"epoch": 0.0, "val/acc": acc / 2}, {"epoch": 1.0, "val/acc": acc}]
    return Run(
        Path(f"{fusion}{seed}"), {"fusion": fusion, "seed": str(seed)}, {"val/acc": acc}, curves
    )


def test_runs_that_differ_in_the_seed_alone_are_averaged() -> None:
    runs = [run("late", 0, 0.9), run("late", 1, 0.7), run("image", 0, 0.5)]
    late, image = average_over(runs, ["seed"])
    assert late.params == {"fusion": "late"} and late.metrics["runs"] == 2
    assert late.metrics["val/acc"] == pytest.approx(0.8)
    assert late.metrics["val/acc std"] == pytest.approx(0.1414, abs=1e-4)
    assert image.metrics["val/acc std"] == 0.0
    assert [row["val/acc"] for row in late.curves] == pytest.approx([0.4, 0.8])
    assert average_over(runs, []) is runs
