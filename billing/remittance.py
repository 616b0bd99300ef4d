"""How a customer's bank transfer finds its invoice: the invoice's structured creditor
reference (ISO 11649, "RF…"), printed on the invoice, carried in the e-invoice (BT-83) and in
the EPC069-12 QR code ("GiroCode") that a banking app scans to fill in the transfer; the bank
statement import (billing/bank_import.py) reads it back.

ISO 11649: "RF", two check digits, then up to 21 letters and digits; valid when the
reference moved behind its first four characters, letters as numbers (A=10 … Z=35), leaves
1 modulo 97 (the IBAN's check). An invoice's reference is its number without separators
("INV-2026-00042" → RF.. INV202600042), so a person can read one off the other.
"""

from __future__ import annotations

import re
from decimal import Decimal

from core.banking import check_bic, check_iban, mod97
from core.errors import InvalidInput

_BODY = re.compile(r"[0-9A-Z]{1,21}")
# a reference as a word: electronic (RF18539007547034) or printed in groups of four
_WORDS = re.compile(r"(?<![0-9A-Z])RF\d{2}(?:[0-9A-Z]{1,21}|(?: [0-9A-Z]{4}){0,5}(?: [0-9A-Z]{1,4})?)(?![0-9A-Z])")


def creditor_reference(body: str) -> str:
    """The RF reference of `body` (letters and digits, at most 21), in its electronic form."""
    body = re.sub(r"[^0-9A-Za-z]", "", body).upper()
    if not _BODY.fullmatch(body):
        raise InvalidInput("payment_reference", f"{body!r}: an ISO 11649 reference holds 1 to 21 letters and digits")
    return f"RF{98 - mod97(body + 'RF00'):02d}{body}"


def invoice_reference(number: str) -> str:
    """The reference a customer quotes when paying invoice `number`."""
    return creditor_reference(number)


def is_reference(text: str) -> bool:
    text = text.replace(" ", "").upper()
    return bool(re.fullmatch(r"RF\d{2}[0-9A-Z]{1,21}", text)) and mod97(text[4:] + text[:4]) == 1


def printed(reference: str) -> str:
    """The print form: groups of four ("RF18 5390 0754 7034")."""
    return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4))


def references_in(text: str) -> list[str]:
    """The valid RF references in a remittance text, electronic or printed. A printed one
    followed by more groups of characters ("RF18 5390 0754 7034 2026") is the longest run of
    its groups that checks."""
    found = []
    for match in _WORDS.finditer(text.upper()):
        head, *groups = match.group().split(" ")
        for end in range(len(groups), -1, -1):
            candidate = head + "".join(groups[:end])
            if is_reference(candidate):
                found.append(candidate)
                break
    return found


# ---- EPC069-12: the SEPA credit transfer QR code ----------------------------------------------

MAX_EPC_AMOUNT = Decimal("999999999.99")


def epc_payload(name: str, iban: str, amount: Decimal, reference: str, bic: str = "") -> str:
    """The text of an EPC069-12 version 002 QR code for a SEPA credit transfer in euros of
    `amount` to `name`/`iban`, with the structured `reference` (the unstructured text line
    stays empty: one or the other). Version 002 lets the BIC be left out inside the EEA."""
    if not Decimal("0.01") <= amount <= MAX_EPC_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("amount", f"{amount} EUR cannot be paid by a SEPA QR code (0.01 to 999999999.99)")
    lines = ["BCD", "002", "1", "SCT", check_bic(bic) if bic else "", name[:70], check_iban(iban),
             f"EUR{amount:f}", "", reference, ""]
    return "\n".join(lines).rstrip("\n")


def qr_svg(payload: str) -> str:
    """The payload as an SVG QR code (error correction M, as EPC069-12 asks), for a document."""
    import segno  # only where a document shows one

    return segno.make(payload, error="m", micro=False, boost_error=False).svg_inline(scale=3, border=4)
