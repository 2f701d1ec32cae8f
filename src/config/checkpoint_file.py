"""Is a file a checkpoint at all? Answered from its first bytes and zip directory, without torch.

``torch.save`` writes a zip archive holding ``<name>/data.pkl`` (or, before torch 1.6, a pickle
that starts with torch's magic number). Anything else (a text file, an empty or truncated file,
another zip, a plain pickle, a folder) fails here in milliseconds, before torch is imported;
what loads but is not a Lightning checkpoint of this model is
:func:`src.utils.checkpoints.verify_checkpoint`'s to find.
"""

import zipfile
from pathlib import Path

from src.errors import ConfigError

# what the legacy (pre-zip) torch.save format starts with: pickle protocol 2, then the long
# 0x1950a86a20f9469cfc6c (torch.serialization.MAGIC_NUMBER)
LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
ZIP_MAGIC = b"PK\x03\x04"
# a folder that FSDP (state_dict_type: sharded) writes instead of one file
SHARDED_METADATA = "meta.pt"

FIX = "pass a .ckpt file written by a run, e.g. outputs/<name>/<time>/checkpoints/last.ckpt"


def check_checkpoint_file(key: str, path: str) -> None:
    """Raise a ConfigError naming ``key`` if ``path`` cannot be a checkpoint torch can load."""
    problem = file_problem(path)
    if problem is not None:
        raise ConfigError(key, path, f"a checkpoint file, but it {problem}", fix_for(path))


def fix_for(path: str) -> str:
    """The fix for a file that is not a checkpoint: a checkpoint of the run it points into."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    candidates = (folder / "checkpoints" / "last.ckpt", folder / "last.ckpt")
    found = [c for c in candidates if c.is_file() and c.resolve() != p.resolve()]
    return f"did you mean {found[0]}?" if found else FIX


def file_problem(path: str) -> str | None:
    """What makes ``path`` unloadable as a checkpoint (``"is empty"``), or None if it may load."""
    p = Path(path)
    if not p.exists():
        return "does not exist"
    if p.is_dir():
        if (p / SHARDED_METADATA).is_file():
            return None
        return "is a directory"
    try:
        with p.open("rb") as f:
            head = f.read(64)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not head:
        return "is empty (0 bytes; its run may have died while writing it)"
    if head.startswith(LEGACY_MAGIC):
        return None
    if head.startswith(ZIP_MAGIC):
        return _zip_problem(p)
    return f"is {_describe(head)}, not a file written by torch.save"


def _zip_problem(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):  # the directory at the end of the archive is missing
        return "is truncated or damaged (a zip archive without its end; an interrupted copy?)"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return f"is a damaged zip archive ({e})"
    if any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
        return None
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"is a zip archive, not one torch.save wrote (no <name>/data.pkl in it: {listed})"


def _describe(head: bytes) -> str:
    """What kind of file starts with ``head`` (the first 64 bytes)."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a plain Python pickle"
    if head[8:10] == b'{"':  # an 8-byte header length, then a JSON header
        return "a safetensors file"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras?)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    text = head.decode("utf-8", errors="replace")  # the last character may be cut in two
    if "\x00" in text or text.count("\ufffd") > 1:
        return f"a binary file starting with {head[:8]!r}"
    first = text.strip().splitlines()[0][:30] if text.strip() else ""
    return f"a text file (starting {first!r})"
