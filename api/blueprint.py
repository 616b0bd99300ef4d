"""The flask-smorest Blueprint every API module uses, and its request-body parser.

The parser reports errors in this API's format (fields named by dotted path) instead of
webargs' nested messages. It reads a non-empty body as JSON whatever its Content-Type when the
caller sends an Authorization header, so ``curl -d '{...}'`` without a type is not silently
treated as an empty request; anyone else must say what they send (`declared`).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from functools import wraps
from typing import Iterable, Iterator

import flask_smorest
from flask_smorest.utils import resolve_schema_instance
from flask import request
from sqlmodel import Session
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import NotFound

from api.auth import requires
from api.context import app_engine, app_settings  # noqa: F401  (app_settings re-exported: API and page modules take it from here)
from api.errors import ApiError, flatten_messages
from core.db import session_scope
from core.permissions import PUBLIC
from core.validation import DocumentValidationError, parse_json, parse_yaml, text_problem

LOCATIONS = ("json", "query", "path", "view_args", "form", "headers", "cookies", "files")


JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def declared(types: tuple[str, ...]) -> None:
    """Refuse a body that does not say it is one of `types`, unless the caller sent an
    Authorization header. Without one, the request may come from a browser, and a cross-site
    form or beacon can send text/plain, form-encoded, multipart or untyped bodies with the
    browser's cookies, never these types: read anyway, a forged form would sign the victim in
    to the attacker's account (login CSRF) or act with their session."""
    if "Authorization" in request.headers or request.mimetype in types:
        return
    raise ApiError(415, "unsupported_media_type", f"send the body with Content-Type: {types[0]}",
                   {"Content-Type": [f"must be {', '.join(types[:-1])} or {types[-1]}" if len(types) > 1
                                     else f"must be {types[0]}"]})


def invalid(fields: dict[str, list[str]], status: int = 422) -> ApiError:
    """The error for input that was read but is wrong, each reason under its field's name."""
    summary = "; ".join(f"{name}: {' '.join(reasons)}" for name, reasons in fields.items())
    return ApiError(status, "validation_error", summary, fields)


def refuse_unstorable(pairs: Iterable[tuple[str, str]], where: str) -> None:
    """422 naming each (name, text) pair whose name or text core.validation.text_problem
    refuses (under `where` when it is the name)."""
    fields: dict[str, list[str]] = {}
    for name, text in pairs:
        if reason := text_problem(name):
            fields.setdefault(where, []).append(reason)
        elif reason := text_problem(text):
            fields.setdefault(name, []).append(reason)
    if fields:
        raise invalid(fields)


def check_request_text() -> None:
    """Before every view (api/app.py), after the credentials: text no database stores in the
    path names nothing (404); in a query parameter or a header it is a 422 naming it. Bodies
    are checked where they are read (read_json, parse_yaml, the customer's forms)."""
    if text_problem(request.path):
        raise NotFound()
    refuse_unstorable(request.args.items(multi=True), "query")
    refuse_unstorable(request.headers.items(), "headers")


def read_json(raw: bytes | str):
    """A JSON body as plain data: 400 if it is not JSON, 422 naming each place that holds what
    core.validation.unsafe_values refuses (NUL, lone surrogates, nesting past its limit...)."""
    try:
        return parse_json(raw, "request body", "body")
    except DocumentValidationError as exc:
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            fields.setdefault(error.path or "body", []).append(error.reason)
        raise invalid(fields) from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}",
                       {"body": ["not valid JSON"]}) from None


class ApiParser(FlaskParser):
    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data.strip():
            return core.missing
        declared(JSON_TYPES)
        return read_json(data)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in LOCATIONS:
            messages = next(iter(messages.values()))  # webargs nests under the location
        raise invalid(flatten_messages(messages), error_status_code or 422)


def empty_body(send: str) -> ApiError:
    return ApiError(400, "empty_body", send, {"body": ["is empty"]})


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """flask-smorest's arguments, and a JSON body documented as required is required: a
        missing or blank one is a 400, not a request made of the schema's defaults. Actions
        whose every field is optional (submit, send...) say required=False."""
        # An instance, made once: given a class, webargs builds a new schema for every request.
        parse = super().arguments(resolve_schema_instance(schema), location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse

        def decorate(view):
            parsed = parse(view)

            @wraps(parsed)
            def with_body(*args, **kw):
                if not request.get_data(cache=True).strip():
                    raise empty_body("send the body as JSON")
                return parsed(*args, **kw)
            return with_body
        return decorate

    def creates(self, schema, *, found: str):
        """The answer of a POST that creates a `schema` through api.idempotency.respond, where
        the domain may find it made already (`found` says when): 201, or 200 with that one."""
        def decorate(view):
            return self.alt_response(200, schema=schema, description=found)(self.response(201, schema)(view))
        return decorate

    def requires(self, permission: str):
        """The permission a view needs (checked by api/auth.py before anything else), also
        shown in the OpenAPI document as its security requirement and `x-permission`."""
        if permission == PUBLIC:
            doc = {"security": []}
        else:
            doc = {"security": [{"bearer": []}, {"session": []}], "x-permission": permission,
                   "responses": {"401": {"description": "no or invalid credentials"},
                                 "403": {"description": f"the caller lacks {permission}"}}}

        def decorate(view):
            return requires(permission)(self.doc(**doc)(view))
        return decorate


#: how views that take a whole document (JSON, or YAML by Content-Type) document their body
DOCUMENT_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}},
                                               "application/yaml": {"schema": {"type": "object"}}}}


def json_or(content_type: str, schema_component: str) -> dict:
    """The 200 response of a view that answers JSON (the named schema) or, on request, CSV or
    YAML (the same data), for `Blueprint.doc(responses=...)`."""
    same = {"$ref": f"#/components/schemas/{schema_component}"}
    return {"200": {"content": {"application/json": {"schema": same},
                                content_type: {"schema": same if "yaml" in content_type else {"type": "string"}}}}}


def document_body(kind: str):
    """The request body as plain data: YAML when the Content-Type says so, else JSON."""
    text = request.get_data(cache=True, as_text=True)
    if not text.strip():
        raise empty_body("send the document as JSON or YAML")
    declared(JSON_TYPES + YAML_TYPES)
    if request.mimetype in YAML_TYPES:
        return parse_yaml(text, "request body", kind)
    return read_json(text)


@contextmanager
def db_session() -> Iterator[Session]:
    """A unit of work on the app's database for one request, API view or page.

    Objects stay readable after the commit (``expire_on_commit`` off) because flask-smorest
    dumps the view's return value, and a page renders its template, after the session has
    finished.
    """
    with session_scope(app_engine()) as session:
        session.expire_on_commit = False
        yield session
