"""Credentials for API tests: users, their tokens, API keys."""

from __future__ import annotations

from core.db import session_scope
from core.users import create_user


def sign_as(app, client, role: str = "admin", **user):
    """Make `client` send a new `role` user's token on every request (returns the token)."""
    with session_scope(app.extensions["cpq_engine"]) as session:
        _user, token = create_user(session, user.pop("email", f"{role}-default@example.com"),
                                   user.pop("name", f"Default {role}"), role, **user)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return token
