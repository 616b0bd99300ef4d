"""People who act on documents (reps, approvers, finance, admins), their passwords and
API tokens.

Every state change records who made it, and some rules depend on who that is (a rep cannot
approve their own quote; an approver acts only for the levels they hold), so the acting user
is a domain value, not a web detail. Tokens are shown once and stored as SHA-256 hashes:
they are random 256-bit secrets, so a slow hash would add nothing. Passwords are chosen by
people, so they get Argon2id (argon2-cffi), rehashed when its parameters are raised.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import JSON, Field, Session, select
from zxcvbn import zxcvbn

from core.actor import current_actor
from core.db import Table, utcnow
from core.errors import InvalidInput, NotFound
from core.permissions import ROLE_PERMISSIONS, permissions_of
from core.tokens import new_id, token_hash
from core.tokens import new_token as random_token

ROLES = tuple(ROLE_PERMISSIONS)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "cpq_"
MIN_PASSWORD = 12
#: the zxcvbn score a password needs (0-4): 3 is "safely unguessable" by an online attacker,
#: which length alone is not ("password1234", "aaaaaaaaaaaa" and twelve spaces are 12 long)
MIN_STRENGTH = 3
#: zxcvbn's own bound: it refuses longer input (and would be slow on it); the first 72
#: characters are never stronger than the whole password
_ESTIMATED_LENGTH = 72
#: how an approval level id reads (rule sets name levels this way, catalog.loader.ID_RE)
LEVEL_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class User(Table, table=True):
    __tablename__ = "app_user"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    approval_levels: list = Field(default_factory=list, sa_type=JSON)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    password_hash: str | None = Field(default=None, max_length=200)
    # reps see their own quotes and those of reps in the same team
    team: str | None = Field(default=None, max_length=64, index=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))

    def holds(self, level: str) -> bool:
        return self.active and (level in self.approval_levels or self.role == "admin")

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.role) if self.active else frozenset()


def describe(actor: "User | str | None") -> str:
    """How an actor reads in audit trails: "Name <email>" for a user (or the API key they act
    through), else the text given (e.g. "customer Jo <jo@example.com>"), or "system"."""
    if isinstance(actor, User):
        person = f"{actor.name} <{actor.email}>"
        acting = current_actor.get()          # e.g. "API key 'ERP' of <person>", set by the API
        return acting if acting.endswith(f" of {person}") else person
    return actor or "system"


def check_levels(levels: Collection[str], defined: Collection[str]) -> list[str]:
    """The approval levels to give a user, sorted. Each must be one the active rule sets
    define (`defined`, which core cannot read itself): any other would never be asked for,
    and a typo would silently approve nothing."""
    for i, level in enumerate(levels):
        if not isinstance(level, str) or not LEVEL_RE.match(level):
            raise InvalidInput(f"approval_levels[{i}]", "must be a level id such as sales_manager")
        if level not in defined:
            known = ", ".join(sorted(defined)) or "none yet (load a rule set first)"
            raise InvalidInput(f"approval_levels[{i}]", f"{level!r} is not an approval level; the rule sets define {known}")
    return sorted(set(levels))


def create_user(session: Session, email: str, name: str, role: str,
                approval_levels: Collection[str] = (), *, defined_levels: Collection[str] = (),
                team: str | None = None, password: str | None = None) -> tuple[User, str]:
    """A new user and their API token (returned once; only its hash is kept). Approval levels
    must be among `defined_levels` (rules.store.approval_levels)."""
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
    user = User(email=email, name=name.strip(), role=role, approval_levels=check_levels(approval_levels, defined_levels),
                token_hash=token_hash(token), team=(team or "").strip() or None)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user, token


def find_user(session: Session, email: str) -> User:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"unknown user {email!r}")
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD} characters")
    if password.strip().lower() in (user.email, user.name.lower()):
        raise InvalidInput("password", "must not be the user's email or name")
    estimate = zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=[user.email, user.name, *user.email.split("@")])
    if estimate["score"] < MIN_STRENGTH:
        advice = estimate["feedback"]["warning"] or " ".join(estimate["feedback"]["suggestions"])
        raise InvalidInput("password", f"is too easy to guess{': ' + advice if advice else ''}")
    user.password_hash = _hasher.hash(password)


def check_password(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, else None (in the same time either way)."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
    return user


def new_token(session: Session, email: str) -> str:
    """Replace a user's token; the old one stops working at once."""
    user = find_user(session, email)
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


def update_user(session: Session, user_id: str, changes: dict, defined_levels: Collection[str] = ()) -> User:
    """Change a user's name, role, levels (among `defined_levels`), team, password or whether
    they are active. A role or deactivation takes effect at their next request (sessions and
    keys included)."""
    user = get_user(session, user_id)
    was_admin = user.active and user.role == "admin"
    if "role" in changes:
        if changes["role"] not in ROLES:
            raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
        user.role = changes["role"]
    if "name" in changes:
        if not changes["name"].strip():
            raise InvalidInput("name", "is required")
        user.name = changes["name"].strip()
    if "approval_levels" in changes:
        user.approval_levels = check_levels(changes["approval_levels"], defined_levels)
    if "team" in changes:
        user.team = (changes["team"] or "").strip() or None
    if "active" in changes:
        user.active = bool(changes["active"])
    if changes.get("password") is not None:
        set_password(user, changes["password"])
    if was_admin and not (user.active and user.role == "admin") and not session.exec(
            select(User.id).where(User.role == "admin", User.active, User.id != user.id)).first():
        field = "active" if not user.active else "role"
        raise InvalidInput(field, f"{user.email} is the last active admin; make another admin first")
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.email)))
