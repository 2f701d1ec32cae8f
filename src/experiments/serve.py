"""Serve an export: ``python run.py mode=serve serve.artefact=<run dir>/export``."""

import errno
import socket
from typing import Any

from omegaconf import DictConfig

from src.errors import ConfigError, UserError


def serve(cfg: DictConfig) -> dict[str, Any]:
    """Load the export, check the address is free, and serve until interrupted (Ctrl-C)."""
    try:
        import uvicorn

        from src.serving import artefact
        from src.serving.app import Limits, create_app
    except ImportError as e:
        raise UserError(f"mode=serve needs {e.name}. Fix: pip install 'hydralit[serve]'") from e
    options = cfg.serve
    model = artefact.load(options.artefact, options.backend)
    check_free(options.host, options.port)
    limits = Limits(
        max_samples=options.max_samples,
        max_body_mb=options.max_body_mb,
        max_batch_size=options.max_batch_size,
        max_wait_ms=options.max_wait_ms,
    )
    app = create_app(model, limits)
    print(f"serving {model.folder} ({options.backend}) on http://{options.host}:{options.port}/")
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        limit_concurrency=options.max_concurrency,
        log_level="warning",
    )
    return {"served": str(model.folder)}


def check_free(host: str, port: int) -> None:
    """Raises a ConfigError naming ``serve.port`` when ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise ConfigError("serve.host", host, f"an address of this machine ({e})") from e
            raise ConfigError(
                "serve.port", port, f"a free port; {host}:{port} is in use", "serve.port=<another>"
            ) from e
