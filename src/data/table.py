"""Reading a table file into text cells: CSV with the standard library, Parquet with pyarrow.

Every cell is kept as text (``None`` where it is missing) until the encoding decides what a
column is; a file is read once per process (cached by path, size and modification time), so
the config resolvers that count its columns and the data source share one read.
"""

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from src.errors import ConfigError, DataError

PARQUET_SUFFIXES = (".parquet", ".pq")
# cells read as missing (after stripping spaces); dataset.missing_values replaces the list
MISSING_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per read of a file
class Table:
    """A file's columns: object arrays of text cells, ``None`` where a cell is missing."""

    path: str
    columns: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def require(self, names: list[str], key: str) -> None:
        """Raise a ConfigError naming ``key`` unless every one of ``names`` is a column."""
        absent = [n for n in names if n not in self.columns]
        if absent:
            one = len(self.columns) == 1
            hint = " (a single column: is dataset.separator right?)" if one else ""
            raise ConfigError(
                key,
                absent[0] if len(absent) == 1 else absent,
                f"columns of {self.path}: {', '.join(self.names)}{hint}",
                f"pick from those columns (set {key})",
            )


def read_table(
    path: str, separator: str = ",", header: bool = True, missing_values: tuple[str, ...] = ()
) -> Table:
    """The file at ``path`` (``.parquet``/``.pq``: Parquet, anything else: delimited text).

    Args:
        path: the file.
        separator: field separator of a text file; ``\\t`` or ``tab`` for tabs.
        header: the first line names the columns; false: columns are named 0, 1, 2, ...
        missing_values: cells read as missing; empty: :data:`MISSING_VALUES`.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            "dataset.path",
            path,
            "an existing CSV or Parquet file",
            "check the path (relative paths start at the directory run.py is started from)",
        )
    stat = file.stat()
    missing = tuple(missing_values) or MISSING_VALUES
    sep = _separator(separator)
    return _read(str(file.resolve()), stat.st_mtime_ns, stat.st_size, sep, header, missing)


def _separator(separator: str) -> str:
    sep = "\t" if separator in ("\\t", "tab") else separator
    if len(sep) != 1:
        raise ConfigError("dataset.separator", separator, "one character, e.g. ',' ';' or tab")
    return sep


@lru_cache(maxsize=4)
def _read(
    path: str, mtime_ns: int, size: int, sep: str, header: bool, missing: tuple[str, ...]
) -> Table:
    if path.lower().endswith(PARQUET_SUFFIXES):
        names, cells = _parquet(path)
    else:
        names, cells = _delimited(path, sep, header)
    absent = set(missing)
    columns = {}
    for name, column in zip(names, cells, strict=True):
        stripped = [None if c is None or c.strip() in absent else c.strip() for c in column]
        columns[name] = np.array(stripped, dtype=object)
    return Table(path, columns)


def _delimited(path: str, sep: str, header: bool) -> tuple[list[str], list[list[str | None]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f, delimiter=sep) if row]  # blank lines hold no row
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(
            f"{path} is not a delimited text file in UTF-8 ({e}). Fix: save it as CSV in UTF-8, "
            "or as Parquet with a .parquet suffix"
        ) from e
    if not rows or (header and len(rows) < 2):
        raise DataError(f"{path} holds no data rows")
    names = [n.strip() for n in rows[0]] if header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if header else rows
    for i, row in enumerate(body):
        if len(row) != len(names):
            raise DataError(
                f"{path}: data row {i + 1} has {len(row)} fields, the first line {len(names)} "
                f"(separator {sep!r}). Fix the row, or set dataset.separator"
            )
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{path}: column names appear twice: {', '.join(twice)}. Rename them")
    return names, [list(c) for c in zip(*body, strict=True)]


def _parquet(path: str) -> tuple[list[str], list[list[str | None]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DataError(
            f"{path}: reading Parquet needs the pyarrow package, which is not installed. "
            "Fix: pip install 'hydralit[parquet]' (or pip install pyarrow), or save the table "
            "as CSV"
        ) from e
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path} is not a readable Parquet file: {e}. Fix: write it again") from e
    cells = [[None if v is None else str(v) for v in col.to_pylist()] for col in table.columns]
    if not cells or not cells[0]:
        raise DataError(f"{path} holds no data rows")
    return list(table.column_names), cells


def as_numbers(cells: np.ndarray) -> np.ndarray | None:
    """Text cells as float64 (NaN where missing), or None when a present cell is not a number."""
    out = np.full(len(cells), np.nan)
    present = np.array([c is not None for c in cells], dtype=bool)
    try:
        out[present] = cells[present].astype(np.float64)
    except ValueError:
        return None
    return out


def canonical(cells: np.ndarray) -> np.ndarray:
    """Labels or categories as text that does not depend on how a number was written
    ("1", "1.0" and "1e0" are "1"), so a file saved by another tool encodes the same."""
    numbers = as_numbers(cells)
    if numbers is None:
        return cells
    out = np.empty(len(cells), dtype=object)
    for i, v in enumerate(numbers):
        out[i] = None if np.isnan(v) else (str(int(v)) if v.is_integer() else repr(float(v)))
    return out
