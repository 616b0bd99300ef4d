"""Domain errors shared by every package.

They carry no HTTP or CLI knowledge: the API maps them to status codes (api/errors.py) and
the CLI to messages, so the same failure reads the same everywhere.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a caller can cause (as opposed to bugs)."""


class NotFound(DomainError, LookupError):
    """Something a caller named (product, model version, configuration) does not exist."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class VersionConflict(DomainError):
    """A model version is already stored with different content; versions are immutable."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ImmutableRecord(DomainError):
    """An attempt to change a row that is written once and never updated."""
