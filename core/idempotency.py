"""Idempotency keys: a client that retries a create (after a timeout, say) gets the first
answer again instead of a second order or payment.

A key is scoped to its caller and the route. The same key with the same body replays the
stored response; the same key with a different body is refused. The stored row is written in
the same transaction as the thing created, so a failed request leaves no key behind and can
be retried.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from core.db import Table, utcnow
from core.errors import InvalidInput


class IdempotencyKey(Table, table=True):
    __tablename__ = "idempotency_key"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=200)          # caller and route, e.g. "user:abc POST /api/v1/orders"
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status: int
    body: dict | list | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


def find(session: Session, scope: str, key: str, request_hash: str) -> IdempotencyKey | None:
    """The stored answer for this key, or None if it is new; a reuse with another body is an
    error naming the header."""
    row = session.exec(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                    IdempotencyKey.key == key)).first()
    if row is not None and row.request_hash != request_hash:
        raise InvalidInput("Idempotency-Key", "this key was used with a different request body")
    return row


def remember(session: Session, scope: str, key: str, request_hash: str, status: int, body) -> None:
    session.add(IdempotencyKey(scope=scope, key=key, request_hash=request_hash, status=status, body=body))
    session.flush()
