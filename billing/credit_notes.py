"""Credit notes and voiding: how an issued invoice, which never changes, is corrected.

A credit note points to its original, takes no more than is still creditable on it, and is
applied to what the original still owes when it is issued; voiding is a full credit note
that also makes what the invoice billed billable again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session, select

from billing import revenue, schedule, tax
from billing.invoices import issue, label, lines_of, series, set_totals, summary, unit_price
from billing.models import Invoice, InvoiceLine
from billing.terms import DUE_ON_RECEIPT
from core import webhooks
from core.db import lock_row, utcnow
from core.errors import InvalidInput, InvalidTransition
from core.money import ZERO, Currency, allocate, currency
from sales.accounts import Account
from sales.order_models import Order

CREDITABLE = ("open", "partially_paid", "paid")


@dataclass(frozen=True)
class LineAmounts:
    """Amounts to credit on given lines, as priced ({position: amount}: net, or gross on a
    tax-inclusive invoice), as price adjustments (quantity 0): what an amendment takes back of
    a period it billed (billing/amendments.py)."""
    amounts: Mapping[int, Decimal]


@dataclass(frozen=True)
class _Left:
    """What is still creditable of one line of the original: its quantity and amounts less
    what its credit notes took (credit lines share the position of the line they credit)."""
    line: InvoiceLine
    quantity: Decimal
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


def credit_notes_of(session: Session, invoice: Invoice) -> list[Invoice]:
    return list(session.exec(select(Invoice).where(Invoice.original_id == invoice.id,
                                                   Invoice.kind == "credit_note").order_by(Invoice.id)))


def credit_note(session: Session, invoice: Invoice,
                lines_or_amount: Mapping[int, Decimal] | LineAmounts | Decimal | None,
                reason: str, today: date, *, company: Mapping | None = None) -> Invoice:
    """Issue a credit note against an issued invoice and apply it to what the invoice still
    owes (any excess is account credit in the ledger). `lines_or_amount`: None credits all
    that is still creditable; {position: quantity} returns units of lines; LineAmounts credits
    priced amounts of lines; a Decimal credits a gross amount spread over the lines in
    proportion to what is left of them. Never more than what is still creditable.

    A credit note is a document of its own, so its VAT is computed on its own base, per
    category, rounded once (EN 16931 BR-CO-17), exactly as an invoice's is: crediting one
    of three 0.10 lines at 7% credits 0.01 VAT, though the invoice spread its 0.02 as 0.01,
    0.01 and 0.00. The note that credits all that is left of an invoice takes exactly what
    is left, VAT included, so an invoice and its credit notes always net to zero (its VAT
    differs from its own base by no more than the rounding of the notes before it)."""
    original = lock_row(session, Invoice, invoice.id)
    if original.kind != "invoice" or original.state not in CREDITABLE:
        raise InvalidTransition(label(original), original.state, "credit it")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason", "a credit note needs a reason")
    cur = currency(original.currency)
    left = _creditable(session, original)
    credits, gross = _credit_lines(left, lines_or_amount, cur, original.tax_inclusive, label(original))
    if _takes_all(left, credits, original.tax_inclusive):       # the last note: exactly what is left
        credits = [(item, item.quantity, item.net) for item in left if item.net or item.tax]
        taxed = tax.summarise([tax.TaxedLine(item.line.tax_category, item.line.tax_rate, item.net, item.tax)
                               for item, _q, _amount in credits], original.reverse_charge)
    else:
        taxed = tax.compute([(amount, item.line.tax_category, item.line.tax_rate) for item, _q, amount in credits],
                            cur, gross, original.reverse_charge)
    note = Invoice(kind="credit_note", series=series("credit_note", today), account_id=original.account_id,
                   order_id=original.order_id, original_id=original.id, currency=original.currency,
                   payment_terms=DUE_ON_RECEIPT, tax_inclusive=original.tax_inclusive,
                   reverse_charge=original.reverse_charge, reason=reason.strip()[:2000])
    session.add(note)
    session.flush()
    for (item, quantity, _amount), line in zip(credits, taxed.lines):
        source = item.line
        description = source.description if quantity else f"Price adjustment: {source.description}"
        session.add(InvoiceLine(invoice_id=note.id, position=source.position, order_id=source.order_id,
                                order_line_key=source.order_line_key,
                                product=source.product, description=description[:500], quantity=quantity,
                                unit_price=unit_price(line.gross if original.tax_inclusive else line.net, quantity),
                                net_amount=line.net, tax_category=source.tax_category, tax_rate=source.tax_rate,
                                tax_amount=line.tax, period_start=source.period_start, period_end=source.period_end))
    set_totals(note, taxed)
    session.add(note)
    session.flush()
    issue(session, note, today, company=company)
    _refresh_revenue(session, note)
    return note


def _refresh_revenue(session: Session, note: Invoice) -> None:
    """A credit lowers what the contract earns: its revenue schedule follows (if it has one)."""
    order = session.get(Order, note.order_id) if note.order_id else None
    revenue.refresh(session, order.contract_id if order else None)


def price_left(session: Session, invoice: Invoice) -> dict[int, Decimal]:
    """What is still creditable of each line's price (net, or gross when tax-inclusive)."""
    return {item.line.position: _price_left(item, invoice.tax_inclusive) for item in _creditable(session, invoice)}


def creditable(session: Session, invoice: Invoice) -> Decimal:
    """What is still creditable on an invoice (gross): nothing once it was credited in full."""
    return _gross_left(_creditable(session, invoice), invoice.tax_inclusive)


def _price_left(item: _Left, inclusive: bool) -> Decimal:
    """A line's price still creditable: its net, or its gross on a tax-inclusive invoice.
    VAT never stands alone: what rounding left of a line's VAT goes with its last price."""
    return max(item.gross if inclusive else item.net, ZERO)


def _takes_all(left: list[_Left], credits: list[tuple[_Left, Decimal, Decimal]], inclusive: bool) -> bool:
    """Whether the credits take every line's whole price still left (the last credit note)."""
    taken = {id(item): (quantity, amount) for item, quantity, amount in credits}
    return all(taken.get(id(item)) == (item.quantity, _price_left(item, inclusive))
               for item in left if _price_left(item, inclusive))


def _gross_left(left: list[_Left], inclusive: bool) -> Decimal:
    return sum((max(item.gross, ZERO) for item in left if _price_left(item, inclusive)), ZERO)


def _creditable(session: Session, original: Invoice) -> list[_Left]:
    taken: dict[int, list[Decimal]] = {}
    for note in credit_notes_of(session, original):
        for line in lines_of(session, note):
            sums = taken.setdefault(line.position, [ZERO, ZERO, ZERO])
            sums[0] += line.quantity
            sums[1] += line.net_amount
            sums[2] += line.tax_amount
    out = []
    for line in lines_of(session, original):
        quantity, net, tax_amount = taken.get(line.position, (ZERO, ZERO, ZERO))
        out.append(_Left(line, line.quantity - quantity, line.net_amount - net, line.tax_amount - tax_amount))
    return out


def _credit_lines(left: list[_Left], what, cur: Currency, inclusive: bool,
                  original: str) -> tuple[list[tuple[_Left, Decimal, Decimal]], bool]:
    """(line, quantity, amount) to credit, and whether the amounts are gross (else net) for
    the VAT computed on them: lines and units are credited at their price as invoiced (net,
    or gross when the invoice is tax-inclusive), a gross amount is spread over the lines."""
    def price(item: _Left) -> Decimal:
        return _price_left(item, inclusive)

    everything = [(item, item.quantity, price(item)) for item in left if price(item)]
    if isinstance(what, LineAmounts):
        if not what.amounts:
            raise InvalidInput("lines", "name at least one line to credit")
        return [_credit_amount(left, position, amount, cur, price, original)
                for position, amount in what.amounts.items()], inclusive
    if what is None:
        if not everything:
            raise InvalidInput("lines", f"nothing is left to credit on {original}")
        return everything, inclusive
    if isinstance(what, Mapping):
        if not what:
            raise InvalidInput("lines", "name at least one line to credit")
        return [_credit_units(left, position, quantity, cur, price, original)
                for position, quantity in what.items()], inclusive
    if not isinstance(what, Decimal) or not what.is_finite():
        raise InvalidInput("amount", "expected a decimal amount, or {position: quantity}, or None for all")
    total = _gross_left(left, inclusive)
    if not cur.is_exact(what) or not ZERO < what <= total:
        raise InvalidInput("amount", f"must be more than 0 and at most {cur.code} {cur.round(total)} (still creditable "
                                     f"on {original}), in {cur.code}'s minor units")
    if what == total:
        return everything, inclusive
    shares = allocate(what, [max(item.gross, ZERO) if price(item) else ZERO for item in left], cur.quantum)
    return [(item, ZERO, share) for item, share in zip(left, shares) if share], True


def _credit_units(left: list[_Left], position, quantity, cur: Currency, price,
                  original: str) -> tuple[_Left, Decimal, Decimal]:
    where = f"lines.{position}"
    item = next((i for i in left if i.line.position == position), None) if isinstance(position, int) else None
    if item is None:
        raise InvalidInput(where, f"{original} has no line {position!r}")
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or not ZERO < quantity <= item.quantity:
        raise InvalidInput(where, f"expected a quantity above 0 and at most {item.quantity} (still creditable)")
    amount = price(item) if quantity == item.quantity else cur.round(price(item) * quantity / item.quantity)
    if not amount:
        raise InvalidInput(where, "nothing is left to credit on this line")
    return item, quantity, amount


def _credit_amount(left: list[_Left], position, amount, cur: Currency, price,
                   original: str) -> tuple[_Left, Decimal, Decimal]:
    where = f"lines.{position}"
    item = next((i for i in left if i.line.position == position), None) if isinstance(position, int) else None
    if item is None:
        raise InvalidInput(where, f"{original} has no line {position!r}")
    if not isinstance(amount, Decimal) or not cur.is_exact(amount) or not ZERO < amount <= price(item):
        raise InvalidInput(where, f"expected an amount above 0 and at most {price(item)} (still creditable), "
                                  f"in {cur.code}'s minor units")
    return item, ZERO, amount


def void(session: Session, invoice: Invoice, reason: str, today: date, *, company: Mapping | None = None) -> Invoice:
    """Cancel an open invoice nothing was paid or credited on: a full credit note, the
    invoice void, and what it billed (periods, quantities, a milestone) billable again.
    Returns the credit note."""
    original = lock_row(session, Invoice, invoice.id)
    if original.kind != "invoice" or original.state != "open" or original.amount_paid:
        raise InvalidTransition(label(original), original.state, "void it",
                                "only an open invoice with nothing paid or credited can be voided")
    note = credit_note(session, original, None, reason, today, company=company)
    original.state = "void"
    original.updated_at = utcnow()
    session.add(original)
    schedule.unbill(session, original.id)
    _refresh_revenue(session, note)                  # a void re-bills: no longer a concession
    webhooks.emit(session, "invoice.voided", summary(original, session.get(Account, original.account_id)) | {
        "credit_note": note.number})
    return note
