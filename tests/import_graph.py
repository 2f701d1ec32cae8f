"""The import graph of a package, read from its source with ``ast`` (nothing is imported).

Every import statement counts wherever it stands: one inside a function or under
``TYPE_CHECKING`` still ties the two modules together. Only modules inside the package are
nodes; ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``.
"""

import ast
from pathlib import Path


def modules(package_dir: Path, package_name: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` under ``package_dir``."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package_name, *parts])] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` (source at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str | None] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets += [_innermost(a.name, known) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..sub import y
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            targets += [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else _innermost(base, known)
                for a in node.names
            ]
    return {t for t in targets if t is not None}


def _innermost(dotted: str, known: set[str]) -> str | None:
    """The longest prefix of ``dotted`` that is a module of ``known``."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return None


def graph(package_dir: Path, package_name: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    mods = modules(package_dir, package_name)
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def cycles(package_dir: Path, package_name: str) -> list[list[str]]:
    """Groups of modules that import one another, directly or through others; [] if none.

    Each group (a strongly connected component) is sorted, and so is the list.
    """
    edges = graph(package_dir, package_name)
    reach = {m: _reachable(edges, m) for m in edges}
    groups = {tuple(sorted(n for n in reach[m] if m in reach[n])) for m in edges if m in reach[m]}
    return sorted(list(g) for g in groups)


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """Modules reached from ``start`` by one import or more (``start`` only through a cycle)."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(edges[m])
    return seen
