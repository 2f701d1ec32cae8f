"""The error a sweep raises for input the user can fix, before any trial runs."""


class SweepConfigError(ValueError):
    """A ``hydra.sweeper`` setting is wrong: names the key, the value and the fix."""

    def __init__(self, key: str, value: object, problem: str, fix: str) -> None:
        super().__init__(f"hydra.sweeper.{key}={value!r}: {problem}. Fix: {fix}")
