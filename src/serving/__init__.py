"""Serving an exported model over HTTP (``python run.py mode=serve serve.artefact=<folder>``)."""
