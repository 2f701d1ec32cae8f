"""The job side of an Optuna sweep: attach to the study, report each epoch, prune, fail on NaN.

The sweeper (``hydra_plugins/hydralit_optuna_sweeper``) passes ``optuna.{study_name, storage,
trial, monitor, prune}`` to every job; ``cfg.optuna`` is null in ordinary runs.
"""
