"""Random identifiers and secrets, and how secrets are stored.

Ids and tokens come from `secrets`, so they are unguessable. A secret (an API token, a share
link) is stored only as its SHA-256: 256 random bits need no slow password hash, and the
database alone cannot open anything.
"""

from __future__ import annotations

import hashlib
import secrets


def new_id() -> str:
    """A random, URL-safe, unguessable id (96 bits)."""
    return secrets.token_urlsafe(12)


def new_token() -> str:
    """A random, URL-safe secret (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
