"""Where and how a run executes: the ``hardware`` config group's runtime side.

- :mod:`src.hardware.resolvers`: world size, per-device/effective batch and scaled lr as config
  interpolations (no torch import; registered while the config is composed).
- :mod:`src.hardware.checks`: checks run by ``validate`` before torch is imported.
- :mod:`src.hardware.runtime`: process-wide settings and ``torch.compile``, applied by the builders.
- :mod:`src.hardware.launcher`: DDP/FSDP ranks that re-run exactly this Hydra job.
- :mod:`src.experiments.rank` (not here: it is an entry point) is what those extra ranks run.
"""
