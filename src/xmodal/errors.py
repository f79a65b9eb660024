"""Exceptions that the command line turns into one clear line and exit code 2."""

from __future__ import annotations


class XmodalError(Exception):
    """A user-facing error: bad input, bad configuration, impossible protocol."""


class DataError(XmodalError):
    """A data file that cannot be used; the message names file, subject and key."""


class UnsafePickleError(DataError):
    """A pickle that references anything but numpy arrays and builtin containers."""


class ConfigError(XmodalError):
    """An unknown or inconsistent option."""


class ShapeError(XmodalError, ValueError):
    """Model inputs whose shapes do not match what the model was built for."""
