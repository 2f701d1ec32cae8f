"""Opening the study in its storage, with errors that say how to fix the URL or the name."""

from pathlib import Path
from typing import Any

import optuna

from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError
from src.sweep.storage import open_storage


def storage_url(setting: str | None, sweep_dir: Path) -> str:
    """``hydra.sweeper.storage``, or else SQLite in the sweep directory."""
    return f"sqlite:///{sweep_dir / 'optuna.db'}" if setting is None else str(setting)


def open_study(
    url: str, name: str, sampler: Any, pruner: Any, directions: list[str]
) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """The study ``name`` in the storage at ``url`` (created unless it exists), and the storage."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(url)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=directions,  # type: ignore[arg-type]
            load_if_exists=True,
        )
    except ValueError as e:  # an existing study with other directions
        raise SweepConfigError(
            "study_name", name, str(e), "use a new study_name or the study's directions"
        ) from e
    except Exception as e:
        fix = (
            "install its database driver and name it in the URL, e.g. postgresql+psycopg2://..."
            if isinstance(e, ImportError)
            else "check that the database is up and the URL right"
        )
        raise SweepConfigError(
            "storage",
            url,
            f"cannot open the study storage ({type(e).__name__}: {str(e).splitlines()[0]})",
            fix,
        ) from e
    return study, storage
