"""Import hygiene of src/: no cycles, and no low-level package reaches up into the entries."""

from tests.conftest import ROOT
from tests.import_graph import cycles, graph

LOW_LEVEL = ("src.data", "src.networks", "src.hardware", "src.metrics", "src.callbacks")


def test_src_has_no_import_cycles() -> None:
    assert cycles(ROOT / "src", "src") == []


def test_low_level_packages_do_not_import_the_entries() -> None:
    edges = graph(ROOT / "src", "src")
    upward = {
        (module, target)
        for module, targets in edges.items()
        if module.startswith(LOW_LEVEL)
        for target in targets
        if target.startswith("src.experiments")
    }
    assert upward == set()
