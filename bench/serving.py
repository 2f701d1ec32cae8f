"""Requests/s and latency of HTTP services of the same CNN, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serving.py [--dataset mnist] [--requests 800]

The CNN is the framework's default (``model=cnn``: conv32, conv64, dense 128, like PyTorch's
MNIST example) trained for one epoch on generated 28x28 images in MNIST's file format
(``--dataset mnist``, the default: throughput does not depend on what it learned), or on the
8x8 digits (``--dataset digits``, the first measurement's model). Its services:

(a) a plain FastAPI endpoint on eager torch, written the way a user would (a pydantic body,
    ``torch.no_grad``, one forward per request) as a ``def`` (FastAPI runs it in its thread
    pool), and (a') the same as an ``async def`` (on the event loop);
(b) ``mode=serve`` on the torch backend (the ``torch.export`` file);
(c) ``mode=serve`` on ONNX Runtime with dynamic batching.

Each serves from its own process on 127.0.0.1, all started before the load; the load comes
from this process at concurrency 1, 8 and 32, a fixed number of requests per level split into
rounds that visit every service in turn (so a change in the shared machine's load falls on all
alike), one image per request, over keep-alive connections written with asyncio streams (a
full client such as httpx spends more CPU per request than the services under test, on the
same cores). Prints requests/s, p50/p99 latency and errors per service and level, and (c)
against the faster of (a) and (a') at concurrency 8.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LEVELS = (1, 8, 32)
Row = dict[str, float]  # rps, p50_ms, p99_ms, errors, cpu_ms (the server's, per request)
Results = dict[str, dict[int, Row]]  # service -> concurrency -> row
Load = tuple[list[float], float, int]  # latencies (s), seconds in all, errors
Server = tuple[int, int]  # port, process id

PLAIN_APP = """
import sys
import torch
from fastapi import FastAPI
from pydantic import BaseModel

model = torch.export.load(sys.argv[1]).module()  # the network with its normalisation
dtype = getattr(torch, sys.argv[3])  # what the network takes: uint8 pixels or float32
app = FastAPI()


class Request(BaseModel):
    inputs: dict[str, list[list[list[list[float]]]]]


@app.post("/predict")
def predict(request: Request) -> dict:
    x = torch.tensor(request.inputs["x"], dtype=dtype)
    with torch.no_grad():
        logits = model(x)
    return {"outputs": logits.tolist(), "predictions": logits.argmax(1).tolist()}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def export_cnn(work: Path, dataset: str) -> Path:
    """Train the default CNN for one epoch on ``dataset`` and export it to ONNX and
    torch.export; mnist reads generated images in the MNIST files' format."""
    common = [f"paths.log_dir={work}", "print_config=false", "++callbacks.progress_bar=null"]
    if dataset == "mnist":
        from tests.data.fakes import write_mnist

        write_mnist(work / "data", n_train=2000, n_test=500)
        common += ["dataset=mnist", "dataset.source.download=false", f"paths.data_dir={work}/data"]
    run = [sys.executable, "run.py", *common]
    subprocess.run([*run, "trainer.max_epochs=1", "test=false", "name=bench"], cwd=ROOT, check=True)
    ckpt = next(work.glob("bench/*/checkpoints/last.ckpt"))
    formats = "export.formats=[onnx,pt2]"
    export = [*run, "mode=export", f"ckpt_path={ckpt}", formats, "name=export"]
    subprocess.run(export, cwd=ROOT, check=True)
    return next(work.glob("export/*/export"))


def start(command: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{command} did not listen on {port}")


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One request on a keep-alive connection; the response's status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    await reader.readexactly(int(headers["content-length"]))
    return int(lines[0].split()[1])


async def load(port: int, body: bytes, requests: int, concurrency: int) -> Load:
    """``requests`` POSTs of ``body`` from ``concurrency`` connections: each one's latency (s),
    the seconds they took in all, and how many did not answer 200."""
    head = f"POST /predict HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
    head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    request = head.encode() + body
    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in queue:
            began = time.perf_counter()
            status = await post(reader, writer, request)
            latencies.append(time.perf_counter() - began)
            errors += status != 200
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began, errors


def summary(latencies: list[float], seconds: float, errors: int) -> Row:
    latencies = sorted(latencies)
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }


def one_image(export: Path) -> tuple[bytes, str]:
    """A request body of one test-like image in the export's input range, and its dtype."""
    import numpy as np

    spec = json.loads((export / "model.json").read_text())["inputs"][0]
    high = 255 if spec["dtype"] == "uint8" else 16
    image = np.random.default_rng(0).integers(0, high, (1, *spec["shape"][1:]))
    return json.dumps({"inputs": {spec["name"]: image.tolist()}}).encode(), spec["dtype"]


def services(export: Path, work: Path, dtype: str) -> dict[str, Callable[[int], list[str]]]:
    """Each service's command line, given the port it listens on."""
    plain = work / "plain_app.py"
    plain.write_text(PLAIN_APP)
    plain_async = work / "plain_async_app.py"  # the forward on the event loop, no thread pool
    plain_async.write_text(PLAIN_APP.replace("def predict", "async def predict"))
    model = str(export / "model.pt2")
    serve = [sys.executable, "run.py", "mode=serve", f"serve.artefact={export}"]
    serve += [f"paths.log_dir={work}", "print_config=false"]
    return {
        "(a) plain FastAPI + eager torch, def": lambda port: [
            *(sys.executable, str(plain), model, str(port), dtype)
        ],
        "(a') plain FastAPI + eager torch, async def": lambda port: [
            *(sys.executable, str(plain_async), model, str(port), dtype)
        ],
        "(b) mode=serve, torch backend": lambda port: [
            *(*serve, "serve.backend=pt2", f"serve.port={port}")
        ],
        "(c) mode=serve, ONNX Runtime + batching": lambda port: [*serve, f"serve.port={port}"],
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used: unlike requests/s, it hardly
    moves when other jobs share the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(servers: dict[str, Server], body: bytes, requests: int, rounds: int) -> Results:
    """Each level: ``rounds`` rounds, each sending every service ``requests // rounds``
    requests in turn, so a change in the machine's load falls on all of them alike."""
    results: Results = {name: {} for name in servers}
    for c in LEVELS:
        runs: dict[str, list[Load]] = {name: [] for name in servers}
        cpu = dict.fromkeys(servers, 0.0)
        for _ in range(rounds):
            for name, (port, pid) in servers.items():
                before = cpu_seconds(pid)
                runs[name].append(asyncio.run(load(port, body, requests // rounds, c)))
                cpu[name] += cpu_seconds(pid) - before
        for name, parts in runs.items():
            latencies = [t for part in parts for t in part[0]]
            seconds, errors = sum(p[1] for p in parts), sum(p[2] for p in parts)
            row = summary(latencies, seconds, errors)
            results[name][c] = row | {"cpu_ms": 1000 * cpu[name] / len(latencies)}
    return results


def report(results: Results, dataset: str, requests: int, load_before: float) -> None:
    threads = os.environ.get("OMP_NUM_THREADS")
    print(
        f"{dataset} CNN, {requests} requests per level, OMP_NUM_THREADS={threads}, load average "
        f"(1 min) {load_before:.2f} before the load, {os.getloadavg()[0]:.2f} after"
    )
    head = f"{'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU ms/req':>10}"
    print(f"{'service':44} {head}")
    for name, levels in results.items():
        for level, r in levels.items():
            row = f"{r['rps']:>8.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6.0f}"
            row += f" {r['cpu_ms']:>10.2f}"
            print(f"{name:44} {level:>4} {row}")
    plain = max((results[name][8] for name in list(results)[:2]), key=lambda r: r["rps"])
    batched = results[list(results)[-1]][8]
    print("at concurrency 8, (c) against the faster plain endpoint, (a) or (a'):")
    print(f"  requests/s {batched['rps'] / plain['rps']:.2f}x")
    print(f"  p99 (c) {batched['p99_ms']:.1f} ms, plain {plain['p99_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    parser.add_argument("--requests", type=int, default=800, help="requests per level")
    parser.add_argument("--rounds", type=int, default=4, help="turns each level is split into")
    parser.add_argument("--export", type=Path, help="serve this export instead of training one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = args.export or export_cnn(work, args.dataset)
        body, dtype = one_image(export)
        servers, procs = {}, []
        try:
            for name, command in services(export, work, dtype).items():
                port = free_port()
                procs.append(start(command(port), port))
                servers[name] = (port, procs[-1].pid)
                asyncio.run(load(port, body, 40, 4))  # warm-up
            load_before = os.getloadavg()[0]
            results = measure(servers, body, args.requests, args.rounds)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    report(results, args.dataset, args.requests, load_before)


if __name__ == "__main__":
    main()
