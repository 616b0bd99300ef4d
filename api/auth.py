"""Who is calling: `Authorization: Bearer <token>` names a user (core.users).

Endpoints that act on quotes need a user, because the domain's rules depend on who acts
(owners, approval levels). Missing or unknown credentials get a 401 JSON error.
"""

from __future__ import annotations

from flask import request
from sqlmodel import Session

from api.errors import ApiError
from core.users import User, authenticate


def current_user(session: Session) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = authenticate(session, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        error = ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with a valid user token",
                         {"Authorization": ["missing or invalid token"]})
        raise error
    return user


def require_role(user: User, *roles: str) -> User:
    if user.role not in roles and user.role != "admin":
        raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
    return user
