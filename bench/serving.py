"""Requests/s and latency of three HTTP services of the same digits CNN, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serving.py [--requests 400]

(a) a plain FastAPI endpoint on eager torch, written the way a user would (a pydantic body, one
    forward per request); (b) ``mode=serve`` on the torch backend (the ``torch.export`` file);
    (c) ``mode=serve`` on ONNX Runtime with dynamic batching. Each serves from its own process on
    127.0.0.1; the load comes from this process (asyncio + httpx) at concurrency 1, 8 and 32, a
    fixed number of requests per level, one digit per request. Prints requests/s, p50/p99
    latency and errors per service and level, and the ratio (c)/(a) at concurrency 8.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1, 8, 32)

PLAIN_APP = """
import sys
import torch
from fastapi import FastAPI
from pydantic import BaseModel

model = torch.export.load(sys.argv[1]).module()
app = FastAPI()


class Request(BaseModel):
    inputs: dict[str, list[list[list[list[float]]]]]


@app.post("/predict")
def predict(request: Request) -> dict:
    x = torch.tensor(request.inputs["x"], dtype=torch.float32)
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


def export_digits_cnn(work: Path) -> Path:
    """Train the default digits CNN for one epoch and export it to ONNX and torch.export."""
    common = [f"paths.log_dir={work}", "print_config=false", "++callbacks.progress_bar=null"]
    run = [sys.executable, "run.py", *common]
    subprocess.run([*run, "trainer.max_epochs=1", "test=false", "name=bench"], cwd=ROOT, check=True)
    ckpt = next(work.glob("bench/*/checkpoints/last.ckpt"))
    formats = "export.formats=[onnx,pt2]"
    subprocess.run([*run, "mode=export", f"ckpt_path={ckpt}", formats, "name=export"], cwd=ROOT)
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


async def load(url: str, body: bytes, requests: int, concurrency: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                start = time.perf_counter()
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per level")
    args = parser.parse_args()
    import json

    from sklearn.datasets import load_digits

    body = json.dumps({"inputs": {"x": load_digits().images[:1, None].tolist()}}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = export_digits_cnn(work)
        plain = work / "plain_app.py"
        plain.write_text(PLAIN_APP)
        serve = [sys.executable, "run.py", "mode=serve", f"serve.artefact={export}"]
        serve += [f"paths.log_dir={work}", "print_config=false"]
        services = {
            "(a) plain FastAPI + eager torch": lambda p: [
                sys.executable,
                str(plain),
                str(export / "model.pt2"),
                str(p),
            ],
            "(b) mode=serve, torch backend": lambda p: [
                *serve,
                "serve.backend=pt2",
                f"serve.port={p}",
            ],
            "(c) mode=serve, ONNX Runtime + batching": lambda p: [*serve, f"serve.port={p}"],
        }
        results: dict[str, dict[int, dict[str, float]]] = {}
        for name, command in services.items():
            port = free_port()
            proc = start(command(port), port)
            try:
                url = f"http://127.0.0.1:{port}/predict"
                asyncio.run(load(url, body, 20, 4))  # warm-up
                results[name] = {c: asyncio.run(load(url, body, args.requests, c)) for c in LEVELS}
            finally:
                proc.terminate()
                proc.wait(10)
    threads = os.environ.get("OMP_NUM_THREADS")
    print(f"digits CNN, {args.requests} requests per level, OMP_NUM_THREADS={threads}")
    print(f"{'service':42} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, levels in results.items():
        for c, r in levels.items():
            row = f"{r['rps']:>8.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6.0f}"
            print(f"{name:42} {c:>4} {row}")
    names = list(results)
    a, c = results[names[0]][8], results[names[2]][8]
    ratio = c["rps"] / a["rps"]
    print(f"(c)/(a) requests/s at concurrency 8: {ratio:.2f}x")
    print(f"p99 at concurrency 8: (c) {c['p99_ms']:.1f} ms, (a) {a['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
