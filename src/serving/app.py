"""The HTTP service of an exported model: ``POST /predict`` (JSON, or image files for a model
of uint8 pixels), ``GET /health``, ``GET /metadata``, and a page at ``/`` to try it.

Every malformed request gets a 4xx whose ``detail`` names the field and what was expected:
unknown or missing fields, a wrong shape or type, non-finite numbers, too many samples, a body
over the size limit. A 500 means the model itself failed.
"""

import io
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_json

from src.serving.artefact import Artefact, InputSpec
from src.serving.batching import Arrays, DynamicBatcher


@dataclass
class Limits:
    """What one request may hold, and how requests are batched."""

    max_samples: int = 256
    max_body_mb: float = 8.0
    max_batch_size: int = 64
    max_wait_ms: float = 0.0


class PredictRequest(BaseModel):
    """``{"inputs": {"<input name>": [sample, sample, ...]}}``, one list per input."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, list[Any]]


def create_app(artefact: Artefact, limits: Limits) -> FastAPI:
    batcher = DynamicBatcher(artefact.run, limits.max_batch_size, limits.max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title=f"hydralit: {artefact.folder}", lifespan=lifespan)
    app.state.batcher = batcher
    schema = {"requestBody": {"content": {"application/json": {"schema": _request_schema()}}}}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        card = artefact.card
        keys = ("task", "inputs", "output", "class_names", "source", "versions")
        served = {"backend": artefact.backend, "limits": limits, "model_calls": batcher.calls}
        return {k: card.get(k) for k in keys} | served

    @app.post("/predict", openapi_extra=schema)
    async def predict(request: Request) -> Response:
        limit = int(limits.max_body_mb * 2**20)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            arrays = await _uploaded_images(request, artefact.inputs, limit, limits.max_samples)
        else:
            body = await _read_body(request, limit)
            arrays = parse(body, artefact.inputs, limits.max_samples)
        output = await batcher.submit(arrays)
        # serialised here, in Rust: FastAPI's encoder would walk every number in Python first
        content = to_json(answer(output, artefact.task, artefact.class_names))
        return Response(content, media_type="application/json")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("src.serving").joinpath("page.html").read_text()

    return app


def _request_schema() -> dict[str, Any]:
    return PredictRequest.model_json_schema()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body has {declared} bytes; the limit is {limit}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the body is over the limit of {limit} bytes")
    return body


async def _uploaded_images(
    request: Request, specs: list[InputSpec], limit: int, max_samples: int
) -> Arrays:
    """Image files uploaded as ``file`` fields, decoded, converted and resized to the input."""
    spec = specs[0]
    if (
        len(specs) != 1
        or spec.dtype != "uint8"
        or len(spec.shape) != 3
        or spec.shape[0] not in (1, 3)
    ):
        shapes = [f"{s.name}: {s.dtype} {list(s.shape)}" for s in specs]
        raise HTTPException(
            415,
            f"image upload needs one input of uint8 pixels (C, H, W); this model takes "
            f"{shapes}: send JSON instead",
        )
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise HTTPException(411, "an upload needs a Content-Length header")
    if int(declared) > limit:
        raise HTTPException(413, f"the body has {declared} bytes; the limit is {limit}")
    form = await request.form(max_files=max_samples, max_fields=max_samples)
    files = [f for f in form.getlist("file") if not isinstance(f, str)]
    if not files:
        raise HTTPException(422, "file: expected one or more image files in `file` fields")
    images = [_decode(await f.read(), f.filename or "file", spec) for f in files]
    return {spec.name: np.stack(images)}


def _decode(data: bytes, name: str, spec: InputSpec) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    channels, height, width = spec.shape
    try:
        with Image.open(io.BytesIO(data)) as image:
            converted = image.convert("L" if channels == 1 else "RGB").resize((width, height))
    except (UnidentifiedImageError, OSError) as e:
        raise HTTPException(422, f"file {name}: not an image Pillow can read ({e})") from e
    pixels = np.asarray(converted, dtype=np.uint8)  # (H, W) or (H, W, 3)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def parse(body: bytes, specs: list[InputSpec], max_samples: int) -> Arrays:
    """The request's inputs as arrays of the graph's dtypes, or an HTTP 4xx naming the problem."""
    try:  # parsed and checked in one pass in pydantic-core: 3x faster than json.loads first
        request = PredictRequest.model_validate_json(body or b"null")
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if errors[0]["type"] == "json_invalid":
            raise HTTPException(400, f"the body is not JSON: {errors[0]['msg']}") from e
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in errors)
        raise HTTPException(422, problems) from e
    names = [s.name for s in specs]
    if sorted(request.inputs) != sorted(names):
        raise HTTPException(422, f"inputs: expected the keys {names}, got {list(request.inputs)}")
    arrays = {s.name: _array(s, request.inputs[s.name]) for s in specs}
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise HTTPException(422, f"inputs: every input needs the same number of samples: {sizes}")
    size = sizes.pop()
    if not 1 <= size <= max_samples:
        raise HTTPException(422, f"inputs: expected 1 to {max_samples} samples, got {size}")
    return arrays


def _array(spec: InputSpec, samples: list[Any]) -> np.ndarray:
    where = f"inputs.{spec.name}"
    try:
        values = np.asarray(samples, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise HTTPException(
            422, f"{where}: expected numbers in samples of shape {list(spec.shape)}"
        ) from e
    if values.shape[1:] != spec.shape:
        raise HTTPException(
            422,
            f"{where}: expected samples of shape {list(spec.shape)}, got {list(values.shape[1:])}",
        )
    if not np.isfinite(values).all():
        raise HTTPException(422, f"{where}: expected finite numbers (no NaN or infinity)")
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if (values != np.round(values)).any() or values.min() < info.min or values.max() > info.max:
            raise HTTPException(
                422, f"{where}: expected integers from {info.min} to {info.max} ({dtype})"
            )
    return values.astype(dtype)


def answer(output: np.ndarray, task: str | None, class_names: list[str]) -> dict[str, Any]:
    """The response: the raw ``outputs`` and, for a classifier, ``predictions`` (class names)
    and ``probabilities``."""
    result: dict[str, Any] = {"outputs": output.tolist()}
    if task == "multiclass" and output.ndim == 2:
        shifted = np.exp(output - output.max(1, keepdims=True))
        probs = shifted / shifted.sum(1, keepdims=True)
        names = class_names or [str(i) for i in range(output.shape[1])]
        result["predictions"] = [names[i] for i in probs.argmax(1)]
        result["probabilities"] = [dict(zip(names, map(_round, p), strict=True)) for p in probs]
    elif task == "binary":
        p1 = 1 / (1 + np.exp(-output.reshape(len(output))))
        names = class_names or ["0", "1"]
        result["predictions"] = [names[int(p > 0.5)] for p in p1]
        result["probabilities"] = [{names[0]: _round(1 - p), names[1]: _round(p)} for p in p1]
    return result


def _round(p: float) -> float:
    return 0.0 if math.isnan(p) else round(float(p), 6)
