"""Errors in what a user gave us (a file, a dataset, a setting). Their messages name the culprit and the fix;
``mgd-sam2`` prints them without a traceback and exits with status 1."""

from __future__ import annotations


class UserError(Exception):
    """Base of the errors that are the input's fault, not the program's."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder that should exist does not."""


class ConfigError(UserError, ValueError):
    """A setting (flag or config value) that cannot work."""
