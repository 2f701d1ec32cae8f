"""Where a run came from, written into its directory so that it can be traced and rerun.

``provenance.json``: the command line; the code's git commit, branch and dirty flag (the
uncommitted diff in ``git.patch``); Python and the key libraries' versions (every installed
distribution in ``requirements-frozen.txt``); the OS, CPU, thread settings and GPUs; every seed
in the config; and, once the data are set up, a digest of each split
(:mod:`src.data.fingerprint`). Captured once per run by rank 0, after the trainer is built
(0.11-0.13 s on a shared 2-core CPU: bench/RESULTS.md), nothing per step.

Reading and comparing needs no torch (``mode=compare`` uses it).
"""

import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

FILE = "provenance.json"
FROZEN = "requirements-frozen.txt"
PATCH = "git.patch"
KEY_LIBRARIES = ("torch", "lightning", "hydra-core", "omegaconf", "torchmetrics", "optuna", "numpy")
# optional extras (pyproject.toml): recorded beside the key libraries when the run imported them
EXTRAS = {
    "wandb": "wandb",
    "tensorboard": "tensorboard",
    "mlflow-skinny": "mlflow",
    "pyarrow": "pyarrow",
    "sqlalchemy": "sqlalchemy",
}
CODE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding src/
GIT_TIMEOUT_S = 10


@dataclass
class Provenance:
    """What :func:`capture` found: the JSON record and the two files written beside it."""

    record: dict[str, Any]
    frozen: list[str]  # name==version of every installed distribution, sorted
    patch: str  # `git diff HEAD` ("" when clean or outside a git checkout)

    @property
    def frozen_map(self) -> dict[str, str]:
        return dict(line.split("==", 1) for line in self.frozen)


def capture(cfg: DictConfig) -> Provenance:
    """Everything that decides a run's result besides its config (which is saved beside it)."""
    versions = installed()
    patch = git_patch(CODE_ROOT)
    record = {
        "command": command(),
        "git": git_state(CODE_ROOT, patch),
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "libraries": libraries(versions),
        "packages_sha256": _sha(json.dumps(versions, sort_keys=True)),
        "machine": machine(),
        "gpu": gpu(),
        "seeds": seeds(cfg),
        "data": {},
    }
    frozen = [f"{name}=={version}" for name, version in sorted(versions.items())]
    return Provenance(record, frozen, patch)


def save(cfg: DictConfig, out: Path) -> Path:
    """Capture this run's provenance and write it into ``out``."""
    return write(capture(cfg), out)


def write(prov: Provenance, out: Path) -> Path:
    """``provenance.json``, ``requirements-frozen.txt`` and ``git.patch`` (when dirty); data
    digests already recorded in ``out`` are kept."""
    out.mkdir(parents=True, exist_ok=True)
    prov.record["data"] = read(out).get("data", {}) | prov.record.get("data", {})
    (out / FROZEN).write_text("\n".join(prov.frozen) + "\n")
    if prov.patch:
        (out / PATCH).write_text(prov.patch)
    path = out / FILE
    path.write_text(json.dumps(prov.record, indent=2, sort_keys=True))
    return path


def add_data(out: Path, digests: Mapping[str, str]) -> None:
    """Record the data's digests (``{split: digest}``) in ``out/provenance.json``."""
    path = out / FILE
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["data"] = {**record.get("data", {}), **digests}
    path.write_text(json.dumps(record, indent=2, sort_keys=True))


def read(run_dir: Path) -> dict[str, Any]:
    """The run's provenance record ({} for a run written before provenance existed)."""
    path = run_dir / FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def read_frozen(run_dir: Path) -> dict[str, str]:
    """name -> version from the run's ``requirements-frozen.txt`` ({} when absent)."""
    path = run_dir / FROZEN
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(line.split("==", 1) for line in lines if "==" in line)


# ---- the parts -------------------------------------------------------------------------------
def command() -> dict[str, Any]:
    """argv, working directory and (under Hydra) the task's overrides."""
    from hydra.core.hydra_config import HydraConfig

    overrides = None
    if HydraConfig.initialized():
        overrides = list(HydraConfig.get().overrides.task)
    return {"argv": list(sys.argv), "cwd": os.getcwd(), "overrides": overrides}


def installed() -> dict[str, str]:
    """name -> version of every installed distribution (what `pip freeze` lists), read from
    the metadata files (no subprocess)."""
    versions = {}
    for dist in importlib.metadata.distributions():
        meta = dist.metadata  # parsed once: dist.name and dist.version would parse it twice
        if meta["Name"]:
            versions[_canonical(meta["Name"])] = meta["Version"]
    return versions


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def libraries(versions: Mapping[str, str]) -> dict[str, str | None]:
    """Versions of the key libraries and of the optional extras this run imported."""
    found: dict[str, str | None] = {name: versions.get(name) for name in KEY_LIBRARIES}
    for dist, module in EXTRAS.items():
        if module in sys.modules:
            found[dist] = versions.get(dist)
    return found


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):  # no git, or a hung file system
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path, patch: str) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the checkout holding the code; None outside one."""
    status = _git(root, "status", "--porcelain=v2", "--branch")
    if status is None:
        return None
    head = dict(
        line[2:].split(" ", 1) for line in status.splitlines() if line.startswith("# branch.")
    )
    changes = [line for line in status.splitlines() if line[:1] in ("1", "2", "u")]
    untracked = [line[2:] for line in status.splitlines() if line.startswith("? ")]
    return {
        "commit": head.get("branch.oid"),
        "branch": head.get("branch.head"),
        "dirty": bool(changes),
        "changed_files": len(changes),
        "untracked_files": untracked[:20],
        "patch": PATCH if patch else None,
        "patch_sha256": _sha(patch) if patch else None,
    }


def git_patch(root: Path) -> str:
    """The uncommitted changes of tracked files (``git diff HEAD --binary``)."""
    return _git(root, "diff", "HEAD", "--binary") or ""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def machine() -> dict[str, Any]:
    import torch

    return {
        "os": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch_num_threads": torch.get_num_threads(),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu() -> dict[str, Any] | None:
    """GPU models, driver, CUDA and cuDNN versions; None without a visible CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return None
    driver = _nvidia_smi("driver_version")
    return {
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "driver": driver.splitlines()[0].strip() if driver else None,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _nvidia_smi(field: str) -> str | None:
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def seeds(cfg: DictConfig) -> dict[str, int]:
    """Every ``seed`` / ``*_seed`` value of the resolved config, by key (``seed`` is the one
    the entries give ``seed_everything``)."""
    found: dict[str, int] = {}
    _find_seeds(OmegaConf.to_container(cfg, resolve=True), "", found)
    return found


def _find_seeds(node: Any, path: str, found: dict[str, int]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{path}.{k}" if path else str(k)
            if (k == "seed" or str(k).endswith("_seed")) and isinstance(v, int):
                found[key] = v
            else:
                _find_seeds(v, key, found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _find_seeds(v, f"{path}[{i}]", found)


# ---- comparing -------------------------------------------------------------------------------
# the fields that decide a result, as (label, path in the record); the command, hostname and
# paths are where a run happened, not what it computed, and are left out
COMPARED = (
    ("commit", ("git", "commit")),
    ("dirty", ("git", "dirty")),
    ("uncommitted diff", ("git", "patch_sha256")),
    ("python", ("python", "version")),
    ("os", ("machine", "os")),
    ("cpu", ("machine", "cpu")),
    ("OMP_NUM_THREADS", ("machine", "OMP_NUM_THREADS")),
    ("torch threads", ("machine", "torch_num_threads")),
    ("gpu", ("gpu", "devices")),
    ("gpu driver", ("gpu", "driver")),
    ("cuda", ("gpu", "cuda")),
    ("cudnn", ("gpu", "cudnn")),
)


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """The compared fields of a record as ``{label: value}`` (None where absent): key library
    versions as ``<name> version``, seeds by key, data digests as ``data <split>``."""
    flat: dict[str, Any] = {}
    for label, (section, key) in COMPARED:
        part = record.get(section)
        flat[label] = part.get(key) if isinstance(part, Mapping) else None
    for name, version in (record.get("libraries") or {}).items():
        flat[f"{name} version"] = version
    for key, value in (record.get("seeds") or {}).items():
        flat[f"seed {key}"] = value
    for split, digest in (record.get("data") or {}).items():
        flat[f"data {split}"] = digest
    return flat


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{label: (old, new)}`` for every compared field that differs between two records.

    Data splits and optional libraries recorded by only one of them are not compared: a split
    one mode did not load, an extra one run had not imported yet (a changed version of any
    installed distribution shows in :func:`package_differences`)."""
    a, b = flatten(old), flatten(new)
    one_sided = {k for k in a.keys() ^ b.keys() if k.startswith("data ") or k.endswith(" version")}
    return {
        k: (a.get(k), b.get(k))
        for k in dict.fromkeys([*a, *b])
        if k not in one_sided and a.get(k) != b.get(k)
    }


def package_differences(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, tuple]:
    """``{name: (old version, new version)}`` of the full freezes (None: not installed)."""
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(old.keys() | new.keys())
        if old.get(k) != new.get(k)
    }
