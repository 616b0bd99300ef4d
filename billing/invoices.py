"""Invoices and credit notes: drafted, taxed and issued once with a gap-free number, never
changed after. What an order owes is worked out in `billing.order_billing`; credit notes
and voiding are in `billing.credit_notes`.

An invoice is a draft until `issue` numbers it (series `INV-<year>`, credit notes `CN-<year>`,
in the caller's transaction, so a rolled-back issue gives its number back), computes its
tax with the rates in force, copies the seller and buyer facts it shows, sets the due and
discount dates from its payment terms, posts it to the receivables ledger, asks for its
PDF and e-invoice, and e-mails them to the customer once rendered (billing/mail.py). From then on only what payments and collections track may change (`state`,
`amount_paid`, `dunning_level`); a guard on every flush refuses anything else
(`ImmutableRecord`). Format, rules and rounding: docs/billing.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping

import sqlalchemy as sa
from sqlmodel import Session, select

from billing import einvoice, ledger, remittance, tax
from billing import mail as billing_mail
from billing.models import Invoice, InvoiceLine
from billing.terms import DUE_ON_RECEIPT, parse_terms
from core import docstore, locales, webhooks
from core.db import insert_stored, kept, lock_row, utcnow
from core.errors import InvalidInput, InvalidTransition
from core.money import ROUNDING, ZERO, Currency, currency
from core.sequences import next_number
from core.settings import Settings
from sales import documents
from sales.accounts import Account
from sales.order_models import Order

TEMPLATE = "documents/invoice.html"
PREFIX = {"invoice": "INV", "credit_note": "CN"}
# what may change on an issued invoice: what payments and collections track
UNIT_PRICE = Decimal("0.000001")                      # unit prices are shown, never summed
FEE_PRODUCT = "LATE-FEE"
_DRAFTED = "drafted"    # kept(session) key, with a draft's id: its lines and account (kept alive for session.get)


@dataclass(frozen=True)
class Charge:
    """One line to invoice, as priced: net, or gross where the buyer's prices include tax."""
    description: str
    quantity: Decimal
    amount: Decimal
    category: str
    product: str = ""
    order_line_key: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    order_id: int | None = None             # the order it bills, where it is not the invoice's own
    part: int = 0                           # of a consolidated invoice (billing.consolidation)


def label(invoice: Invoice) -> str:
    kind = invoice.kind.replace("_", " ")
    return f"{kind} {invoice.number}" if invoice.number else f"draft {kind} #{invoice.id}"


def lines_of(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    return list(session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                             .order_by(InvoiceLine.position, InvoiceLine.id)))


# ---- drafts and tax --------------------------------------------------------------------------

def draft(session: Session, account: Account, charges: list[Charge], cur: Currency, terms: str, reason: str,
          today: date, order: Order | None = None) -> Invoice:
    return draft_many(session, [Draft(account, charges, cur, terms, reason, order)], today)[0]


@dataclass(frozen=True)
class Draft:
    """What one draft invoice bills: its charges, on the account's terms."""
    account: Account
    charges: list[Charge]
    currency: Currency
    terms: str
    reason: str
    order: Order | None = None


def draft_many(session: Session, drafts: list[Draft], today: date) -> list[Invoice]:
    """Draft invoices, taxed with the active rates, in a flush and an INSERT whatever their
    number (rating drafts one per account with usage: thousands at once). The lines are
    written by one Core statement (`insert_stored`: the issued-invoice guard has nothing to
    check on a new draft's lines) and stay in the session as stored: issuing reads them as
    drafted."""
    rates = tax.get_tax_rates(session)
    invoices, lines, now = [], [], utcnow()
    for d in drafts:
        # the batch's drafts share one timestamp
        invoice = Invoice(kind="invoice", series=series("invoice", today), account_id=d.account.id,
                          order_id=d.order.id if d.order else None, currency=d.currency.code, payment_terms=d.terms,
                          reason=d.reason[:2000], seller={}, buyer={}, tax_breakdown=[], created_at=now, updated_at=now)
        its = [InvoiceLine(invoice_id=0, position=i, order_line_key=c.order_line_key, product=c.product,
                           description=c.description[:500], quantity=c.quantity, unit_price=ZERO, net_amount=ZERO,
                           tax_category=c.category, tax_rate=ZERO, tax_amount=ZERO,
                           period_start=c.period_start, period_end=c.period_end, part=c.part,
                           order_id=c.order_id if c.order_id is not None else d.order.id if d.order else None)
               for i, c in enumerate(d.charges, 1)]
        _tax(invoice, its, [c.amount for c in d.charges], d.account, None, rates)    # taxed before anything is written
        invoices.append(invoice)
        lines.append(its)
    session.add_all(invoices)
    session.flush()
    for invoice, its in zip(invoices, lines):
        for line in its:
            line.invoice_id = invoice.id
    insert_stored(session, [line for its in lines for line in its])
    drafted = kept(session)
    for invoice, its, d in zip(invoices, lines, drafts):
        drafted[_DRAFTED, invoice.id] = its, d.account
    return invoices


def _tax(invoice: Invoice, lines: list[InvoiceLine], priced: list[Decimal], account: Account,
         inclusive: bool | None, rates: tax.TaxRates) -> tax.Taxation:
    """Tax the lines (priced amounts: net, or gross for inclusive prices) with `rates` for the
    buyer as they are now. `inclusive` None takes the buyer's price mode; a draft keeps the
    mode it was priced in. Each part of a consolidated invoice is taxed on its own, as the
    document it replaces would be, so consolidating changes no amount."""
    taxation = rates.taxation(account.billing_address, account.tax_id, account.segment)
    invoice.tax_inclusive = taxation.inclusive if inclusive is None else inclusive
    cur = currency(invoice.currency)
    rated = [(amount, ln.tax_category, taxation.rate(ln.tax_category, f"lines[{ln.position}].tax_category"))
             for ln, amount in zip(lines, priced)]
    parts: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        parts.setdefault(line.part, []).append(i)
    taxed: list[tax.TaxedLine] = [None] * len(lines)
    for members in parts.values():
        part = tax.compute([rated[i] for i in members], cur, invoice.tax_inclusive, taxation.reverse_charge)
        for i, line_tax in zip(members, part.lines):
            taxed[i] = line_tax
    result = tax.summarise(taxed, taxation.reverse_charge)
    for line, amount, (_, _, rate), taxed in zip(lines, priced, rated, result.lines):
        _assign(line, tax_rate=rate, net_amount=taxed.net, tax_amount=taxed.tax,
                unit_price=unit_price(amount, line.quantity))
    invoice.reverse_charge = taxation.reverse_charge
    set_totals(invoice, result)
    return taxation


def _assign(line: InvoiceLine, **values) -> None:
    """Set the line's values; of a stored line only those that differ, as its flush would
    compare them: a draft issued in the transaction that drafted it is taxed again as it was,
    and its lines then stay clean, with nothing for the flush and the issued-invoice guard to
    go through."""
    stored = sa.inspect(line).persistent
    for name, value in values.items():
        if not stored or getattr(line, name) != value:
            setattr(line, name, value)


def set_totals(invoice: Invoice, result: tax.TaxResult) -> None:
    invoice.net_total, invoice.tax_total, invoice.gross_total = result.net, result.tax, result.gross
    invoice.tax_breakdown = [g.as_dict(currency(invoice.currency)) for g in result.groups]
    invoice.updated_at = utcnow()


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    return (amount / quantity if quantity else amount).quantize(UNIT_PRICE, ROUNDING)


def priced_amount(line: InvoiceLine, inclusive: bool) -> Decimal:
    """A line's amount as it was priced: gross for inclusive prices, else net."""
    return line.net_amount + line.tax_amount if inclusive else line.net_amount


def series(kind: str, day: date) -> str:
    return f"{PREFIX[kind]}-{day.year}"


# ---- issuing -------------------------------------------------------------------------------

def issue(session: Session, invoice: Invoice, today: date, *, company: Mapping | None = None) -> Invoice:
    """Draft -> open: number, tax, facts, dates and ledger entry, all in the caller's
    transaction. The counter row of the series stays locked until it commits, so issuing in
    one series is serialised and numbers never repeat or skip; the PDF and e-invoice are
    rendered from these facts after the commit (render), so the lock is held briefly."""
    return _issue(session, invoice, today, company, "invoice" if invoice.kind == "invoice" else "credit_note")


def _issue(session: Session, invoice: Invoice, today: date, company: Mapping | None, entry_kind: str) -> Invoice:
    invoice = lock_row(session, Invoice, invoice.id)
    if invoice.state != "draft":
        raise InvalidTransition(label(invoice), invoice.state, "issue it")
    drafted = kept(session).get((_DRAFTED, invoice.id))   # in this transaction: its lines as drafted
    lines = drafted[0] if drafted else lines_of(session, invoice)
    if not lines:
        raise InvalidTransition(label(invoice), invoice.state, "issue it", "it has no lines")
    account = session.get(Account, invoice.account_id)
    original = session.get(Invoice, invoice.original_id) if invoice.original_id else None
    # what is read comes first, so that the invoice's facts are written in one flush
    number_series = series(invoice.kind, today)
    number = f"{number_series}-{next_number(session, number_series):05d}"
    if original is None:
        rates = tax.get_tax_rates(session)
        taxation = _tax(invoice, lines, [priced_amount(ln, invoice.tax_inclusive) for ln in lines], account,
                        invoice.tax_inclusive, rates)
        invoice.seller = _seller(company, rates)
        invoice.buyer = _buyer(account, taxation, rates)
        terms = parse_terms(invoice.payment_terms)
    else:
        invoice.seller, invoice.buyer = original.seller, original.buyer
        terms = parse_terms(DUE_ON_RECEIPT)
    invoice.series, invoice.number = number_series, number
    if invoice.kind == "invoice":
        invoice.payment_reference = remittance.invoice_reference(invoice.number)
    invoice.issue_date, invoice.due_date = today, terms.due_date(today)
    invoice.discount_date, invoice.discount_percent = terms.discount_date(today), terms.discount_percent
    invoice.issued_at = invoice.updated_at = utcnow()
    invoice.state = "open"
    session.add_all([*lines, invoice])
    session.flush()
    # rendered after the commit; EN 16931 allows 2 decimals
    documents = docstore.request_formats(session, "invoice", invoice.id, ("pdf", "cii") if currency(
        invoice.currency).minor_units <= einvoice.MAX_DECIMALS else ("pdf",))
    billing_mail.invoice_issued(session, invoice, account, documents)    # sent once both are rendered
    sign = 1 if invoice.kind == "invoice" else -1
    ledger.post(session, invoice.account_id, today, entry_kind, sign * invoice.gross_total, invoice.currency,
                invoice_id=invoice.id, memo=f"{invoice.number} {invoice.reason}")
    if original is not None:
        _apply_credit(session, original, invoice)
    webhooks.emit(session, "invoice.issued", lambda: summary(invoice, account, original))
    return invoice


def render(session: Session, invoice_id: int, fmt: str) -> tuple[bytes, dict]:
    """An issued invoice's PDF (`pdf`) or EN 16931 XML (`cii`), from the facts issuing froze,
    and what identifies it."""
    invoice = session.get(Invoice, invoice_id)
    lines = lines_of(session, invoice)
    original = session.get(Invoice, invoice.original_id) if invoice.original_id else None
    if fmt == "pdf":
        content = documents.render_pdf(document_data(invoice, lines, original), template=TEMPLATE)
    else:
        content = einvoice.cii_xml(invoice, lines, original.number if original else None)
    return content, {"invoice": invoice.number, "invoice_id": invoice.id}


def summary(invoice: Invoice, account: Account, original: Invoice | None = None) -> dict:
    """What webhooks tell about an invoice."""
    return {"id": invoice.id, "number": invoice.number, "kind": invoice.kind, "state": invoice.state,
            "account": account.code, "currency": invoice.currency, "gross_total": str(invoice.gross_total),
            "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
            "original": original.number if original else None}


def transfer_details(invoice: Invoice) -> dict | None:
    """The reference to quote and the seller's bank account: what the invoice and the customer's
    billing portal show so a bank transfer finds its invoice (billing/bank_import.py)."""
    if invoice.kind != "invoice" or not invoice.payment_reference:
        return None
    seller = invoice.seller or {}
    return {"reference": remittance.printed(invoice.payment_reference), "iban": seller.get("iban"),
            "bic": seller.get("bic"), "company": seller.get("name", "")}


def _how_to_pay(invoice: Invoice) -> dict | None:
    """The transfer details and, for a balance in euros, the SEPA QR code a banking app scans
    (EPC069-12)."""
    details = transfer_details(invoice)
    if details is None:
        return None
    seller = invoice.seller or {}
    qr = None                          # for the whole amount: the document shows what was issued
    if invoice.currency == "EUR" and seller.get("iban") and invoice.gross_total > 0:
        qr = remittance.qr_svg(remittance.epc_payload(seller.get("name", ""), seller["iban"], invoice.gross_total,
                                                      invoice.payment_reference, seller.get("bic", "")))
    return {**details, "qr": qr}


def _seller(company: Mapping | None, rates: tax.TaxRates) -> dict:
    company = dict(company if company is not None else Settings.from_env().company)
    return {**company, **rates.seller}


def _buyer(account: Account, taxation: tax.Taxation, rates: tax.TaxRates) -> dict:
    return {"code": account.code, "name": account.name, "tax_id": account.tax_id, "segment": account.segment,
            "billing_address": dict(account.billing_address), "language": account.language,
            "tax": {"jurisdiction": taxation.jurisdiction.code, "name": taxation.jurisdiction.name,
                    "note": taxation.note, "rates": rates.label}}


def _apply_credit(session: Session, original: Invoice, note: Invoice) -> None:
    """Take the credit off what the original still owes; what exceeds it stays on the
    note (open: the customer's credit, already in the ledger)."""
    applied = min(note.gross_total, max(original.gross_total - original.amount_paid, ZERO))
    original.amount_paid += applied
    if original.state in ("open", "partially_paid"):
        original.state = "paid" if original.amount_paid >= original.gross_total else "partially_paid"
    note.amount_paid = applied
    note.state = "paid" if applied == note.gross_total else "open"
    original.updated_at = note.updated_at = utcnow()
    session.add_all([original, note])
    session.flush()


def issue_fee_invoice(session: Session, account: Account, amount: Decimal, currency_code: str, reason: str,
                      today: date, original_invoice_id: int | None = None) -> Invoice:
    """A one-line late fee invoice (exempt from tax), issued at once on the account's terms.
    `reason` is the line's text; it names the overdue invoice unless it does already."""
    cur = currency(currency_code)
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or not cur.is_exact(amount):
        raise InvalidInput("amount", f"expected an amount above 0 in {cur.code}'s minor units")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason", "a fee needs a reason")
    text = reason.strip()
    if original_invoice_id is not None:
        original = session.get(Invoice, original_invoice_id)
        if original is None or original.account_id != account.id or original.number is None:
            raise InvalidInput("original_invoice_id", f"no issued invoice {original_invoice_id} of account {account.code}")
        if original.number not in text:
            text += f" (invoice {original.number})"
    charge = Charge(text, Decimal(1), amount, "exempt", FEE_PRODUCT)
    invoice = draft(session, account, [charge], cur, parse_terms(account.payment_terms).code, text, today)
    return _issue(session, invoice, today, None, "late_fee")


# ---- the document --------------------------------------------------------------------------

def document_data(invoice: Invoice, lines: list[InvoiceLine], original: Invoice | None) -> dict:
    """The invoice as the plain data its PDF shows (amounts as exact decimal text), in the
    language issuing recorded with the buyer (English for invoices issued before languages)."""
    cur = currency(invoice.currency)
    language = locales.language_of(invoice.buyer.get("language"))
    terms = parse_terms(invoice.payment_terms)
    discount = None
    if terms.discount_percent is not None:
        discount = {"percent": f"{terms.discount_percent:f}", "date": invoice.discount_date.isoformat(),
                    "amount": str(terms.discount_amount(invoice.gross_total, cur))}
    notes = [invoice.buyer["tax"]["note"]] if invoice.buyer.get("tax", {}).get("note") else []
    return {
        "kind": invoice.kind, "language": language, "number": invoice.number, "currency": cur.code,
        "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "terms": terms.label(locales.translations(language).gettext), "discount": discount,
        "company": invoice.seller, "buyer": invoice.buyer,
        "original": original.number if original else None,
        "original_date": original.issue_date.isoformat() if original else None,
        "reason": invoice.reason, "tax_inclusive": invoice.tax_inclusive, "reverse_charge": invoice.reverse_charge,
        "lines": [{"position": ln.position, "description": ln.description, "product": ln.product,
                   "quantity": str(ln.quantity), "unit_price": str(ln.unit_price), "tax_category": ln.tax_category,
                   "tax_rate": f"{ln.tax_rate:f}", "net": str(ln.net_amount), "tax": str(ln.tax_amount),
                   "period": [ln.period_start.isoformat(), ln.period_end.isoformat()] if ln.period_start else None}
                  for ln in lines],
        "breakdown": invoice.tax_breakdown, "notes": notes, "payment": _how_to_pay(invoice),
        "totals": {"net": str(invoice.net_total), "tax": str(invoice.tax_total), "gross": str(invoice.gross_total)},
    }
