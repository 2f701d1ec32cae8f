"""Helpers of the entry functions: plots, run summaries, checkpoint lookup."""
