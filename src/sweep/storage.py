"""Open an Optuna storage from the URL the sweeper and its jobs share (no torch import)."""

from pathlib import Path

import optuna

JOURNAL = "journal://"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """RDB storage for SQLAlchemy URLs, a journal file for ``journal:///path/file.log``.

    SQLite waits up to 60 s for a lock, as the sweeper and its jobs write to one file.
    """
    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL))
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = optuna.storages.journal.JournalFileOpenLock(str(path))
        return optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(path), lock_obj=lock)
        )
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
