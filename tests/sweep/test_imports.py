"""The sweeper's modules import one another without cycles (checked on the source, by ast)."""

from pathlib import Path

from tests.conftest import ROOT
from tests.import_graph import cycles, graph


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cycles_finds_modules_that_import_each_other(tmp_path: Path) -> None:
    pkg = write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg import b\nimport os\n",
            # relative, and only for type checking: still a cycle a -> b -> c -> a
            "b.py": "from .sub.c import f\n",
            "sub/__init__.py": "",
            "sub/c.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .. import a\n",
            "d.py": "from pkg.a import x\ndef late():\n    import pkg.d\n",  # d imports itself
            "e.py": "from pkg import a, b\n",  # imports the cycle, is not in it
        },
    )
    assert graph(pkg, "pkg")["pkg.e"] == {"pkg.a", "pkg.b"}
    assert cycles(pkg, "pkg") == [["pkg.a", "pkg.b", "pkg.sub.c"], ["pkg.d"]]


def test_an_acyclic_package_has_no_cycles(tmp_path: Path) -> None:
    pkg = write(tmp_path / "pkg", {"__init__.py": "from . import a\n", "a.py": "import pkg.b\n"})
    (pkg / "b.py").write_text("")
    assert cycles(pkg, "pkg") == []


def test_the_sweeper_plugin_has_no_import_cycle() -> None:
    name = "hydra_plugins.hydralit_optuna_sweeper"
    assert cycles(ROOT / name.replace(".", "/"), name) == []
