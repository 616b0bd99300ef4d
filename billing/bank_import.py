"""Bank statements in, payments out: each credit line of a statement (ISO 20022 camt.053 XML,
or a CSV export) is kept once as a BankTransaction; when its remittance names an invoice (the
RF creditor reference printed on it and carried in its QR code, else the invoice number), the
payment is recorded against that invoice (billing/payments.py), what exceeds its balance
staying on the account as credit. A line that names no invoice, or one of another currency,
stays `unmatched` with the reason, for finance to match by hand (`match`).

Importing a statement again is harmless: a line whose bank reference is known is skipped,
and the payment's reference is the bank's, so it is never recorded twice either.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree
from sqlmodel import Session, select

from billing import payments, remittance
from billing.models import BankTransaction, Invoice
from core.db import lock_row
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.money import ZERO, CurrencyError, currency
from sales.accounts import Account

CSV_COLUMNS = ("id", "date", "amount", "currency", "remittance")     # and optionally "payer"
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


@dataclass(frozen=True)
class Line:
    """A credit on the statement: what the bank says, before it is matched."""
    bank_ref: str
    booked_on: date
    amount: Decimal
    currency: str
    remittance: str = ""
    payer: str = ""


@dataclass
class Report:
    matched: list[dict] = field(default_factory=list)
    unmatched: list[dict] = field(default_factory=list)
    known: int = 0                                    # lines imported before


# ---- reading statements ----------------------------------------------------------------------

def read(content: bytes, media_type: str) -> list[Line]:
    """The credit lines of a statement: camt.053 when it is XML, else CSV."""
    if "xml" in media_type or content.lstrip().startswith(b"<"):
        return read_camt053(content)
    return read_csv(content)


def read_csv(content: bytes) -> list[Line]:
    """A CSV export with a header naming at least `id,date,amount,currency,remittance` (and
    `payer`); debits (negative amounts) are left out. Any bad row refuses the whole file."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "a CSV statement must be UTF-8") from None
    rows = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (rows.fieldnames or [])]
    if missing:
        raise InvalidInput("file", f"the CSV header lacks {', '.join(missing)} (it needs {', '.join(CSV_COLUMNS)})")
    lines = []
    for number, row in enumerate(rows, start=2):
        where = f"line {number}"
        amount = _amount(row["amount"], f"{where}.amount")
        if amount <= 0:
            continue
        lines.append(Line(_text(row["id"], f"{where}.id", 100, required=True), _day(row["date"], f"{where}.date"),
                          amount, _currency(row["currency"], f"{where}.currency", amount, f"{where}.amount"),
                          _text(row["remittance"], f"{where}.remittance", 500),
                          _text(row.get("payer") or "", f"{where}.payer", 200)))
    return lines


def read_camt053(content: bytes) -> list[Line]:
    """The booked credit entries of an ISO 20022 bank-to-customer statement (camt.053, any
    version: elements are found by name). A batch entry gives one line per transaction."""
    try:
        root = etree.fromstring(content, _SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput("file", f"not well-formed XML: {exc}") from None
    if not _all(root, "Stmt"):
        raise InvalidInput("file", "not a camt.053 statement (no Stmt element)")
    lines = []
    for n, entry in enumerate(_all(root, "Ntry"), start=1):
        where = f"Ntry[{n}]"
        if _text_of(entry, "CdtDbtInd") != "CRDT" or (_text_of(entry, "Sts", "Cd") or _text_of(entry, "Sts")) not in ("BOOK", ""):
            continue
        booked = _day(_text_of(entry, "BookgDt", "Dt") or (_text_of(entry, "BookgDt", "DtTm") or "")[:10],
                      f"{where}.BookgDt")
        entry_ref = _text_of(entry, "AcctSvcrRef") or _text_of(entry, "NtryRef")
        details = _all(entry, "TxDtls")
        batch = len(details) > 1
        for k, tx in enumerate(details or [entry], start=1):
            amount = _first(entry, "Amt")
            if batch:                                 # lxml elements without children are falsy: no `or`
                amount = _first(tx, "AmtDtls", "TxAmt", "Amt")
                amount = _first(tx, "Amt") if amount is None else amount
            if amount is None:
                raise InvalidInput(f"{where}.TxDtls[{k}]", "a transaction of a batch entry has no amount")
            ref = _text_of(tx, "Refs", "AcctSvcrRef") or (_text_of(tx, "Refs", "EndToEndId") if batch else "")
            ref = ref or (f"{entry_ref}/{k}" if batch and entry_ref else entry_ref)
            if not ref:
                raise InvalidInput(where, "the entry has no bank reference (AcctSvcrRef or NtryRef)")
            texts = [t.text.strip() for t in _all(tx, "Ustrd") + _all(tx, "Ref")
                     if t.text and t.text.strip() and etree.QName(t.getparent()).localname in ("RmtInf", "CdtrRefInf")]
            payer = _text_of(tx, "RltdPties", "Dbtr", "Nm") or _text_of(tx, "RltdPties", "Dbtr", "Pty", "Nm")
            value = _amount(amount.text or "", f"{where}.Amt")
            lines.append(Line(ref[:100], booked, value, _currency(amount.get("Ccy", ""), f"{where}.Amt.Ccy", value,
                                                                   f"{where}.Amt"), " ".join(texts)[:500], payer[:200]))
    return lines


def _all(node, name: str) -> list:
    return node.xpath(f".//*[local-name()='{name}']")


def _first(node, *path: str):
    for name in path:
        found = node.xpath(f"./*[local-name()='{name}']")
        if not found:
            return None
        node = found[0]
    return node


def _text_of(node, *path: str) -> str:
    found = _first(node, *path)
    return (found.text or "").strip() if found is not None else ""


def _amount(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidInput(where, f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise InvalidInput(where, f"{text!r} is not an amount")
    return value


def _day(text: str, where: str) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidInput(where, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _currency(code: str, where: str, amount: Decimal, amount_where: str) -> str:
    """The currency's code, once `amount` is known to fit its minor units."""
    try:
        cur = currency((code or "").strip().upper())
    except CurrencyError:
        raise InvalidInput(where, f"{code!r} is not an ISO 4217 currency") from None
    if not cur.is_exact(amount):
        raise InvalidInput(amount_where, f"{amount} has more decimals than {cur.code} allows ({cur.minor_units})")
    return cur.code


def _text(value: str, where: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(where, "is required")
    if len(value) > limit:
        raise InvalidInput(where, f"longer than {limit} characters")
    return value


# ---- matching -------------------------------------------------------------------------------

def import_lines(session: Session, lines: list[Line]) -> Report:
    """Keep each new line and record the payments of those that name an invoice."""
    report = Report()
    known = set(session.exec(select(BankTransaction.bank_ref).where(
        BankTransaction.bank_ref.in_([line.bank_ref for line in lines])))) if lines else set()
    for line in lines:
        if line.bank_ref in known:
            report.known += 1
            continue
        known.add(line.bank_ref)
        txn = BankTransaction(bank_ref=line.bank_ref, booked_on=line.booked_on, amount=line.amount,
                              currency=line.currency, remittance=line.remittance, payer=line.payer)
        session.add(txn)
        invoice, why = _named_invoice(session, line)
        if invoice is None:
            txn.note = why
            report.unmatched.append(outcome(txn))
        else:
            _pay(session, txn, invoice)
            report.matched.append(outcome(txn, invoice))
    session.flush()
    return report


def match(session: Session, transaction_id: int, invoice_number: str) -> tuple[BankTransaction, Invoice]:
    """A person's match of an unmatched line to an invoice (of its currency)."""
    txn = lock_row(session, BankTransaction, transaction_id)
    if txn.status == "matched":
        invoice = session.get(Invoice, txn.invoice_id)
        if invoice.number == invoice_number:
            return txn, invoice                                    # the same match again: harmless
        raise InvalidTransition(f"bank transaction {txn.bank_ref}", txn.status, "match it again")
    invoice = session.exec(select(Invoice).where(Invoice.number == invoice_number, Invoice.kind == "invoice")).first()
    if invoice is None:
        raise NotFound(f"invoice {invoice_number}")
    if invoice.currency != txn.currency:
        raise InvalidInput("invoice", f"{invoice.number} is in {invoice.currency}; the transfer is in {txn.currency}")
    _pay(session, txn, invoice)
    return txn, invoice


def outcome(txn: BankTransaction, invoice: Invoice | None = None) -> dict:
    return {"id": txn.id, "bank_ref": txn.bank_ref, "booked_on": txn.booked_on, "amount": txn.amount,
            "currency": txn.currency, "remittance": txn.remittance, "payer": txn.payer, "status": txn.status,
            "note": txn.note, "invoice": invoice.number if invoice else None}


def _named_invoice(session: Session, line: Line) -> tuple[Invoice | None, str]:
    refs = remittance.references_in(line.remittance)
    found = list(session.exec(select(Invoice).where(Invoice.payment_reference.in_(refs)))) if refs else []
    if not found:
        numbers = re.findall(r"[A-Z]{2,}-\d{4}-\d+", line.remittance.upper())
        found = list(session.exec(select(Invoice).where(Invoice.number.in_(numbers), Invoice.kind == "invoice"))) \
            if numbers else []
    if not found:
        return None, "the remittance names no invoice (no RF reference or invoice number of ours)"
    if len({i.id for i in found}) > 1:
        return None, f"the remittance names several invoices ({', '.join(sorted(i.number for i in found))})"
    invoice = found[0]
    if invoice.currency != line.currency:
        return None, f"{invoice.number} is in {invoice.currency}; the transfer is in {line.currency}"
    return invoice, ""


def _pay(session: Session, txn: BankTransaction, invoice: Invoice) -> None:
    """The payment of the line, allocated to the invoice up to its balance (none when it is
    paid or void already); the rest is the account's credit."""
    invoice = lock_row(session, Invoice, invoice.id)
    due = payments.balance_due(invoice, txn.booked_on) if invoice.state in payments.OPEN_STATES else ZERO
    part = min(txn.amount, due)
    payment = payments.record_payment(session, session.get(Account, invoice.account_id), txn.amount, txn.currency,
                                      "bank_transfer", txn.bank_ref, txn.booked_on,
                                      allocations=[(invoice, part)] if part > 0 else [])
    txn.status, txn.note, txn.invoice_id, txn.payment_id = "matched", "", invoice.id, payment.id
    session.add(txn)


def unmatched(session: Session) -> list[BankTransaction]:
    return list(session.exec(select(BankTransaction).where(BankTransaction.status == "unmatched")
                             .order_by(BankTransaction.booked_on, BankTransaction.id)))

