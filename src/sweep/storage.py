"""Open an Optuna storage from the URL the sweeper and its jobs share (no torch import)."""

import time
from pathlib import Path

import optuna
import sqlalchemy

JOURNAL = "journal://"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """RDB storage for SQLAlchemy URLs, a journal file for ``journal:///path/file.log``.

    SQLite waits up to 60 s for a lock, as the sweeper and its jobs write to one file.
    """
    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        lock = JournalFileOpenLock(str(path))
        return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except sqlalchemy.exc.IntegrityError:
            # sweepers starting together on an empty database race to create Optuna's tables;
            # the loser finds them there on the next try
            time.sleep(0.5 * (attempt + 1))
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
