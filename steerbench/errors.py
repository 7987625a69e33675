"""Errors that reach the user as one clear line (what was wrong, where, how to fix it)."""


class SteerbenchError(Exception):
    """Base class: the message is complete and is shown without a traceback."""


class ModelUnavailableError(SteerbenchError):
    """The requested model's weights cannot be found locally or downloaded."""


class ConfigError(SteerbenchError):
    """A configuration value (flag, YAML key, pyproject key) is invalid."""


class DataError(SteerbenchError):
    """An input data file is malformed; the message names file:line."""
