"""Config schema and validation. Importing this package must stay cheap: no torch."""
