"""optimization_results.yaml names the sweep's own SQLite file relative to the sweep directory."""

from pathlib import Path

from hydra_plugins.hydralit_optuna_sweeper._results import portable_storage


def test_the_sweep_s_own_storage_is_relative_other_urls_are_kept(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    assert portable_storage(f"sqlite:///{sweep / 'optuna.db'}", sweep) == "sqlite:///optuna.db"
    elsewhere = f"sqlite:///{tmp_path / 'shared.db'}"
    assert portable_storage(elsewhere, sweep) == elsewhere
    url = "postgresql://user@host/db"
    assert portable_storage(url, sweep) == url
