"""Secrets the service must read back (webhook signing secrets), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) with the keys of
CPQ_ENCRYPTION_KEYS (Settings.encryption_keys): the first encrypts, every one decrypts
(MultiFernet), so a key is rotated by putting a new one first, running `cpq db reencrypt`,
then dropping the old one. Without that setting one key is derived from SECRET_KEY, so
`make run` and the tests need no setup. The derived key is also tried last when
CPQ_ENCRYPTION_KEYS is set, so what was written before that stays readable until re-encrypted.
A database dump alone reveals no secret.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import DomainError
from core.settings import Settings


class MissingKey(DomainError):
    """No SECRET_KEY to derive the encryption key from."""


class UnreadableSecret(DomainError):
    """A stored secret none of the keys decrypts (CPQ_ENCRYPTION_KEYS or SECRET_KEY changed)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key that stands in for CPQ_ENCRYPTION_KEYS: HKDF-SHA256 of SECRET_KEY, bound
    to this use so it never equals a key used for anything else."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cpq encryption at rest").derive(
        secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    def __init__(self, keys: Sequence[bytes | str]):
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Refuses to work without key material: a key derived from an empty SECRET_KEY would
        be known to everyone (the CLI reads no key unless given one)."""
        keys = [*settings.encryption_keys, *([derived_key(settings.secret_key)] if settings.secret_key else [])]
        if not keys:
            raise MissingKey("stored secrets are encrypted with CPQ_ENCRYPTION_KEYS or a key derived from "
                             "SECRET_KEY: set them as the web app has them (make run keeps SECRET_KEY in "
                             "var/secret_key)")
        return cls(keys)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("a stored secret cannot be decrypted with CPQ_ENCRYPTION_KEYS "
                                   "(or the key derived from SECRET_KEY); was a key dropped?") from None

    def reseal(self, sealed: str) -> str:
        """The same secret encrypted with the first key (for rotation)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("a stored secret cannot be decrypted with the configured keys") from None
