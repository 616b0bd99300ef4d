"""Share-link tokens: 256 random bits, shown once, stored only as their SHA-256, so the
database alone cannot open a document."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
