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


class InvalidInput(DomainError, ValueError):
    """A caller's value is wrong; `field` names it (dotted path) and `reason` says why."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class InvalidTransition(DomainError):
    """An action that the document's current state does not allow (e.g. sending a draft)."""

    def __init__(self, document: str, state: str, action: str, reason: str = ""):
        message = f"{document} is {state.replace('_', ' ')}: cannot {action}"
        super().__init__(message + (f" ({reason})" if reason else ""))
        self.message = str(self)
        self.state = state
        self.action = action


class Forbidden(DomainError):
    """The acting user may not do this (e.g. approve their own quote); `field` names the
    input that asked for it, when one did."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
