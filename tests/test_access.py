"""Who may call what: every endpoint of the app against every role (and API keys), the
policy itself for the endpoints that matter most, per-object visibility, API keys, web
sessions with CSRF, and rate limits."""

from __future__ import annotations

from dataclasses import replace

import re

import pytest
from limits import parse as parse_limit
from sqlmodel import select
from werkzeug.routing import AnyConverter, IntegerConverter

from api import identity
from api.auth import permission_of
from billing.tax import load_demo_tax_rates
from core.apikeys import MAX_ACTIVE_KEYS, ApiKey, create_key
from core.db import session_scope
from core.errors import InvalidInput
from core.permissions import PERMISSIONS, PUBLIC, ROLE_PERMISSIONS, SIGNED_IN
from core.settings import DEFAULT_DEMO_DIR
from core.users import User, create_user
from sales.accounts import Account
from quote_flow import call, create, customer, env, error_of, ok, sent  # noqa: F401

pytestmark = pytest.mark.postgres

ROLES = tuple(ROLE_PERMISSIONS)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _endpoints(app):
    """(method, url, endpoint, permission) for every route, with placeholder arguments."""
    out = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        values = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                values[name] = 987654
            elif isinstance(converter, AnyConverter):
                values[name] = sorted(converter.items)[0]
            else:
                values[name] = "nothing-here"
        url = adapter.build(rule.endpoint, values)
        with app.test_request_context(url):
            permission = permission_of(rule.endpoint)
        for method in sorted(rule.methods & set(METHODS)):
            out.append((method, url, rule.endpoint, permission))
    return out


@pytest.fixture
def callers(app):
    """A token for every role, and two API keys of an admin (one narrow, one broad)."""
    tokens = {}
    with session_scope(app.extensions["cpq_engine"]) as session:
        for role in ROLES:
            user, tokens[role] = create_user(session, f"{role}@matrix.example", role.title(), role)
        _key, tokens["key:bom"] = create_key(session, user, "bom only", ["bom:read"])
    return tokens


def test_every_endpoint_declares_a_permission_that_exists(app):
    undeclared = [(m, url) for m, url, _e, p in _endpoints(app) if p is None]
    assert undeclared == []
    known = set(PERMISSIONS) | {PUBLIC, SIGNED_IN}
    assert {p for *_rest, p in _endpoints(app)} <= known


def test_the_whole_matrix_of_roles_and_endpoints(app, client, callers):
    """Each role is refused (401/403) exactly where its permissions say so, before the body is
    read; where it is let through, the answer is anything but 401/403/5xx."""
    failures = []
    for method, url, endpoint, permission in _endpoints(app):
        for who in (None, *ROLES, "key:bom"):
            headers = {"Authorization": f"Bearer {callers[who]}"} if who else {}
            response = client.open(url, method=method, headers=headers, json={})
            status = response.status_code
            if who is None:
                granted = permission == PUBLIC
                refused = {302} if endpoint.startswith("pages.") else {401}     # pages send you to sign in
            else:
                held = ROLE_PERMISSIONS["admin"] & {"bom:read"} if who == "key:bom" else ROLE_PERMISSIONS[who]
                granted = permission in (PUBLIC, SIGNED_IN) or permission in held
                refused = {403}
            if status >= 500:
                failures.append(f"{who} {method} {url}: {status}")
            elif granted and status in (401, 403) and not _refused_by_domain(endpoint, who, response):
                failures.append(f"{who} {method} {url}: {status} but {permission} is granted")
            elif not granted and status not in refused:
                failures.append(f"{who} {method} {url}: {status}, expected {refused} for {permission}")
    assert failures == []


def _refused_by_domain(endpoint: str, who, response) -> bool:
    """Refusals that are not about the permission: keys may not manage keys or users."""
    message = response.get_json()["error"]["message"]
    return who == "key:bom" and "API keys cannot" in message


# the policy, stated: who may do the things that matter most -------------------------------------

POLICY = [
    # (method, path, roles allowed)
    ("POST", "/api/v1/quotes", {"rep", "admin"}),
    ("POST", "/api/v1/quotes/Q-1/approve", {"rep", "approver", "finance", "admin"}),  # levels decide further
    ("POST", "/api/v1/orders/O-1/release", {"finance", "admin"}),
    ("PUT", "/api/v1/orders/O-1/erp-number", {"admin"}),                 # ERP keys: orders:write-status
    ("POST", "/api/v1/payments", {"finance", "admin"}),
    ("GET", "/api/v1/collections/aging", {"finance", "admin"}),
    ("POST", "/api/v1/exchange-rates/import", {"finance", "admin"}),
    ("POST", "/api/v1/contracts/C-1/terminate", {"finance", "admin"}),
    ("POST", "/api/v1/pricebooks", {"admin"}),
    ("GET", "/api/v1/rulesets", {"rep", "approver", "finance", "admin"}),
    ("POST", "/api/v1/webhooks", {"admin"}),
    ("GET", "/api/v1/users", {"admin"}),
    ("POST", "/api/v1/import", {"admin"}),
    ("GET", "/api/v1/export", {"finance", "admin"}),
    ("GET", "/api/v1/quotes", {"rep", "approver", "finance", "admin"}),
    ("GET", "/api/v1/quote-requests", {"rep", "admin"}),               # requesters' details, for who quotes
    ("POST", "/api/v1/usage", {"finance", "admin"}),                   # metering systems: keys with usage:write
    ("GET", "/api/v1/accounts/ACME/usage", {"rep", "finance", "admin"}),
    ("POST", "/api/v1/usage/rate", {"finance", "admin"}),
    ("GET", "/api/v1/mail", {"finance", "admin"}),                     # the outbox holds customers' links
    ("POST", "/api/v1/quotes/Q-1/email", {"rep", "admin"}),
]


@pytest.mark.parametrize("method, path, allowed", POLICY)
def test_the_policy_for_sensitive_endpoints(client, callers, method, path, allowed):
    for role in ROLES:
        status = client.open(path, method=method, json={},
                             headers={"Authorization": f"Bearer {callers[role]}"}).status_code
        assert (status != 403) == (role in allowed), f"{role} {method} {path}: {status}"


def test_customers_reach_only_public_endpoints(app, client, callers):
    for method, url, _e, permission in _endpoints(app):
        if permission not in (PUBLIC, SIGNED_IN):
            status = client.open(url, method=method, json={},
                                 headers={"Authorization": f"Bearer {callers['customer']}"}).status_code
            assert status == 403, f"{method} {url}"


def test_an_undeclared_endpoint_is_refused_to_everyone(app, client, callers):
    @app.get("/undeclared")
    def undeclared():
        return {"secret": True}

    for who in (None, "admin"):
        headers = {"Authorization": f"Bearer {callers[who]}"} if who else {}
        assert client.get("/undeclared", headers=headers).status_code == 403


def test_credentials_are_checked_before_the_body(client):
    response = client.post("/api/v1/quotes", data="{not json", headers={"Content-Type": "application/json"})
    assert error_of(response, 401)["code"] == "unauthorized"
    response = client.get("/api/v1/quotes", headers={"Authorization": "Bearer cpq_wrong"})
    assert error_of(response, 401)["fields"] == {"Authorization": ["missing or invalid credentials"]}
    assert error_of(client.get("/api/v1/quotes", headers={"Authorization": "Basic eDp5"}), 401)


# objects: a rep sees their own and their team's ------------------------------------------------

def test_reps_see_their_own_and_their_teams_quotes_and_what_came_of_them(env):
    number, token = sent(env)                                    # owned by rep (team east)
    ok(customer(env, token, "accept"))
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)["number"]
    contract = ok(call(env, "post", "/contracts", "rep", {"quote": number}), 201)["number"]
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.billing_address = dict(account.billing_address, region="TX")
    invoice = ok(call(env, "post", f"/orders/{order}/invoices", "finance", {}), 201)["id"]
    mine = create(env, who="rep2")["number"]

    paths = [f"/quotes/{number}", f"/quotes/{number}/history", f"/quotes/{number}/pdf", f"/orders/{order}",
             f"/orders/{order}/bom", f"/contracts/{contract}", f"/invoices/{invoice}"]
    for path in paths:
        ok(call(env, "get", path, "rep"))                        # the owner
        ok(call(env, "get", path, "rep_manager"))                # same team (and a manager)
        ok(call(env, "get", path, "finance"))                    # oversight
        assert error_of(call(env, "get", path, "rep2"), 404)["code"] == "not_found"
    error_of(call(env, "post", "/orders", "rep2", {"quote": number}), 404)
    error_of(call(env, "post", f"/orders/{order}/cancel", "rep2", {"reason": "x"}), 404)

    listed = {q["number"] for q in ok(call(env, "get", "/quotes", "rep2"))}
    assert listed == {mine}
    assert number in {q["number"] for q in ok(call(env, "get", "/quotes", "rep"))}
    assert mine not in {q["number"] for q in ok(call(env, "get", "/quotes", "rep"))}
    assert ok(call(env, "get", "/orders", "rep2")) == []
    assert ok(call(env, "get", "/invoices", "rep2")) == []
    assert [o["number"] for o in ok(call(env, "get", "/orders", "rep"))] == [order]


def test_a_team_member_sees_but_only_the_owner_changes(env):
    with session_scope(env.engine) as session:
        _user, env.tokens["teammate"] = create_user(session, "mate@example.com", "Mate", "rep", team="east")
    number = create(env)["number"]
    assert ok(call(env, "get", f"/quotes/{number}", "teammate"))["number"] == number
    error = error_of(call(env, "patch", f"/quotes/{number}", "teammate", {"title": "mine"}), 403)
    assert "owner" in error["message"]


def test_reps_see_the_erps_status_on_the_quote(env):
    number, token = sent(env)
    ok(customer(env, token, "accept"))
    assert ok(call(env, "get", f"/quotes/{number}"))["fulfilment"] == []
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)["number"]
    ok(call(env, "put", f"/orders/{order}/erp-number", "erp", {"erp_order_number": "SAP-77"}))
    ok(call(env, "put", f"/orders/{order}/lines/1/status", "erp", {"status": "in_production"}))
    fulfilment = ok(call(env, "get", f"/quotes/{number}"))["fulfilment"]
    assert [(f["number"], f["erp_order_number"]) for f in fulfilment] == [(order, "SAP-77")]
    assert fulfilment[0]["lines"][0]["status"] == "in_production"


# API keys ----------------------------------------------------------------------------------

def test_a_key_acts_as_its_owner_within_its_scopes(env):
    number, token = sent(env)
    ok(customer(env, token, "accept"))
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)["number"]
    ok(call(env, "get", f"/orders/{order}/bom", "erp"))
    ok(call(env, "get", "/erp/orders", "erp"))
    assert error_of(call(env, "get", "/quotes", "erp"), 403)["message"].endswith("quotes:read")
    assert error_of(call(env, "post", "/api-keys", "erp", {"name": "x", "scopes": ["bom:read"]}), 403)
    history = ok(call(env, "get", f"/orders/{order}/history", "admin"))
    ok(call(env, "put", f"/orders/{order}/erp-number", "erp", {"erp_order_number": "E-1"}))
    history = ok(call(env, "get", f"/orders/{order}/history", "admin"))
    assert history[-1]["actor"].startswith("API key 'ERP' of Admin")


def test_keys_are_shown_once_stored_hashed_and_never_exceed_their_owner(env):
    made = ok(call(env, "post", "/api-keys", "rep", {"name": "crm", "scopes": ["quotes:read"],
                                                       "rate_limit": "100/minute"}), 201)
    secret = made["secret"]
    assert secret.startswith("cpqk_") and made["key"]["display"] == secret[:9] + "…"
    listed = ok(call(env, "get", "/api-keys", "rep"))
    assert [k["name"] for k in listed] == ["crm"] and "secret" not in listed[0]
    with session_scope(env.engine) as session:
        stored = session.exec(select(ApiKey).where(ApiKey.name == "crm")).one()
        assert secret not in (stored.key_hash, stored.display)
    error = error_of(call(env, "post", "/api-keys", "rep", {"name": "x", "scopes": ["payments:write"]}), 422)
    assert "does not hold payments:write" in error["fields"]["scopes"][0]
    error = error_of(call(env, "post", "/api-keys", "rep", {"name": "x", "scopes": ["nope"]}), 422)
    assert "scopes[0]" in error["fields"]

    env.tokens["crm"] = secret
    ok(call(env, "get", "/quotes", "crm"))
    ok(call(env, "delete", f"/api-keys/{made['key']['id']}", "rep"))
    error_of(call(env, "get", "/quotes", "crm"), 401)
    error_of(call(env, "delete", f"/api-keys/{made['key']['id']}", "rep2"), 404)   # not theirs


def test_a_key_loses_what_its_owner_loses(env):
    made = ok(call(env, "post", "/api-keys", "finance", {"name": "bank", "scopes": ["payments:read"]}), 201)
    env.tokens["bank"] = made["secret"]
    ok(call(env, "get", "/accounts/ACME/ledger", "bank"))
    finance_id = ok(call(env, "get", "/session", "finance"))["user"]["id"]
    ok(call(env, "patch", f"/users/{finance_id}", "admin", {"role": "rep"}))
    error_of(call(env, "get", "/accounts/ACME/ledger", "bank"), 403)
    ok(call(env, "patch", f"/users/{finance_id}", "admin", {"active": False}))
    error_of(call(env, "get", "/accounts/ACME/ledger", "bank"), 401)
    error_of(call(env, "get", "/session", "finance"), 401)


def test_rate_limits_per_key_answer_429_with_retry_after(env):
    made = ok(call(env, "post", "/api-keys", "rep", {"name": "tight", "scopes": ["quotes:read"],
                                                       "rate_limit": "3/minute"}), 201)
    env.tokens["tight"] = made["secret"]
    answers = [call(env, "get", "/quotes", "tight") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    error = error_of(answers[3], 429)
    assert error["code"] == "rate_limited" and int(answers[3].headers["Retry-After"]) >= 1
    ok(call(env, "get", "/quotes", "rep"))                      # the owner's own budget is separate
    error = error_of(call(env, "post", "/api-keys", "rep", {"name": "x", "scopes": ["quotes:read"],
                                                           "rate_limit": "lots"}), 422)
    assert "rate_limit" in error["fields"]


def test_a_keys_rate_limit_is_at_most_its_owners(env):
    """Issue 16: a rep minted a key allowed 1000000000 requests a second."""
    def make(rate_limit):
        return call(env, "post", "/api-keys", "rep", {"name": "k", "scopes": ["quotes:read"], "rate_limit": rate_limit})

    for beyond in ("1000000000/second", "21/second", "1201/minute", "1201/hour", "100000/day"):
        error = error_of(make(beyond), 422)
        assert "owner's limit of 1200/minute" in error["fields"]["rate_limit"][0], beyond
    for within in ("20/second", "1200/minute", "1200/hour", "600/minute"):
        assert ok(make(within), 201)["key"]["rate_limit"] == within


def test_a_key_made_beyond_its_owners_limit_is_counted_at_the_owners(env):
    """Keys stored before the check (or a lowered CPQ_RATE_LIMIT) are held to the owner's limit."""
    made = ok(call(env, "post", "/api-keys", "rep", {"name": "old", "scopes": ["quotes:read"]}), 201)
    with session_scope(env.engine) as session:
        session.get(ApiKey, made["key"]["id"]).rate_limit = "1000000000/second"
    env.tokens["old"] = made["secret"]
    assert call(env, "get", "/quotes", "old").headers["X-RateLimit-Limit"] == "1200"


def test_a_user_has_a_bounded_number_of_active_keys(env):
    made = [ok(call(env, "post", "/api-keys", "rep", {"name": f"k{n}", "scopes": ["quotes:read"]}), 201)
            for n in range(MAX_ACTIVE_KEYS)]
    refused = error_of(call(env, "post", "/api-keys", "rep", {"name": "one more", "scopes": ["quotes:read"]}), 422)
    assert "revoke one first" in refused["fields"]["owner"][0]
    ok(call(env, "post", "/api-keys", "rep2", {"name": "another user's", "scopes": ["quotes:read"]}), 201)
    ok(call(env, "delete", f"/api-keys/{made[0]['key']['id']}", "rep"))
    ok(call(env, "post", "/api-keys", "rep", {"name": "one more", "scopes": ["quotes:read"]}), 201)


def test_no_key_reads_or_manages_users(env):
    """Issue 16: a key scoped users:manage listed and read every user, though keys cannot manage users."""
    error = error_of(call(env, "post", "/api-keys", "admin", {"name": "hr", "scopes": ["users:manage"]}), 422)
    assert "scopes[0]" in error["fields"]
    with session_scope(env.engine) as session:
        admin = session.exec(select(User).where(User.email == "admin@example.com")).one()
        with pytest.raises(InvalidInput, match="people only"):
            create_key(session, admin, "hr", ["users:manage"])
        key, env.tokens["hr"] = create_key(session, admin, "hr", ["quotes:read"])
        key.scopes = ["quotes:read", "users:manage"]                   # as a key made before the fix
    someone = ok(call(env, "get", "/session", "rep"))["user"]["id"]
    for method, path in (("get", "/users"), ("get", f"/users/{someone}"), ("post", "/users"),
                         ("patch", f"/users/{someone}")):
        assert error_of(call(env, method, path, "hr"), 403)["code"] == "forbidden", path
    assert "users:manage" not in ok(call(env, "get", "/session", "hr"))["permissions"]
    ok(call(env, "get", "/quotes", "hr"))


# users, passwords and web sessions ------------------------------------------------------------

def _add_user(env, password="correct horse battery", **extra):
    body = {"email": "pat@example.com", "name": "Pat", "role": "rep", "password": password, **extra}
    return ok(call(env, "post", "/users", "admin", body), 201)


def test_the_last_active_admin_cannot_lock_everyone_out(env):
    me = ok(call(env, "get", "/session", "admin"))["user"]["id"]
    assert "active" in error_of(call(env, "patch", f"/users/{me}", "admin", {"active": False}), 422)["fields"]
    assert "role" in error_of(call(env, "patch", f"/users/{me}", "admin", {"role": "rep"}), 422)["fields"]
    other = _add_user(env, role="admin")
    assert ok(call(env, "patch", f"/users/{me}", "admin", {"role": "rep"}))["role"] == "rep"     # another admin
    refused = env.client.patch(f"/api/v1/users/{other['user']['id']}", json={"active": False},
                               headers={"Authorization": f"Bearer {other['token']}"})
    assert "active" in error_of(refused, 422)["fields"]


def test_admins_manage_users_and_passwords_are_hashed_with_argon2(env):
    made = _add_user(env, team="west")
    assert made["token"].startswith("cpq_") and made["user"]["has_password"] is True
    assert made["user"]["team"] == "west" and "password" not in made["user"]
    with session_scope(env.engine) as session:
        stored = session.exec(select(User).where(User.email == "pat@example.com")).one()
        assert stored.password_hash.startswith("$argon2id$")
    assert "password" in error_of(call(env, "post", "/users", "admin", {
        "email": "short@example.com", "name": "S", "role": "rep", "password": "short"}), 422)["fields"]
    error_of(call(env, "post", "/users", "rep", {"email": "x@example.com", "name": "X", "role": "admin"}), 403)
    assert "role" in error_of(call(env, "post", "/users", "admin", {
        "email": "r@example.com", "name": "R", "role": "king"}), 422)["fields"]


@pytest.mark.parametrize("levels", [["sales_director"], ["sales_manager\n"], ["\x1b[31mvp"], ["VP_SALES"], [""]])
def test_approval_levels_are_those_the_rule_sets_define(env, levels):
    """Issue 16: any string (control characters too) was stored as a level; a level no rule
    set defines is never asked for, so a typo approves nothing."""
    refused = error_of(call(env, "post", "/users", "admin", {"email": "lv@example.com", "name": "Lv", "role": "approver",
                                                            "approval_levels": levels}), 422)
    assert "approval_levels[0]" in refused["fields"], refused
    target = ok(call(env, "get", "/session", "nobody"))["user"]["id"]
    changed = error_of(call(env, "patch", f"/users/{target}", "admin", {"approval_levels": ["finance", *levels]}), 422)
    assert "approval_levels[1]" in changed["fields"], changed
    assert ok(call(env, "get", f"/users/{target}", "admin"))["approval_levels"] == []
    made = ok(call(env, "post", "/users", "admin", {"email": "lv@example.com", "name": "Lv", "role": "approver",
                                                    "approval_levels": ["vp_sales", "deal_desk", "vp_sales"]}), 201)
    assert made["user"]["approval_levels"] == ["deal_desk", "vp_sales"]


def test_sign_in_sets_a_session_cookie_and_unsafe_requests_need_the_csrf_token(env):
    _add_user(env)
    client = env.client
    wrong = client.post("/api/v1/session", json={"email": "pat@example.com", "password": "nope nope nope"})
    assert error_of(wrong, 401)["code"] == "unauthorized"
    signed = client.post("/api/v1/session", json={"email": "PAT@example.com", "password": "correct horse battery"})
    assert signed.status_code == 201
    cookie = signed.headers["Set-Cookie"]
    assert "cpq_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    csrf = signed.get_json()["csrf_token"]
    assert signed.get_json()["via"] == "session"

    assert client.get("/api/v1/quotes").status_code == 200                     # reads need no token
    body = {"account": "ACME", "lines": [{"product": "SUP-MC-Y"}]}
    refused = client.post("/api/v1/quotes", json=body)
    assert error_of(refused, 403)["code"] == "csrf"
    assert error_of(client.post("/api/v1/quotes", json=body, headers={"X-CSRF-Token": "forged"}), 403)
    made = client.post("/api/v1/quotes", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.get_json()["owner"]

    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/quotes").status_code == 401


FORM_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]


@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_a_body_sent_without_an_authorization_header_must_say_it_is_json(env, content_type):
    """What a cross-site form (or beacon) can send with the browser's cookies: text/plain,
    form-encoded, multipart or no type, never application/json. Read as JSON, a forged form
    would sign the victim in to the attacker's account (login CSRF) or act with their cookie."""
    _add_user(env, role="admin")
    client = env.client
    sign_in = '{"email": "pat@example.com", "password": "correct horse battery"}'
    forged = client.post("/api/v1/session", data=sign_in, content_type=content_type)
    assert error_of(forged, 415)["fields"] == {"Content-Type": ["must be application/json"]}
    assert "Set-Cookie" not in forged.headers
    csrf = ok(client.post("/api/v1/session", data=sign_in, content_type="application/json"), 201)["csrf_token"]
    body = '{"account": "ACME", "lines": [{"product": "SUP-MC-Y"}]}'
    refused = client.post("/api/v1/quotes", data=body, content_type=content_type, headers={"X-CSRF-Token": csrf})
    assert error_of(refused, 415)["code"] == "unsupported_media_type"
    yaml_refused = client.post("/api/v1/pricebooks/validate", data="pricebook: x", content_type=content_type,
                               headers={"X-CSRF-Token": csrf})
    assert error_of(yaml_refused, 415)["fields"] == {
        "Content-Type": ["must be application/json, application/yaml, application/x-yaml, text/yaml or text/x-yaml"]}
    # a caller with an Authorization header cannot be a forged form: curl -d needs no type
    token = {"Authorization": f"Bearer {env.tokens['rep']}"}
    assert client.post("/api/v1/quotes", data=body, content_type=content_type, headers=token).status_code == 201


def test_a_cross_site_session_cookie_is_secure_and_partitioned(app, env):
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], cookie_samesite="None")
    _add_user(env)
    signed = env.client.post("/api/v1/session", json={"email": "pat@example.com", "password": "correct horse battery"})
    cookie = signed.headers["Set-Cookie"]
    assert all(part in cookie for part in ("SameSite=None", "Secure", "Partitioned", "HttpOnly")), cookie
    gone = env.client.delete("/api/v1/session", headers={"X-CSRF-Token": signed.get_json()["csrf_token"]})
    assert "SameSite=None" in gone.headers["Set-Cookie"] and "Expires=Thu, 01 Jan 1970" in gone.headers["Set-Cookie"]


def _sign_in(env, password, source="192.0.2.1", email="pat@example.com"):
    """A sign-in from `source`, in a browser of its own (no session cookie yet)."""
    return env.client.application.test_client().post("/api/v1/session", json={"email": email, "password": password},
                           environ_overrides={"REMOTE_ADDR": source})


def test_failed_sign_ins_are_limited_per_source_and_email(env):
    assert (identity.FAILURES_PER_SOURCE.amount, identity.FAILURES_PER_EMAIL_AND_SOURCE.amount) == (50, 10)
    _add_user(env)
    assert [_sign_in(env, "wrong password!").status_code for _ in range(10)] == [401] * 10
    locked = _sign_in(env, "correct horse battery")            # over: even the right password waits
    assert error_of(locked, 429)["code"] == "rate_limited" and "Retry-After" in locked.headers
    assert _sign_in(env, "wrong password!", email="rep@example.com").status_code == 401   # another email


@pytest.fixture
def few_failures(monkeypatch):
    """Smaller sign-in limits (each attempt costs an Argon2 hash): 6 per source, 3 per email."""
    monkeypatch.setattr(identity, "FAILURES_PER_SOURCE", parse_limit("6/15 minutes"))
    monkeypatch.setattr(identity, "FAILURES_PER_EMAIL_AND_SOURCE", parse_limit("3/15 minutes"))


def test_failures_from_elsewhere_never_refuse_the_right_password(env, few_failures):
    """Issue 16: ten wrong passwords for someone's email, from anywhere, locked them out."""
    _add_user(env)
    for attacker in range(3):
        assert [_sign_in(env, "wrong password!", f"203.0.113.{attacker}").status_code for _ in range(4)] == \
            [401, 401, 401, 429]
    assert _sign_in(env, "correct horse battery", source="198.51.100.7").status_code == 201


def test_failures_are_limited_per_source_whatever_the_email(env, few_failures):
    _add_user(env)
    for n in range(6):
        assert _sign_in(env, "wrong password!", email=f"guess{n}@example.com").status_code == 401
    assert error_of(_sign_in(env, "correct horse battery"), 429)["code"] == "rate_limited"
    assert _sign_in(env, "correct horse battery", source="192.0.2.2").status_code == 201


def test_successful_sign_ins_are_not_counted(env, few_failures):
    _add_user(env)
    assert [_sign_in(env, "correct horse battery").status_code for _ in range(4)] == [201] * 4
    assert _sign_in(env, "wrong password!").status_code == 401


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", " " * 12, "password1234", "123456789012", "qwertyuiop12"])
def test_guessable_passwords_are_refused(env, password):
    """Issue 16: length alone let these through."""
    refused = error_of(call(env, "post", "/users", "admin", {"email": "pat@example.com", "name": "Pat", "role": "rep",
                                                            "password": password}), 422)
    assert "password" in refused["fields"]
    someone = ok(call(env, "get", "/session", "rep2"))["user"]["id"]
    assert "password" in error_of(call(env, "patch", f"/users/{someone}", "admin", {"password": password}),
                                  422)["fields"]


def test_whoami_names_the_caller_and_their_permissions(env):
    me = ok(call(env, "get", "/session", "rep"))
    assert me["via"] == "token" and me["user"]["email"] == "rep@example.com"
    assert set(me["permissions"]) == ROLE_PERMISSIONS["rep"] and me["csrf_token"] is None
    key = ok(call(env, "get", "/session", "erp"))
    assert key["via"] == "key" and set(key["permissions"]) == {"bom:read", "orders:read", "orders:write-status"}


def test_the_openapi_document_names_each_operations_permission(client):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/orders/{number}/bom"]["get"]
    assert operation["x-permission"] == "bom:read"
    assert operation["security"] == [{"bearer": []}, {"session": []}]
    assert spec["paths"]["/api/v1/products"]["get"]["security"] == []
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session"}
    assert all(re.match(r"^[a-z-]+:[a-z-]+$|^signed-in$", op["x-permission"])
               for path in spec["paths"].values() for op in path.values()
               if isinstance(op, dict) and "x-permission" in op)
