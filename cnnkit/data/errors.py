"""Exceptions of the data layer; each message says what was found, what was expected and the fix."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A file is not in the format its name promises (wrong magic, truncated, wrong shape)."""


class ChecksumError(DataFormatError):
    """A file parses but its sha256 differs from the registry's: a different or corrupted copy."""


class DataNotFoundError(FileNotFoundError):
    """No complete copy of a data set was found, and downloading was not possible or not allowed."""
