"""Pruning, quantisation and distillation: the ``compression`` config group's members."""
