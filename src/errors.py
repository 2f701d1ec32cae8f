"""Errors a user can fix. The entry point prints them as one line and exits non-zero."""


class UserError(Exception):
    """A mistake in the user's config, command line or files, with a message saying the fix."""


class ConfigError(UserError):
    """A config value is wrong: names the key, the value, what is allowed and how to fix it."""

    def __init__(self, key: str, value: object, expected: str, fix: str | None = None) -> None:
        self.key, self.value, self.expected = key, value, expected
        msg = f"{key}={value!r}: expected {expected}."
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)


class DataError(UserError):
    """A data set cannot be loaded (missing files, no network)."""


def user_error_in(error: BaseException) -> UserError | None:
    """The :class:`UserError` behind ``error``, if any: Hydra and OmegaConf wrap what a
    ``_target_`` or a resolver raised (e.g. a data file that a config value is read from)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, UserError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None
