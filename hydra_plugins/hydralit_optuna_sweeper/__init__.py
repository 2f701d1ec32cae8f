"""hydralit's Optuna sweeper: ``python run.py -m hydra/sweeper=optuna`` (or ``hparams_search=...``).

Optuna is imported only when a sweep starts; Hydra imports this package on every run while it
discovers plugins, so nothing heavy may be imported at module level here.
"""

__version__ = "0.1.0"
