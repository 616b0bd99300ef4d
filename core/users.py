"""People who act on documents (reps, approvers, finance, admins) and their API tokens.

Every state change records who made it, and some rules depend on who that is (a rep cannot
approve their own quote; an approver acts only for the levels they hold), so the acting user
is a domain value, not a web detail. Tokens are shown once and stored as SHA-256 hashes:
they are random 256-bit secrets, so a slow password hash would add nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, SQLModel, select

from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.tokens import new_id, token_hash
from core.tokens import new_token as random_token

ROLES = ("rep", "approver", "finance", "admin")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "cpq_"


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    approval_levels: list = Field(default_factory=list, sa_type=JSON)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))

    def holds(self, level: str) -> bool:
        return self.active and (level in self.approval_levels or self.role == "admin")


def describe(actor: "User | str | None") -> str:
    """How an actor reads in audit trails: "Name <email>" for a user, else the text given
    (e.g. "customer Jo <jo@example.com>"), or "system"."""
    if isinstance(actor, User):
        return f"{actor.name} <{actor.email}>"
    return actor or "system"


def create_user(session: Session, email: str, name: str, role: str,
                approval_levels: tuple[str, ...] = ()) -> tuple[User, str]:
    """A new user and their API token (returned once; only its hash is kept)."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput("email", "is not an email address")
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise InvalidInput("name", "is required")
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise InvalidInput("email", f"{email} is already a user")
    token = TOKEN_PREFIX + random_token()
    user = User(email=email, name=name.strip(), role=role, approval_levels=sorted(set(approval_levels)),
                token_hash=token_hash(token))
    session.add(user)
    session.flush()
    return user, token


def new_token(session: Session, email: str) -> str:
    """Replace a user's token; the old one stops working at once."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"unknown user {email!r}")
    token = TOKEN_PREFIX + random_token()
    user.token_hash = token_hash(token)
    session.add(user)
    session.flush()
    return token


def authenticate(session: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    user = session.exec(select(User).where(User.token_hash == token_hash(token))).first()
    return user if user is not None and user.active else None


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"unknown user {user_id!r}")
    return user
