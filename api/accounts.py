"""/api/v1/accounts: customer accounts and contacts; import from a CSV, YAML or JSON file."""

from __future__ import annotations

import json

from flask import request

from api import sales_schemas as ss
from api.auth import caller
from api.blueprint import JSON_TYPES, YAML_TYPES, Blueprint, db_session, declared, empty_body
from api.idempotency import respond
from api.errors import ApiError
from sales import accounts

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Customer accounts and contacts")


def _may_set() -> frozenset[str]:
    """The controlled fields the caller may change: reps write accounts, not their credit
    limit, channel or price books (accounts.CONTROLLED)."""
    return frozenset(name for name, permission in accounts.CONTROLLED.items() if permission in caller().permissions)


def _outs(session, page) -> list[dict]:
    return [data | {"created_at": a.created_at, "updated_at": a.updated_at}
            for a, data in zip(page, accounts.account_dicts(session, page))]


def _out(session, account) -> dict:
    return _outs(session, [account])[0]


@blp.get("/accounts")
@blp.requires("accounts:read")
@blp.arguments(ss.AccountQuery, location="query")
@blp.response(200, ss.AccountOutSchema(many=True))
def list_accounts(query):
    with db_session() as session:
        return _outs(session, accounts.list_accounts(session, **query))


@blp.post("/accounts")
@blp.requires("accounts:write")
@blp.arguments(ss.AccountInSchema)
@blp.response(201, ss.AccountOutSchema)
def create_account(data):
    with db_session() as session:
        return respond(session, 201, lambda: (accounts.create_account(session, data, may_set=_may_set()), True),
                       lambda a: ss.AccountOutSchema().dump(_out(session, a)))


@blp.get("/accounts/<key(import):code>")
@blp.requires("accounts:read")
@blp.response(200, ss.AccountOutSchema)
def get_account(code):
    with db_session() as session:
        return _out(session, accounts.get_account(session, code))


@blp.patch("/accounts/<key(import):code>")
@blp.requires("accounts:write")
@blp.arguments(ss.AccountInSchema, required=False)
@blp.response(200, ss.AccountOutSchema)
def update_account(changes, code):
    with db_session() as session:
        return _out(session, accounts.update_account(session, code, changes, may_set=_may_set()))


@blp.post("/accounts/import")
@blp.requires("accounts:write")
@blp.response(200, ss.ImportResultSchema)
@blp.doc(requestBody={"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "minLength": 1}},
    "application/yaml": {"schema": {"type": "string", "minLength": 1}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}, "minItems": 1}}}})
def import_accounts():
    """Create or update accounts by code from a file's rows; nothing changes unless every row
    is valid (422 naming each bad row and field)."""
    declared(("text/csv", *JSON_TYPES, *YAML_TYPES))
    kind = {"text/csv": "import.csv", "application/json": "import.json"}.get(request.mimetype, "import.yaml")
    try:
        text = request.get_data().decode("utf-8")     # strict: a Latin-1 file is refused, not garbled
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_body", "the file is not UTF-8 text", {"body": ["not UTF-8"]})
    if not text.strip():
        raise empty_body("send the accounts as CSV, YAML or JSON")
    with db_session() as session:
        try:
            rows = accounts.parse_accounts_file(text, kind)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "malformed_body", f"the file cannot be read: {exc}", {"body": [str(exc)]})
        return accounts.import_accounts(session, rows, kind, may_set=_may_set())
