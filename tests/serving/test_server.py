"""mode=serve over real HTTP on 127.0.0.1: predictions equal the module's, every malformed
request gets a 4xx naming what is wrong, concurrent requests share model calls."""

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")

import uvicorn

from src.errors import ConfigError, UserError
from src.experiments.export import export
from src.experiments.serve import check_free, serve
from src.experiments.train import train
from src.serving import artefact
from src.serving.app import Limits, create_app
from tests.conftest import DATA_DIR, FAST, compose_config
from tests.data.fakes import own_data


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits CNN trained for a few batches, exported to ONNX and torch.export."""
    root = tmp_path_factory.mktemp("serve")
    base = [f"paths.log_dir={root}", f"paths.data_dir={DATA_DIR}", *FAST]
    train(compose_config([*base, "test=false"], root / "train"))
    ckpt = root / "train" / "checkpoints" / "last.ckpt"
    formats = "export.formats=[onnx,pt2]"
    export(compose_config([*base, "mode=export", f"ckpt_path={ckpt}", formats], root / "x"))
    return root / "x" / "export"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(folder: Path, limits: Limits) -> Iterator[str]:
    """The app of an export under uvicorn on a free port, in a thread; yields its base URL."""
    app = create_app(artefact.load(folder), limits)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(exported: Path) -> Iterator[str]:
    limits = Limits(max_samples=32, max_body_mb=0.05, max_batch_size=16, max_wait_ms=20)
    with serving(exported, limits) as url:
        yield url


def _call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _digits(n: int) -> list[Any]:
    from sklearn.datasets import load_digits

    return load_digits().images[:n, None].tolist()  # (n, 1, 8, 8) raw pixels 0..16


def test_predictions_are_the_exported_models(server: str, exported: Path) -> None:
    status, answer = _call(f"{server}/predict", {"inputs": {"x": _digits(5)}})
    assert status == 200, answer
    expected = artefact.load(exported, "pt2").run({"x": np.asarray(_digits(5), np.float32)})
    assert np.allclose(answer["outputs"], expected, atol=1e-4)
    assert answer["predictions"] == [str(i) for i in expected.argmax(1)]
    assert all(abs(sum(p.values()) - 1) < 1e-4 for p in answer["probabilities"])


def test_health_metadata_page_and_schema(server: str) -> None:
    assert _call(f"{server}/health") == (200, {"status": "ok"})
    status, meta = _call(f"{server}/metadata")
    assert status == 200 and meta["inputs"][0] == {
        "name": "x",
        "dtype": "float32",
        "shape": ["batch", 1, 8, 8],
    }
    assert meta["class_names"] == [str(i) for i in range(10)]
    with urllib.request.urlopen(f"{server}/", timeout=10) as page:
        assert "Try the model" in page.read().decode()
    status, schema = _call(f"{server}/openapi.json")
    assert "/predict" in schema["paths"]


ZERO = [[[0] * 8] * 8]  # one digit of zeros, (1, 8, 8)
BAD = {
    "wrong shape": (
        {"inputs": {"x": [[[0.0] * 8] * 8]}},
        "inputs.x: expected samples of shape [1, 8, 8], got [8, 8]",
    ),
    "wrong type": ({"inputs": {"x": [[[["a"] * 8] * 8]]}}, "inputs.x: expected numbers"),
    "unknown field": (
        {"inputs": {"x": [ZERO]}, "extra": 1},
        "extra: Extra inputs are not permitted",
    ),
    "unknown input": ({"inputs": {"image": [ZERO]}}, "inputs: expected the keys ['x']"),
    "no samples": ({"inputs": {"x": []}}, "inputs.x: expected samples of shape"),
    "too many samples": ({"inputs": {"x": [ZERO] * 33}}, "expected 1 to 32 samples, got 33"),
    "not an object": ([1, 2], "Input should be an object"),
}


@pytest.mark.parametrize("case", BAD)
def test_malformed_requests_get_a_4xx_naming_the_problem(server: str, case: str) -> None:
    body, message = BAD[case]
    status, answer = _call(f"{server}/predict", body)
    assert status == 422 and message in answer["detail"], answer


def test_non_finite_numbers_and_bad_json_and_big_bodies(server: str) -> None:
    nan = json.dumps({"inputs": {"x": [[[[float("nan")] * 8] * 8]]}}).encode()  # NaN tokens
    status, answer = _call(f"{server}/predict", raw=nan)
    assert status == 422 and "finite" in answer["detail"]
    status, answer = _call(f"{server}/predict", raw=b"{not json")
    assert status == 400 and "not JSON" in answer["detail"]
    status, answer = _call(f"{server}/predict", raw=b" " * 60_000)
    assert status == 413 and "limit" in answer["detail"]


def test_concurrent_requests_share_model_calls(server: str) -> None:
    body = {"inputs": {"x": _digits(1)}}
    calls_before = _call(f"{server}/metadata")[1]["model_calls"]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: _call(f"{server}/predict", body), range(48)))
    assert all(status == 200 for status, _ in results)
    assert len({json.dumps(a["outputs"]) for _, a in results}) == 1  # same sample, same output
    calls = _call(f"{server}/metadata")[1]["model_calls"] - calls_before
    assert calls < 48  # batched: 16 clients with a 20 ms window share calls


def test_bad_artefacts_are_one_error(tmp_path: Path, exported: Path) -> None:
    with pytest.raises(UserError, match=r"no model\.json there"):
        artefact.load(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format_version": 99, "inputs": []}))
    with pytest.raises(UserError, match="format version 99; this version of hydralit reads up"):
        artefact.load(tmp_path)
    card = json.loads((exported / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(card))
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(UserError, match="does not load in ONNX Runtime"):
        artefact.load(tmp_path)
    with pytest.raises(UserError, match=r"serve\.backend=torchscript: .* has no torchscript file"):
        artefact.load(exported, "torchscript")


def test_a_port_in_use_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"serve.port={port}: expected a free port"):
            check_free("127.0.0.1", port)


def test_serve_entry_fails_before_binding_on_a_missing_artefact(tmp_path: Path) -> None:
    cfg = compose_config(
        ["mode=serve", f"serve.artefact={tmp_path / 'nothing'}", f"paths.log_dir={tmp_path}"],
        tmp_path / "run",
    )
    with pytest.raises(UserError, match=r"no model\.json there"):
        serve(cfg)


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them as root)",
)
def test_the_page_predicts_a_digit_in_a_real_browser(server: str) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        driver.get(f"{server}/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.ID, "body").get_attribute("value"))
        assert "task multiclass" in driver.find_element(By.ID, "about").text
        digit = json.dumps({"inputs": {"x": _digits(1)}})  # a real 0
        driver.execute_script("document.getElementById('body').value = arguments[0]", digit)
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: "predictions" in d.find_element(By.ID, "result").text)
        shown = json.loads(driver.find_element(By.ID, "result").text)
    finally:
        driver.quit()
    _, answer = _call(f"{server}/predict", json.loads(digit))
    assert shown["predictions"] == answer["predictions"]


def test_image_files_upload_to_a_model_of_pixels(tmp_path: Path) -> None:
    """An image-folder model takes uint8 pixels: PNG uploads give what their pixels as JSON do;
    a file that is not an image is a 422, and a model of other inputs answers 415."""
    import httpx
    from PIL import Image

    base = [f"paths.log_dir={tmp_path}", f"paths.data_dir={DATA_DIR}", *FAST]
    data = own_data("images", tmp_path)
    train(
        compose_config([*base, "experiment=image_folder_cnn", *data, "test=false"], tmp_path / "t")
    )
    ckpt = tmp_path / "t" / "checkpoints" / "last.ckpt"
    exporting = [*base, "experiment=image_folder_cnn", *data, "mode=export", f"ckpt_path={ckpt}"]
    export(compose_config(exporting, tmp_path / "x"))
    pngs = sorted((tmp_path / "images").rglob("*.png"))[:2]
    with serving(tmp_path / "x" / "export", Limits()) as url:
        files = [("file", (p.name, p.read_bytes(), "image/png")) for p in pngs]
        uploaded = httpx.post(f"{url}/predict", files=files, timeout=30)
        size = json.loads((tmp_path / "x" / "export" / "model.json").read_text())["inputs"][0]
        height, width = size["shape"][2:]
        pixels = [
            np.asarray(Image.open(p).convert("RGB").resize((width, height))).transpose(2, 0, 1)
            for p in pngs
        ]
        as_json = httpx.post(f"{url}/predict", json={"inputs": {"x": np.stack(pixels).tolist()}})
        bad = httpx.post(f"{url}/predict", files=[("file", ("a.png", b"not png", "image/png"))])
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["outputs"] == as_json.json()["outputs"]
    assert bad.status_code == 422 and "a.png: not an image" in bad.json()["detail"]


def test_an_upload_to_a_model_of_other_inputs_is_a_415(server: str) -> None:
    import httpx

    answer = httpx.post(f"{server}/predict", files=[("file", ("a.png", b"x", "image/png"))])
    assert answer.status_code == 415 and "image upload needs one input of uint8" in answer.text
