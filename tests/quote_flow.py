"""Helpers for API tests that take quotes through their life: users with tokens, an account,
and one-line calls for create, submit, approve, send and the customer's decision.

Used by the quote, order and billing API tests (import what you need; `env` is a fixture).
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlmodel import select

from catalog.store import load_demo_catalog, load_demo_price_books
from core.apikeys import create_key
from core.db import session_scope
from core.users import create_user
from rules.store import approval_levels, load_demo_rule_sets
from sales.models import Quote

API = "/api/v1"

PLAIN = [{"product": "SUP-MC-Y"}]                                  # needs no approval
MANAGER = [{"product": "SUP-MC-Y", "discount_percent": "20"}]      # sales_manager (stage 1)
VP = [{"product": "SUP-MC-Y", "discount_percent": "35"}]           # sales_manager, then vp_sales


# rep and their selling manager share a team; rep2 works alone (sees only their own quotes)
TEAMS = {"rep": "east", "rep_manager": "east"}


# ---- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture
def env(app, client):
    engine = app.extensions["cpq_engine"]
    tokens = {}
    with session_scope(engine) as session:
        load_demo_catalog(session)
        load_demo_price_books(session)
        load_demo_rule_sets(session)
        for key, role, levels in [("rep", "rep", ()), ("rep2", "rep", ()),
                                  ("rep_manager", "rep", ("sales_manager",)),
                                  ("manager", "approver", ("sales_manager",)),
                                  ("vp", "approver", ("vp_sales",)),
                                  ("finance", "finance", ("finance",)),
                                  ("nobody", "approver", ())]:
            _user, tokens[key] = create_user(session, f"{key}@example.com", key.replace("_", " ").title(),
                                             role, levels, defined_levels=approval_levels(session),
                                             team=TEAMS.get(key))
        admin, tokens["admin"] = create_user(session, "admin@example.com", "Admin", "admin")
        _key, tokens["erp"] = create_key(session, admin, "ERP", ["bom:read", "orders:read", "orders:write-status"])
    e = SimpleNamespace(client=client, engine=engine, tokens=tokens, settings=app.extensions["cpq_settings"])
    ok(call(e, "post", "/accounts", "rep", {
        "code": "ACME", "name": "Acme Corp", "currency": "USD", "segment": "enterprise",
        "billing_address": {"street": "1 Road", "city": "Austin", "country": "us"},
        "contacts": [{"name": "Jo Buyer", "email": "jo@acme.com", "primary": True}]}), 201)
    return e


def call(env, method, path, who="rep", body=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if who is not None:
        headers["Authorization"] = f"Bearer {env.tokens[who]}"
    if body is not None:
        kwargs["json"] = body
    elif method in ("post", "patch") and "data" not in kwargs:
        kwargs["json"] = {}
    return getattr(env.client, method)(f"{API}{path}", headers=headers, **kwargs)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def create(env, lines=PLAIN, who="rep", **header):
    return ok(call(env, "post", "/quotes", who, {"account": "ACME", "lines": lines, **header}), 201)


def act(env, number, action, who="rep", status=200, **body):
    return ok(call(env, "post", f"/quotes/{number}/{action}", who, body), status)


def approved(env, lines=PLAIN, **header):
    """A quote submitted and approved by everyone it needs (MANAGER and PLAIN lines only)."""
    number = create(env, lines, **header)["number"]
    quote = act(env, number, "submit")
    if quote["state"] == "pending_approval":
        quote = act(env, number, "approve", "manager", level="sales_manager")
    assert quote["state"] == "approved"
    return number


def sent(env, lines=PLAIN, **header):
    """(number, share link token) of an approved and sent quote."""
    number = approved(env, lines, **header)
    result = act(env, number, "send")
    assert result["quote"]["state"] == "sent"
    return number, result["share_link"]["token"]


def get(env, number, who="rep"):
    return ok(call(env, "get", f"/quotes/{number}", who))


def customer(env, token, action, status=200, **body):
    body = {"name": "Jo Buyer", "email": "jo@acme.com", **body}
    return env.client.post(f"{API}/shared/{token}/{action}", json=body)


def set_expires_on(env, number, day):
    with session_scope(env.engine) as session:
        quote = session.exec(select(Quote).where(Quote.number == number, Quote.latest)).one()
        quote.expires_on = day
        session.add(quote)


def year() -> int:
    return date.today().year
