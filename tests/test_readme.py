"""The README stays true: each `python run.py ...` line composes; the quickstart is two lines."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST, ROOT, run_cli

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("  #")[0].strip()
    for block in BLOCKS
    for line in block.splitlines()
    if line.strip().startswith("python run.py")
    # Optuna sweeps (search-space values) are checked by tests/sweep/test_readme_sweeps.py
    and "hydra/sweeper=optuna" not in line
]


def quickstart() -> list[str]:
    block = README.split("<!-- quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_quickstart_is_install_and_run_then_tests() -> None:
    install, tests = quickstart()
    # the first trained model needs the core install only; the tests pull every extra
    assert "pip install -e . " in install and install.endswith("run.py")
    assert "'.[dev]'" in tests and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "quickstart" in ci and 'eval "$test_cmd"' in ci


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_composes(command: str) -> None:
    # placeholders such as <time> or <file> only have to reach the composed config
    args = [a.replace("<", "").replace(">", "") for a in shlex.split(command)[2:]]
    # a multirun's first job composes like a single run: `--cfg job` takes the first value
    args = [
        a if "{" in a or "[" in a else a.split(",")[0]
        for a in args
        if a not in ("--cfg", "job", "-m")
    ]
    out = subprocess.run(
        [sys.executable, "run.py", *args, "--cfg", "job"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"{command}\n{out.stderr}"
    assert "trainer:" in out.stdout


OWN_DATA = README.split("## Your own data", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_own_data_commands_run(tmp_path: Path) -> None:
    """Each line of "Your own data": the example files are written (under tmp_path instead of
    data/), each run trains a few batches, and the prediction reads the regression checkpoint."""
    logs = tmp_path / "outputs"
    fast = [a for a in FAST if "progress_bar" not in a]  # run_cli sets it
    for line in OWN_DATA.splitlines():
        args = shlex.split(line.split("  #")[0].replace("data/", f"{tmp_path}/"))[1:]
        if args[:2] == ["-m", "src.data.examples"]:
            out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
        elif "mode=predict" in args:
            ckpt = next(logs.glob("csv_regression/*/checkpoints/last.ckpt"))
            args = [f"ckpt_path={ckpt}" if a.startswith("ckpt_path=") else a for a in args[1:]]
            out = run_cli(logs, *args, *fast)
            assert "wrote 442 predictions of the all split" in out.stdout, out.stdout
        else:
            out = run_cli(logs, *args[1:], *fast)
        assert out.returncode == 0, f"{line}\n{out.stdout}\n{out.stderr}"


LANGUAGE = README.split("## Language models", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_language_model_commands_run(tmp_path: Path) -> None:
    """The first two lines of "Language models": the experiment trains a few batches, and
    mode=generate continues the prompt from its last checkpoint."""
    logs = tmp_path / "outputs"
    fast = [a for a in FAST if "progress_bar" not in a]
    train_line, generate_line = LANGUAGE.splitlines()[:2]
    out = run_cli(logs, *shlex.split(train_line.split("  #")[0])[2:], *fast)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    ckpt = next(logs.glob("lm_stdlib_char/*/checkpoints/last.ckpt"))
    args = [
        f"ckpt_path={ckpt}" if a.startswith("ckpt_path=") else a
        for a in shlex.split(generate_line)[2:]
    ]
    out = run_cli(logs, *args, "hardware=cpu", "generate.max_new_tokens=20")
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert "--- sample 1 ---\nimport" in out.stdout


REPRODUCE = (
    README.split("## Reproducing a result", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
)


@pytest.mark.slow
def test_reproducing_a_result_commands_run(tmp_path: Path) -> None:
    """Each line of "Reproducing a result", a few batches each: the rerun reports identical
    provenance and metrics, and compare lists both runs."""
    logs = tmp_path / "outputs"
    fast = [a for a in FAST if "progress_bar" not in a]  # run_cli sets it
    outputs = []
    for line in REPRODUCE.splitlines():
        args = [a.replace("outputs/", f"{logs}/") for a in shlex.split(line.split("  #")[0])[2:]]
        if any(a.startswith("reproduce.run=") for a in args):
            (original,) = logs.glob("digits_cnn/*")  # the first line's run
            args = [f"reproduce.run={original}" if "reproduce.run" in a else a for a in args]
        out = run_cli(logs, *args, *fast)
        assert out.returncode == 0, f"{line}\n{out.stdout}\n{out.stderr}"
        outputs.append(" ".join(out.stdout.split()))  # rich wraps long lines
    assert f"provenance of {original} and of this rerun: identical" in outputs[1]
    assert f"final metrics of {original} and of this rerun: identical" in outputs[1]
    assert "2 runs" in outputs[2]
