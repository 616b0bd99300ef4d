"""Domain and input errors as JSON responses with the status a client can act on.

Body: ``{"error": {"code", "message", "fields": {"selections.cpu": ["reason"]}, ...}}``.
Unknown things are 404, input that parses but is wrong is 422, an unparseable body is 400.
The handlers are registered app-wide (by the ``errors`` blueprint) so every API blueprint
shares them; the domain packages raise plain exceptions and never see HTTP.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Blueprint, jsonify
from limits.errors import StorageError

from api.documents import RETRY_AFTER
from api.schemas import ConflictSchema
from catalog.pricebook import PricingError
from configurator.encode import EncodingError
from configurator.engine import IncompleteConfiguration, InvalidConfiguration
from configurator.results import SelectionError
from rules.promotions import PromoLimitReached
from core.errors import (DomainError, Forbidden, ImmutableRecord, InvalidInput, InvalidTransition, NotFound,
                         VersionConflict)
from core.docstore import NotReady
from core.validation import DocumentValidationError

blp = Blueprint("errors", __name__)


class ApiError(Exception):
    """An error raised by the API layer itself (request parsing)."""

    def __init__(self, status: int, code: str, message: str,
                 fields: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str,
                   fields: Mapping[str, list[str]] | None = None, **extra: Any):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"selections.cpu": [...]}``; whole-body errors
    (``_schema``) are filed under the enclosing name, or ``body``."""
    if isinstance(messages, Mapping):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            if key == "_schema":
                name = prefix or "body"
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, reasons in flatten_messages(value, name).items():
                out.setdefault(field, []).extend(reasons)
        return out
    reasons = messages if isinstance(messages, list) else [messages]
    return {prefix or "body": [str(r) for r in reasons]}


@blp.app_errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = error_response(exc.status, exc.code, exc.message, exc.fields)
    response.headers.update(exc.headers)
    return response


@blp.app_errorhandler(StorageError)
def _rate_limit_store_down(exc: StorageError):
    return error_response(503, "unavailable", "the rate-limit store (CPQ_RATE_LIMIT_STORAGE) does not answer")


@blp.app_errorhandler(NotFound)
def _not_found(exc: NotFound):
    return error_response(404, "not_found", exc.message)


@blp.app_errorhandler(VersionConflict)
def _version_conflict(exc: VersionConflict):
    return error_response(409, "version_conflict", exc.message)


@blp.app_errorhandler(ImmutableRecord)
def _immutable(exc: ImmutableRecord):
    return error_response(409, "immutable", str(exc))


@blp.app_errorhandler(SelectionError)
def _selection_error(exc: SelectionError):
    return error_response(422, "invalid_selection", f"{exc.field}: {exc.reason}",
                          {exc.field: [exc.reason]})


@blp.app_errorhandler(InvalidInput)
def _invalid_input(exc: InvalidInput):
    code = "pricing_error" if isinstance(exc, PricingError) else "invalid_input"
    return error_response(422, code, str(exc), {exc.field: [exc.reason]})


@blp.app_errorhandler(InvalidTransition)
def _invalid_transition(exc: InvalidTransition):
    return error_response(409, "invalid_state", exc.message, state=exc.state)


@blp.app_errorhandler(NotReady)
def _document_pending(exc: NotReady):
    response = error_response(409, "document_pending", str(exc))
    response.headers["Retry-After"] = RETRY_AFTER
    return response


@blp.app_errorhandler(PromoLimitReached)
def _promo_limit(exc: PromoLimitReached):
    return error_response(409, "promo_limit_reached", exc.message)


@blp.app_errorhandler(DomainError)
def _domain_error(exc: DomainError):
    # the fallback for a domain error without a handler of its own: the caller's doing, not ours
    return error_response(422, "invalid_request", str(exc))


@blp.app_errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    return error_response(403, "forbidden", exc.message, {exc.field: [exc.message]} if exc.field else None)


@blp.app_errorhandler(InvalidConfiguration)
def _invalid_configuration(exc: InvalidConfiguration):
    return error_response(422, "invalid_configuration",
                          f"the selections violate the product rules: {exc}",
                          {"selections": [c.message for c in exc.conflicts]},
                          conflicts=ConflictSchema(many=True).dump(exc.conflicts))


@blp.app_errorhandler(IncompleteConfiguration)
def _incomplete_configuration(exc: IncompleteConfiguration):
    reason = "not every attribute is decided: " + ", ".join(exc.undecided)
    return error_response(422, "incomplete_configuration", reason, {"selections": [reason]},
                          undecided=list(exc.undecided))


@blp.app_errorhandler(EncodingError)
def _too_complex(exc: EncodingError):
    # e.g. an objective to minimise that the engine cannot compile within its limits
    return error_response(422, "too_complex", str(exc))


@blp.app_errorhandler(DocumentValidationError)
def _invalid_document(exc: DocumentValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        fields.setdefault(error.path or exc.kind, []).append(error.reason)
    name = "product model" if exc.kind == "model" else exc.kind.replace("_", " ")
    return error_response(422, f"invalid_{exc.kind}", f"the {name} is invalid", fields)
