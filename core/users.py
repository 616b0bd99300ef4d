"""People who act on documents (reps, approvers, finance, admins) and their API tokens.

Every state change records who made it, and some rules depend on who that is (a rep cannot
approve their own quote; an approver acts only for the levels they hold), so the acting user
is a domain value, not a web detail. Tokens are shown once and stored as SHA-256 hashes:
they are random 256-bit secrets, so a slow password hash would add nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, SQLModel, select

from core.db import utcnow
from core.errors import InvalidInput, NotFound

ROLES = ("rep", "approver", "finance", "admin")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "cpq_"


def new_id() -> str:
    """A random, URL-safe, unguessable id (96 bits)."""
    return secrets.token_urlsafe(12)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
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
