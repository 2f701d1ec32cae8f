"""Read an offline W&B run back from its ``run-<id>.wandb`` file, without an account or network.

The file is W&B's transaction log: a 7-byte header (``:W&B``, magic, version), then 32 KiB
blocks of LevelDB-log records (crc32 u32, length u16, type u8, payload) whose payloads join
into ``wandb.proto.wandb_internal_pb2.Record`` messages. This is what ``wandb sync`` uploads,
so what is read here is what the W&B server will show.
"""

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.errors import UserError

_BLOCK = 32768
_HEADER = struct.Struct("<4sHB")  # ident, magic, version
_RECORD = struct.Struct("<IHB")  # crc32, payload length, chunk type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run holds, as the W&B server will show it after ``wandb sync``."""

    path: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None  # None: the run never finished (crashed or still running)

    @property
    def failed(self) -> bool:
        return self.exit_code is not None and self.exit_code != 0


def records(path: Path) -> Iterator[Any]:
    """The ``Record`` messages of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    ident, _, _ = _HEADER.unpack_from(data)
    if ident != b":W&B":
        raise UserError(f"{path}: not a W&B run file (header {ident!r})")
    pos, payload = _HEADER.size, b""
    while pos + _RECORD.size <= len(data):
        if _BLOCK - pos % _BLOCK < _RECORD.size:
            pos += _BLOCK - pos % _BLOCK  # the tail of a block too short for a header is padding
            continue
        _, length, kind = _RECORD.unpack_from(data, pos)
        chunk = data[pos + _RECORD.size : pos + _RECORD.size + length]
        pos += _RECORD.size + length
        payload = chunk if kind in (_FULL, _FIRST) else payload + chunk
        if kind in (_FULL, _LAST):
            record = pb.Record()  # type: ignore[attr-defined]
            record.ParseFromString(payload)
            yield record


def _items(updates: Any) -> Iterator[tuple[str, Any]]:
    for item in updates:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        yield key, json.loads(item.value_json)


def read_run(run_dir: Path) -> OfflineRun:
    """Parse ``<run_dir>/run-*.wandb`` (``run_dir`` = ``.../wandb/offline-run-<time>-<id>``)."""
    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise UserError(f"{run_dir}: no run-*.wandb file; pass a wandb/offline-run-* directory")
    run = OfflineRun(path=files[0])
    for record in records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group, run.job_type = (
                r.run_id,
                r.display_name,
                r.run_group,
                r.job_type,
            )
            run.tags = list(r.tags)
            run.config.update(_items(r.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "history":
            run.history.append(dict(_items(record.history.item)))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def find_runs(root: Path) -> list[Path]:
    """Every ``offline-run-*`` directory under ``root``, oldest first."""
    runs = (p for p in Path(root).rglob("offline-run-*") if p.is_dir())
    return sorted(runs, key=lambda p: p.name)
