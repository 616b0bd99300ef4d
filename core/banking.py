"""Bank identifiers checked where they enter: IBAN (ISO 13616, mod 97) and BIC (ISO 9362),
and the mod-97 check that ISO 11649 creditor references share with the IBAN."""

from __future__ import annotations

import re

from core.errors import InvalidInput

_IBAN = re.compile(r"[A-Z]{2}\d{2}[0-9A-Z]{11,30}")
_BIC = re.compile(r"[A-Z]{6}[0-9A-Z]{2}(?:[0-9A-Z]{3})?")


def mod97(text: str) -> int:
    """`text` (letters and digits) as a number, letters as A=10 … Z=35, modulo 97."""
    return int("".join(str(int(c, 36)) for c in text)) % 97


def check_iban(iban: str, field: str = "iban") -> str:
    """The IBAN in electronic form, or InvalidInput naming why not."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN.fullmatch(compact) or mod97(compact[4:] + compact[:4]) != 1:
        raise InvalidInput(field, f"{iban!r} is not a valid IBAN")
    return compact


def check_bic(bic: str, field: str = "bic") -> str:
    compact = bic.replace(" ", "").upper()
    if not _BIC.fullmatch(compact):
        raise InvalidInput(field, f"{bic!r} is not a BIC (8 or 11 letters and digits)")
    return compact
