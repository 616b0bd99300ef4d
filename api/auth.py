"""Who is calling, what they may call, and how often.

Three credentials name a caller: `Authorization: Bearer cpq_…` (a person's token),
`Authorization: Bearer cpqk_…` (an API key: its owner, narrowed to its scopes) and the
`cpq_session` cookie of a signed-in browser (state-changing requests must echo its CSRF
token). Every endpoint names the one permission it needs with `Blueprint.requires` (or
`PUBLIC`); one hook checks it before the request body is read, so a caller without it gets a
401 or 403 whatever they sent, and an endpoint that names nothing is refused to everyone
(deny by default). Which objects a permission reaches is the domain's business
(sales/access.py); the views ask it after loading the object.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from limits import parse as parse_limit
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlmodel import Session

from api.context import app_engine, app_settings
from api.errors import ApiError
from core import apikeys, websessions
from core.actor import current_actor
from core.db import session_scope
from core.permissions import PUBLIC, SIGNED_IN
from core.users import User, authenticate, describe

SESSION_COOKIE = "cpq_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: Flask-internal and documentation endpoints that need no declaration of their own.
_PUBLIC_BLUEPRINTS = ("api-docs",)


@dataclass(frozen=True)
class Caller:
    via: str                         # "token", "key", "session" or "anonymous"
    user_id: str | None = None
    permissions: frozenset[str] = frozenset()
    key_id: int | None = None
    session_id: int | None = None
    label: str = "anonymous"
    rate_limit: str = ""

    @property
    def scope(self) -> str:
        """What rate limits and idempotency keys are counted per."""
        if self.key_id is not None:
            return f"key:{self.key_id}"
        return f"user:{self.user_id}" if self.user_id else f"ip:{request.remote_addr}"


def requires(permission: str):
    """Mark a view with the permission it needs (see Blueprint.requires, which also documents it)."""

    def mark(view):
        view.permission = permission
        return view
    return mark


def permission_of(endpoint: str | None) -> str | None:
    if endpoint is None:
        return PUBLIC                                 # no route matched: the 404 handler answers
    if endpoint == "static" or endpoint.endswith(".static") or endpoint.partition(".")[0] in _PUBLIC_BLUEPRINTS:
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "permission", None)


def client() -> tuple[str, str]:
    """The caller's address and user agent, as signatures and sign-ins record them."""
    return request.remote_addr or "", request.headers.get("User-Agent", "")


def caller() -> Caller:
    return g.get("caller") or Caller("anonymous")


def current_user(session: Session) -> User:
    """The person the caller acts as (a key's owner), loaded in the view's session."""
    user_id = caller().user_id
    user = session.get(User, user_id) if user_id else None
    if user is None or not user.active:
        raise _unauthorized()
    return user


def person_only() -> None:
    """Refuse API keys (managing keys and users needs a person, so a leaked key cannot mint more)."""
    if caller().via == "key":
        raise ApiError(403, "forbidden", "API keys cannot do this; sign in or use a personal token")


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "send 'Authorization: Bearer <token or API key>' or sign in",
                    {"Authorization": ["missing or invalid credentials"]})


def _identify() -> Caller:
    """Who sends the request, by its credentials; one without any is anonymous, looked up in
    no database session."""
    header = request.headers.get("Authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is None and not cookie:
        return Caller("anonymous")
    with session_scope(app_engine()) as session:
        return _identify_in(session, header, cookie)


def _identify_in(session: Session, header: str | None, cookie: str | None) -> Caller:
    if header is not None:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise _unauthorized()
        if secret.startswith(apikeys.KEY_PREFIX):
            found = apikeys.authenticate_key(session, secret)
            if found is None:
                raise _unauthorized()
            key, owner = found
            return Caller("key", owner.id, apikeys.key_permissions(key, owner), key_id=key.id,
                          label=f"API key {key.name!r} of {describe(owner)}",
                          rate_limit=apikeys.rate_limit_of(key, app_settings().rate_limit))
        user = authenticate(session, secret)
        if user is None:
            raise _unauthorized()
        return Caller("token", user.id, user.permissions, label=describe(user))
    if cookie:
        found = websessions.resume(session, cookie)
        if found is not None:
            web, user = found
            if request.method in UNSAFE and not websessions.csrf_ok(
                    web, request.headers.get(CSRF_HEADER) or request.form.get("csrf_token")):
                raise ApiError(403, "csrf", f"send the session's CSRF token in {CSRF_HEADER}",
                               {CSRF_HEADER: ["missing or wrong"]})
            return Caller("session", user.id, user.permissions, session_id=web.id, label=describe(user))
    return Caller("anonymous")


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory store, dropping expired entries once a second. The library's own
    sweep runs 10 ms after a hit on a thread of its own, so under load nearly every request
    started a thread (0.4 ms of a configure request's 3.8 ms of CPU). Whether a hit is allowed
    never depends on the sweep (entries carry their times); it only frees memory. It replaces a
    private method of limits' MemoryStorage: tests/test_rate_limit_store.py fails if an upgrade
    renames the methods it relies on."""

    SWEEP_SECONDS = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's (name-mangled) method
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_SECONDS, self._MemoryStorage__expire_events)
            self.timer.daemon = True                  # a pending sweep never holds up the exit
            self.timer.start()


class RateLimits:
    """Requests per caller (API key, user, or address when anonymous) in a moving window, kept
    in memory or, for several processes, in Redis (CPQ_RATE_LIMIT_STORAGE=redis://…). Sign-in
    throttling (api/identity.py) counts in the same store. A store that fails raises
    StorageError (a 503, api/errors.py) rather than the driver's own exceptions."""

    def __init__(self, storage_uri: str, default: str, anonymous: str):
        storage = (SweptMemoryStorage(storage_uri, wrap_exceptions=True) if urlsplit(storage_uri).scheme == "memory"
                   else storage_from_string(storage_uri, wrap_exceptions=True))
        self.limiter = MovingWindowRateLimiter(storage)
        self.default, self.anonymous = default, anonymous

    def hit(self, who: Caller) -> dict[str, str]:
        text = who.rate_limit or (self.anonymous if who.via == "anonymous" else self.default)
        limit = parse_limit(text)
        allowed = self.limiter.hit(limit, who.scope)
        stats = self.limiter.get_window_stats(limit, who.scope)
        headers = {"X-RateLimit-Limit": str(limit.amount), "X-RateLimit-Remaining": str(stats.remaining)}
        if not allowed:
            retry = max(1, int(stats.reset_time - time.time()) + 1)
            raise RateLimited(text, retry, headers)
        return headers


class RateLimited(ApiError):
    def __init__(self, limit: str, retry_after: int, headers: dict[str, str]):
        super().__init__(429, "rate_limited", f"more than {limit}; retry in {retry_after} s",
                         headers=headers | {"Retry-After": str(retry_after)})


def init_app(app: Flask) -> None:
    settings = app_settings(app)
    limits = RateLimits(settings.rate_limit_storage, settings.rate_limit, settings.rate_limit_anonymous)
    app.extensions["cpq_rate_limits"] = limits

    @app.before_request
    def _authorize():
        permission = permission_of(request.endpoint)
        current_actor.set("anonymous")                 # until the credentials say otherwise
        who = _identify()
        g.caller = who
        current_actor.set(who.label)
        g.rate_headers = limits.hit(who) if app.config.get("RATE_LIMITS", True) else {}
        if permission is None:
            app.logger.error("endpoint %s declares no permission; refused", request.endpoint)
            raise ApiError(403, "forbidden", "this endpoint is not open to anyone")
        if permission == PUBLIC:
            return
        if who.via == "anonymous":
            raise _unauthorized()
        if permission != SIGNED_IN and permission not in who.permissions:
            raise ApiError(403, "forbidden", f"this needs the permission {permission}")

    @app.after_request
    def _rate_headers(response: Response) -> Response:
        for name, value in g.get("rate_headers", {}).items():
            response.headers.setdefault(name, value)
        return response
