"""/api/v1/session, /users and /api-keys: signing in and out, who am I, managing people and
the API keys systems use.

Signing in sets an HttpOnly session cookie (SameSite=Lax unless CPQ_COOKIE_SAMESITE says)
and returns the session's CSRF token. Failed attempts are limited per source address (50 in
15 minutes) and per source address and email (10), on top of the caller's own limit, so
passwords cannot be guessed quickly and nobody can lock out someone else. Keys and users are
managed by people only: `users:manage` is never a key's scope, and the key endpoints refuse
keys, so a leaked key cannot mint more.
"""

from __future__ import annotations

import time

from flask import current_app, make_response, request
from limits import parse as parse_limit

from api import integration_schemas as xs
from api.auth import SESSION_COOKIE, RateLimited, caller, client, current_user, person_only
from api.blueprint import Blueprint, app_settings, db_session
from api.errors import ApiError
from core import apikeys, websessions
from core.permissions import PUBLIC, SIGNED_IN
from core.users import User, create_user, get_user, list_users, update_user
from rules.store import approval_levels

blp = Blueprint("identity", __name__, url_prefix="/api/v1", description="Signing in, users and API keys")

#: Failed sign-ins allowed per source address, and per source address and email. Only
#: failures count, and only those from the caller's own address, so nobody elsewhere can lock a
#: user out: a per-email limit let anyone do that, and then refused the right password too.
FAILURES_PER_SOURCE = parse_limit("50/15 minutes")
FAILURES_PER_EMAIL_AND_SOURCE = parse_limit("10/15 minutes")


def _failure_counters(email: str) -> list[tuple]:
    source = client()[0]
    return [(FAILURES_PER_SOURCE, "sign-in-failures", source),
            (FAILURES_PER_EMAIL_AND_SOURCE, "sign-in-failures", source, email.strip().lower())]


def _refuse_when_over(counters: list[tuple]) -> None:
    """429 while this source has failed too often (checked before the password, so a
    guesser learns nothing more once over)."""
    limiter = current_app.extensions["cpq_rate_limits"].limiter
    for limit, *who in counters:
        if not limiter.test(limit, *who):
            retry = max(1, int(limiter.get_window_stats(limit, *who).reset_time - time.time()) + 1)
            scope = "from this address" if len(who) == 2 else "for this email from this address"
            raise RateLimited(f"{limit.amount} failed sign-ins per 15 minutes {scope}", retry, {})


def _count_failure(counters: list[tuple]) -> None:
    limiter = current_app.extensions["cpq_rate_limits"].limiter
    for limit, *who in counters:
        limiter.hit(limit, *who)


def _whoami(user: User, csrf: str | None) -> dict:
    who = caller()
    return {"user": user, "via": who.via, "permissions": sorted(who.permissions), "csrf_token": csrf}


@blp.post("/session")
@blp.requires(PUBLIC)
@blp.arguments(xs.SignInSchema)
@blp.response(201, xs.WhoAmISchema)
def sign_in(data):
    """Sign in with email and password: sets the session cookie and returns the CSRF token."""
    counters = _failure_counters(data["email"])
    _refuse_when_over(counters)
    with db_session() as session:
        signed = websessions.sign_in(session, data["email"], data["password"], *client())
        if signed is None:
            _count_failure(counters)
            raise ApiError(401, "unauthorized", "the email or the password is wrong", {"password": ["wrong"]})
        web, token = signed
        user = session.get(User, web.user_id)
        body = {"user": user, "via": "session", "permissions": sorted(user.permissions), "csrf_token": web.csrf_token}
    response = make_response(xs.WhoAmISchema().dump(body), 201)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(websessions.ABSOLUTE.total_seconds()), **_cookie())
    return response


def _cookie() -> dict:
    """The session cookie's attributes (CPQ_COOKIE_SAMESITE). SameSite=None needs Secure, and
    is Partitioned (CHIPS): a session begun in a CRM's frame belongs to that CRM's site."""
    samesite = app_settings().cookie_samesite
    cross_site = samesite == "None"
    return {"httponly": True, "secure": request.is_secure or cross_site, "partitioned": cross_site,
            "samesite": samesite, "path": "/"}


@blp.get("/session")
@blp.requires(SIGNED_IN)
@blp.response(200, xs.WhoAmISchema)
def whoami():
    """The caller: user, how they authenticated, their permissions (and CSRF token in a session)."""
    with db_session() as session:
        user = current_user(session)
        web = session.get(websessions.WebSession, caller().session_id) if caller().session_id else None
        return _whoami(user, web.csrf_token if web else None)


@blp.delete("/session")
@blp.requires(SIGNED_IN)
@blp.response(204)
def sign_out():
    """End the browser session (a token or key caller has none; nothing happens)."""
    with db_session() as session:
        if caller().session_id:
            websessions.sign_out(session, session.get(websessions.WebSession, caller().session_id))
    response = make_response("", 204)
    response.delete_cookie(SESSION_COOKIE, **_cookie())
    return response


# users ---------------------------------------------------------------------------------------

@blp.get("/users")
@blp.requires("users:manage")
@blp.response(200, xs.UserSchema(many=True))
def users():
    with db_session() as session:
        return list_users(session)


@blp.post("/users")
@blp.requires("users:manage")
@blp.arguments(xs.UserCreateSchema)
@blp.response(201, xs.NewUserSchema)
def add_user(data):
    """A new user; their API token is in this answer only."""
    with db_session() as session:
        user, token = create_user(session, data["email"], data["name"], data["role"], data["approval_levels"],
                                  defined_levels=approval_levels(session), team=data["team"],
                                  password=data["password"])
        return {"user": user, "token": token}


@blp.patch("/users/<user_id>")
@blp.requires("users:manage")
@blp.arguments(xs.UserChangeSchema, required=False)
@blp.response(200, xs.UserSchema)
def change_user(data, user_id):
    """Change role, levels, team, name or password, or deactivate (effective at once)."""
    with db_session() as session:
        return update_user(session, user_id, data, approval_levels(session))


@blp.get("/users/<user_id>")
@blp.requires("users:manage")
@blp.response(200, xs.UserSchema)
def user(user_id):
    with db_session() as session:
        return get_user(session, user_id)


# API keys ------------------------------------------------------------------------------------

@blp.get("/api-keys")
@blp.requires(SIGNED_IN)
@blp.response(200, xs.ApiKeySchema(many=True))
def keys():
    """The caller's keys (every key, for `users:manage`)."""
    person_only()
    with db_session() as session:
        user = current_user(session)
        return apikeys.keys_of(session, None if "users:manage" in user.permissions else user)


@blp.post("/api-keys")
@blp.requires(SIGNED_IN)
@blp.arguments(xs.ApiKeyInSchema)
@blp.response(201, xs.NewApiKeySchema)
def new_key(data):
    """A key acting as the caller within `scopes` (each must be a permission the caller has).
    The secret is in this answer only."""
    person_only()
    with db_session() as session:
        key, secret = apikeys.create_key(session, current_user(session), data["name"], data["scopes"],
                                         data["rate_limit"], owner_limit=app_settings().rate_limit)
        return {"key": key, "secret": secret}


@blp.delete("/api-keys/<int:key_id>")
@blp.requires(SIGNED_IN)
@blp.response(200, xs.ApiKeySchema)
def revoke_key(key_id):
    """Revoke a key at once (yours, or any with `users:manage`); revoking again is harmless."""
    person_only()
    with db_session() as session:
        return apikeys.revoke_key(session, key_id, current_user(session))
