"""Data: sources return arrays, one in-memory DataModule splits, normalises and serves them."""
