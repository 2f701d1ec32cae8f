"""A millisecond-long task for the sweeper tests: ``python tests/apps/quadratic/app.py -m ...``.

Returns ``-(x - 1)^2 - (y - 2)^2`` (maximum 0 at x=1, y=2) and writes it with ``x`` to
``metrics.json`` in the job's directory (for ``hydra.sweeper.objectives``); raises when
``x > raise_above``, returns NaN when ``x < nan_below``, sleeps ``sleep`` seconds, and
appends ``x y`` to ``log_file`` so tests can count what actually ran.
"""

import json
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> float | list[float]:
    if cfg.log_file:
        with Path(cfg.log_file).open("a") as f:
            f.write(f"{cfg.x} {cfg.y}\n")
    time.sleep(cfg.sleep)
    if cfg.raise_above is not None and cfg.x > cfg.raise_above:
        raise RuntimeError(f"x={cfg.x} is above raise_above={cfg.raise_above}")
    if cfg.nan_below is not None and cfg.x < cfg.nan_below:
        return float("nan")
    value = -((cfg.x - 1) ** 2) - (cfg.y - 2) ** 2
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "metrics.json").write_text(json.dumps({"objective": value, "x": cfg.x}))
    return value


if __name__ == "__main__":
    main()
