"""hydralit's Optuna sweeper: ``python run.py -m hydra/sweeper=optuna`` (or ``hparams_search=...``).

Hydra imports every module of a plugin package on every run (``--help`` included) while it
discovers plugins, except modules whose name starts with ``_``: ``config`` and
``optuna_sweeper`` import only Hydra, and everything that imports Optuna is in ``_*.py``,
imported when a sweep starts.
"""

__version__ = "0.1.0"
