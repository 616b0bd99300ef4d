"""Who is calling: `Authorization: Bearer <token>` names a user (core.users).

Endpoints that act on quotes and accounts need a user, because the domain's rules depend on
who acts (owners, approval levels). A blueprint that needs one checks the token before
anything else (so a request without one gets a 401, whatever its body), and the views read
the user in their own session with `current_user`.
"""

from __future__ import annotations

from flask import current_app, g, request
from sqlmodel import Session

from api.errors import ApiError
from core.actor import current_actor
from core.db import session_scope
from core.users import User, authenticate


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with a valid user token",
                    {"Authorization": ["missing or invalid token"]})


def require_token(blp) -> None:
    """Make every route of `blp` need a valid user token (checked before the body is read)."""

    @blp.before_request
    def _authenticate():
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized()
        with session_scope(current_app.extensions["cpq_engine"]) as session:
            user = authenticate(session, token.strip())
            if user is None:
                raise _unauthorized()
            g.user_id = user.id
            current_actor.set(f"{user.name} <{user.email}>")


def current_user(session: Session) -> User:
    """The authenticated user, loaded in the view's session."""
    user = session.get(User, g.get("user_id")) if g.get("user_id") else None
    if user is None or not user.active:
        raise _unauthorized()
    return user


def require_role(user: User, *roles: str) -> User:
    if user.role not in roles and user.role != "admin":
        raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
    return user
