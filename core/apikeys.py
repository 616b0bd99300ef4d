"""API keys: how systems (an ERP, a CRM) call the API without a person's credentials.

A key belongs to the user who made it and acts as that user, but only within its scopes: its
permissions are its scopes that the owner's role also grants, so a key can never do more than
its owner (and loses what the owner loses); nor can it send more requests than its owner
(its rate limit is within the per-user one), and a user has at most MAX_ACTIVE_KEYS keys. The
secret is shown once; only its SHA-256 is stored, with a short prefix kept in clear so people
can tell their keys apart.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import sqlalchemy as sa
from limits import parse as parse_limit
from sqlmodel import JSON, Field, Session, select

from core.db import Table, aware, timestamp, utcnow
from core.errors import InvalidInput, NotFound
from core.permissions import KEY_SCOPES, PERSON_ONLY
from core.settings import Settings
from core.tokens import new_token, token_hash
from core.users import User

KEY_PREFIX = "cpqk_"
DEFAULT_RATE_LIMIT = "600/minute"
MAX_ACTIVE_KEYS = 20
_RATE_RE = re.compile(r"^\d+/(second|minute|hour|day)$")


class ApiKey(Table, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    owner_id: str = Field(foreign_key="app_user.id", index=True, max_length=32)
    key_hash: str = Field(max_length=64, unique=True)
    display: str = Field(max_length=16)              # "cpqk_AbCd…", to tell keys apart
    scopes: list = Field(default_factory=list, sa_type=JSON)
    rate_limit: str = Field(default=DEFAULT_RATE_LIMIT, max_length=32)
    created_at: datetime = timestamp()
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def check_rate_limit(value: str, owner_limit: str) -> str:
    """A key's rate limit, at most its owner's (`owner_limit`, Settings.rate_limit)."""
    value = value.strip().replace(" per ", "/")
    if not _RATE_RE.match(value) or parse_limit(value).amount < 1:
        raise InvalidInput("rate_limit", "must look like 600/minute (per second, minute, hour or day)")
    if not within(value, owner_limit):
        raise InvalidInput("rate_limit", f"may not exceed the owner's limit of {owner_limit}")
    return value


def within(limit: str, ceiling: str) -> bool:
    """Whether `limit` lets no more requests through than `ceiling` in a window of the
    ceiling's length: 20/second and 1200/hour are within 1200/minute, 21/second is not."""
    item, top = parse_limit(limit), parse_limit(ceiling)
    return item.amount * max(1, math.ceil(top.get_expiry() / item.get_expiry())) <= top.amount


def rate_limit_of(key: ApiKey, owner_limit: str) -> str:
    """The limit a key's requests are counted against: its own, unless it was made beyond what
    its owner may do now (an older key, or a lowered CPQ_RATE_LIMIT)."""
    return key.rate_limit if within(key.rate_limit, owner_limit) else owner_limit


def create_key(session: Session, owner: User, name: str, scopes: list[str], rate_limit: str = DEFAULT_RATE_LIMIT,
               *, owner_limit: str = Settings.rate_limit) -> tuple[ApiKey, str]:
    """A new key and its secret (returned once)."""
    if not name.strip():
        raise InvalidInput("name", "is required")
    if not scopes:
        raise InvalidInput("scopes", "name at least one scope")
    person_only = sorted(set(scopes) & PERSON_ONLY)
    if person_only:
        raise InvalidInput("scopes", f"{person_only[0]} is for people only; an API key cannot carry it")
    unknown = sorted(set(scopes) - set(KEY_SCOPES))
    if unknown:
        raise InvalidInput("scopes", f"unknown scope {unknown[0]!r}; scopes are {', '.join(KEY_SCOPES)}")
    beyond = sorted(set(scopes) - owner.permissions)
    if beyond:
        raise InvalidInput("scopes", f"{owner.email} ({owner.role}) does not hold {', '.join(beyond)}")
    rate_limit = check_rate_limit(rate_limit, owner_limit)
    active = session.exec(select(sa.func.count()).select_from(ApiKey).where(
        ApiKey.owner_id == owner.id, ApiKey.revoked_at.is_(None))).one()
    if active >= MAX_ACTIVE_KEYS:
        raise InvalidInput("owner", f"{owner.email} has {active} active API keys, the most a user may have; "
                                    "revoke one first")
    secret = KEY_PREFIX + new_token()
    key = ApiKey(name=name.strip(), owner_id=owner.id, key_hash=token_hash(secret), display=secret[:9] + "…",
                 scopes=sorted(set(scopes)), rate_limit=rate_limit)
    session.add(key)
    session.flush()
    return key, secret


def key_permissions(key: ApiKey, owner: User) -> frozenset[str]:
    return (frozenset(key.scopes) & owner.permissions) - PERSON_ONLY if key.active else frozenset()


def authenticate_key(session: Session, secret: str) -> tuple[ApiKey, User] | None:
    """The active key with this secret and its owner, else None. Notes when it was last used
    (at most once a minute, so reads do not turn into a write each)."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == token_hash(secret))).first()
    if key is None or not key.active:
        return None
    owner = session.get(User, key.owner_id)
    if owner is None or not owner.active:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - aware(key.last_used_at)).total_seconds() > 60:
        key.last_used_at = now
        session.add(key)
    return key, owner


def keys_of(session: Session, owner: User | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if owner is not None:
        query = query.where(ApiKey.owner_id == owner.id)
    return list(session.exec(query))


def revoke_key(session: Session, key_id: int, actor: User) -> ApiKey:
    """Stop a key at once. Owners revoke their own keys; `users:manage` revokes any."""
    key = session.get(ApiKey, key_id)
    if key is None or (key.owner_id != actor.id and "users:manage" not in actor.permissions):
        raise NotFound(f"unknown API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key
