"""hydralit: declarative, config-driven deep-learning experiments (Hydra + Lightning)."""
