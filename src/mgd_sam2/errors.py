"""Errors in what a user gave us (a file, a dataset, a setting). Their messages name the culprit and the fix;
``mgd-sam2`` prints them without a traceback and exits with status 1."""

from __future__ import annotations


class UserError(Exception):
    """Base of the errors that are the input's fault, not the program's."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder that should exist does not."""


class ConfigError(UserError, ValueError):
    """A setting (flag or config value) that cannot work."""


class DiskFullError(UserError, OSError):
    """A write that found no space left on its device; nothing partial was left behind."""


class NonFiniteError(UserError, ArithmeticError):
    """NaN or infinite values where a model must be finite: a diverged training run, or weights saved from one."""


def some_of(names: list[str], limit: int = 5) -> str:
    """``names`` for a one-line message: the first ``limit``, then how many more ("a, b, c and 4 more")."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
