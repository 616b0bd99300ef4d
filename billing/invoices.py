"""Invoices and credit notes: drafted from orders and billing schedules, issued once with a
gap-free number, never changed after; a correction is a credit note pointing to the original.

An invoice is a draft until `issue` numbers it (series `INV-<year>`, credit notes `CN-<year>`,
in the caller's transaction, so a rolled-back issue gives its number back), computes its
tax with the rates in force, copies the seller and buyer facts it shows, sets the due and
discount dates from its payment terms, posts it to the receivables ledger and stores its
PDF. From then on only what payments and collections track may change (`state`,
`amount_paid`, `dunning_level`); a guard on every flush refuses anything else
(`ImmutableRecord`). Format, rules and rounding: docs/billing.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session, select

from billing import einvoice, ledger, schedule, tax
from billing.models import BillingPeriod, Invoice, InvoiceLine
from billing.terms import DUE_ON_RECEIPT, parse_terms
from core import webhooks
from core.db import lock_row, utcnow
from core.errors import InvalidInput, InvalidTransition
from core.money import HUNDRED, ROUNDING, ZERO, Currency, allocate, currency
from core.sequences import next_number
from core.settings import Settings
from core.validation import to_decimal
from sales import documents
from sales.accounts import Account
from sales.models import Quote
from sales.orders import BILLING
from sales.order_models import Contract, Order, OrderLine

TEMPLATE = "documents/invoice.html"
PREFIX = {"invoice": "INV", "credit_note": "CN"}
CREDITABLE = ("open", "partially_paid", "paid")
# what may change on an issued invoice: what payments and collections track
UNIT_PRICE = Decimal("0.000001")                      # unit prices are shown, never summed
FEE_PRODUCT = "LATE-FEE"


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


def label(invoice: Invoice) -> str:
    kind = invoice.kind.replace("_", " ")
    return f"{kind} {invoice.number}" if invoice.number else f"draft {kind} #{invoice.id}"


def lines_of(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    return list(session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                             .order_by(InvoiceLine.position, InvoiceLine.id)))


def credit_notes_of(session: Session, invoice: Invoice) -> list[Invoice]:
    return list(session.exec(select(Invoice).where(Invoice.original_id == invoice.id,
                                                   Invoice.kind == "credit_note").order_by(Invoice.id)))


# ---- drafting from orders ------------------------------------------------------------------

def invoice_order(session: Session, order: Order, today: date, *, milestone: str | None = None) -> Invoice:
    """A draft invoice for what the order owes now, by its `billing`: on_order (every one-time
    line), on_shipment (shipped quantities not invoiced yet) or milestones (`milestone`'s share
    of every one-time line). Recurring lines start billing with the order's first invoice:
    their schedule is created then, and every unbilled period that is due (the first one
    always) goes on the invoice."""
    order = lock_row(session, Order, order.id)
    what = f"order {order.number}"
    if order.state not in schedule.BILLABLE_ORDER_STATES:
        raise InvalidTransition(what, order.state, "invoice it")
    if order.billing not in BILLING:
        raise InvalidInput("billing", f"{what} has billing {order.billing!r}; expected one of {', '.join(BILLING)}")
    if (milestone is not None) != (order.billing == "milestones"):
        reason = "name the milestone to invoice" if milestone is None else f"{what} bills {order.billing}"
        raise InvalidInput("milestone", reason)
    cur = currency(order.currency)
    lines = _order_lines(session, order.id)
    one_time = [ln for ln in lines if ln.charge == "one_time" and ln.quantity > 0]
    reason = f"Order {order.number}"
    if order.billing == "milestones":
        charges, reason = _milestone(session, order, one_time, milestone, cur)
    else:
        charges = _deliveries(session, order, one_time, cur)
    periods = _due_periods(session, order, [ln for ln in lines if ln.charge != "one_time"], today, cur)
    if not charges and not periods:
        raise InvalidTransition(what, order.state, "invoice it", "nothing is due")
    return _order_invoice(session, order, lines, charges, periods, reason, today)


def bill_due_periods(session: Session, today: date) -> list[Invoice]:
    """One draft invoice per order for its recurring periods due on `today` (safe to rerun:
    a period is billed once)."""
    by_order: dict[int, list[BillingPeriod]] = {}
    for period in schedule.due_periods(session, today):
        by_order.setdefault(period.order_id, []).append(period)
    invoices = []
    for order_id, periods in by_order.items():
        order = session.get(Order, order_id)
        invoices.append(_order_invoice(session, order, _order_lines(session, order_id), [], periods,
                                       f"Order {order.number}: recurring charges", today))
    return invoices


def _order_invoice(session: Session, order: Order, lines: list[OrderLine], charges: list[Charge],
                   periods: list[BillingPeriod], reason: str, today: date) -> Invoice:
    """The draft of `charges` and `periods`, on the terms agreed on the order's quote; the
    periods are marked billed by it."""
    terms = session.get(Quote, order.quote_id).payment_terms
    parse_terms(terms)
    invoice = _draft(session, session.get(Account, order.account_id),
                     charges + [_period_charge(p, lines) for p in periods], currency(order.currency), terms,
                     reason, today, order)
    for period in periods:
        period.invoice_id = invoice.id
        session.add(period)
    session.flush()
    return invoice


def _order_lines(session: Session, order_id: int) -> list[OrderLine]:
    return list(session.exec(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.position)))


def _deliveries(session: Session, order: Order, lines: list[OrderLine], cur: Currency) -> list[Charge]:
    """One-time lines not invoiced yet: all of them on order, what was shipped on shipment.
    Amounts are cumulative (price x quantity invoiced so far, rounded, less what was
    invoiced), so the invoices of a line always sum to its net total."""
    billed = _billed(session, order)
    charges = []
    for line in lines:
        quantity, amount = billed.get(line.key, (ZERO, ZERO))
        upto = line.quantity if order.billing == "on_order" else min(line.shipped_quantity, line.quantity)
        if upto > quantity:
            charges.append(Charge(line.name, upto - quantity,
                                  cur.round(line.net_total * upto / line.quantity) - amount,
                                  line.tax_category, line.product, line.key))
    return charges


def _billed(session: Session, order: Order) -> dict[str, tuple[Decimal, Decimal]]:
    """Quantity and priced amount of each one-time line on the order's invoices (drafts
    included, voided ones not: what a voided invoice billed can be invoiced again)."""
    rows = session.exec(select(InvoiceLine, Invoice.tax_inclusive).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                        .where(Invoice.order_id == order.id, Invoice.kind == "invoice", Invoice.state != "void",
                               InvoiceLine.period_start.is_(None), InvoiceLine.order_line_key.is_not(None)))
    billed: dict[str, tuple[Decimal, Decimal]] = {}
    for line, inclusive in rows:
        quantity, amount = billed.get(line.order_line_key, (ZERO, ZERO))
        billed[line.order_line_key] = (quantity + line.quantity, amount + _priced(line, inclusive))
    return billed


def _milestone(session: Session, order: Order, lines: list[OrderLine], name: str,
               cur: Currency) -> tuple[list[Charge], str]:
    """The milestone's share of each one-time line. Each line's net total is split over all
    the milestones by their percentages with `allocate`, so a line's shares sum to it exactly
    and the milestones to the one-time total, whatever order they are invoiced in."""
    milestones = _milestones(order)
    labels = [m["label"] for m in milestones]
    if name not in labels:
        raise InvalidInput("milestone", f"order {order.number} has no milestone {name!r}; expected one of {', '.join(labels)}")
    index = labels.index(name)
    percent = milestones[index]["percent"]
    reason = f"Order {order.number}, milestone {name} ({percent:f}% of the one-time total)"
    taken = session.exec(select(Invoice).where(Invoice.order_id == order.id, Invoice.kind == "invoice",
                                               Invoice.state != "void", Invoice.reason == reason)).first()
    if taken is not None:
        raise InvalidTransition(f"order {order.number}", order.state, f"invoice milestone {name}",
                                f"already invoiced on {label(taken)}")
    weights = [m["percent"] for m in milestones]
    charges = []
    for line in lines:
        share = allocate(line.net_total, weights, cur.quantum)[index]
        if share:
            charges.append(Charge(f"{line.name} ({name}: {percent:f}%)", line.quantity, share,
                                  line.tax_category, line.product, line.key))
    return charges, reason


def _milestones(order: Order) -> list[dict]:
    """The order's milestones, checked: labels unique, percentages above 0 summing to 100."""
    raw = order.milestones
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("milestones", f"order {order.number} bills by milestones but has none")
    out = []
    for i, m in enumerate(raw):
        percent = to_decimal(m.get("percent")) if isinstance(m, dict) else None
        if not isinstance(m, dict) or not isinstance(m.get("label"), str) or not m["label"].strip():
            raise InvalidInput(f"milestones[{i}].label", "is required")
        if percent is None or not ZERO < percent <= HUNDRED:
            raise InvalidInput(f"milestones[{i}].percent", "expected a percentage above 0 and at most 100")
        out.append({"label": m["label"], "percent": percent})
    if len({m["label"] for m in out}) != len(out):
        raise InvalidInput("milestones", "milestone labels must be unique")
    if sum(m["percent"] for m in out) != HUNDRED:
        raise InvalidInput("milestones", "the percentages must sum to 100")
    return out


def _due_periods(session: Session, order: Order, lines: list[OrderLine], today: date,
                 cur: Currency) -> list[BillingPeriod]:
    """The unbilled periods of the order's recurring lines to bill now: each line's first
    (billing starts with the order) and any other whose day has come."""
    start = _service_start(session, order)
    firsts = set()
    for line in lines:
        periods = schedule.schedule_line(session, order, line, start, cur)
        firsts.add(periods[0].id)
    due = {p.id: p for p in schedule.due_periods(session, today, order.id)}
    for period in session.exec(select(BillingPeriod).where(BillingPeriod.id.in_(firsts),
                                                           BillingPeriod.invoice_id.is_(None))
                               .with_for_update()):
        due[period.id] = period
    return sorted(due.values(), key=lambda p: (p.line_key, p.period_start))


def _service_start(session: Session, order: Order) -> date:
    """Recurring charges run from the contract's start, or from the order's date."""
    if order.contract_id is not None:
        return session.get(Contract, order.contract_id).start_date
    return order.created_at.date()


def _period_charge(period: BillingPeriod, lines: list[OrderLine]) -> Charge:
    line = next(ln for ln in lines if ln.key == period.line_key)
    text = line.name                                 # the period itself is in period_start/_end
    full_start, full_end = schedule.full_period(period.period_start, period.period_end, line.charge)
    days, full = (period.period_end - period.period_start).days + 1, (full_end - full_start).days + 1
    if days != full:
        text += f" (prorated: {days} of {full} days)"
    return Charge(text, line.quantity, period.amount, line.tax_category, line.product, line.key,
                  period.period_start, period.period_end)


# ---- drafts and tax --------------------------------------------------------------------------

def _draft(session: Session, account: Account, charges: list[Charge], cur: Currency, terms: str, reason: str,
           today: date, order: Order | None = None) -> Invoice:
    invoice = Invoice(kind="invoice", series=_series("invoice", today), account_id=account.id,
                      order_id=order.id if order else None, currency=cur.code, payment_terms=terms,
                      reason=reason[:2000])
    session.add(invoice)
    session.flush()
    lines = [InvoiceLine(invoice_id=invoice.id, position=i, order_line_key=c.order_line_key, product=c.product,
                         description=c.description[:500], quantity=c.quantity, unit_price=ZERO, net_amount=ZERO,
                         tax_category=c.category, tax_rate=ZERO, tax_amount=ZERO,
                         period_start=c.period_start, period_end=c.period_end)
             for i, c in enumerate(charges, 1)]
    session.add_all(lines)
    _apply_tax(session, invoice, lines, [c.amount for c in charges], account, None)
    return invoice


def _apply_tax(session: Session, invoice: Invoice, lines: list[InvoiceLine], priced: list[Decimal],
               account: Account, inclusive: bool | None) -> tuple[tax.TaxRates, tax.Taxation]:
    """Tax the lines (priced amounts: net, or gross for inclusive prices) with the active
    rates for the buyer as they are now. `inclusive` None takes the buyer's price mode; a
    draft keeps the mode it was priced in."""
    rates = tax.get_tax_rates(session)
    taxation = rates.taxation(account.billing_address, account.tax_id, account.segment)
    invoice.tax_inclusive = taxation.inclusive if inclusive is None else inclusive
    cur = currency(invoice.currency)
    rated = [(amount, ln.tax_category, taxation.rate(ln.tax_category, f"lines[{ln.position}].tax_category"))
             for ln, amount in zip(lines, priced)]
    result = tax.compute(rated, cur, invoice.tax_inclusive, taxation.reverse_charge)
    for line, amount, (_, _, rate), taxed in zip(lines, priced, rated, result.lines):
        line.tax_rate, line.net_amount, line.tax_amount = rate, taxed.net, taxed.tax
        line.unit_price = _unit_price(amount, line.quantity)
        session.add(line)
    invoice.reverse_charge = taxation.reverse_charge
    _set_totals(invoice, result)
    session.add(invoice)
    session.flush()
    return rates, taxation


def _set_totals(invoice: Invoice, result: tax.TaxResult) -> None:
    invoice.net_total, invoice.tax_total, invoice.gross_total = result.net, result.tax, result.gross
    invoice.tax_breakdown = [g.as_dict() for g in result.groups]
    invoice.updated_at = utcnow()


def _unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    return (amount / quantity if quantity else amount).quantize(UNIT_PRICE, ROUNDING)


def _priced(line: InvoiceLine, inclusive: bool) -> Decimal:
    """A line's amount as it was priced: gross for inclusive prices, else net."""
    return line.net_amount + line.tax_amount if inclusive else line.net_amount


def _series(kind: str, day: date) -> str:
    return f"{PREFIX[kind]}-{day.year}"


# ---- issuing -------------------------------------------------------------------------------

def issue(session: Session, invoice: Invoice, today: date, *, company: Mapping | None = None) -> Invoice:
    """Draft -> open: number, tax, facts, dates, ledger entry and PDF, all in the caller's
    transaction. The counter row of the series stays locked until it commits, so issuing in
    one series is serialised and numbers never repeat or skip."""
    return _issue(session, invoice, today, company, "invoice" if invoice.kind == "invoice" else "credit_note")


def _issue(session: Session, invoice: Invoice, today: date, company: Mapping | None, entry_kind: str) -> Invoice:
    invoice = lock_row(session, Invoice, invoice.id)
    if invoice.state != "draft":
        raise InvalidTransition(label(invoice), invoice.state, "issue it")
    lines = lines_of(session, invoice)
    if not lines:
        raise InvalidTransition(label(invoice), invoice.state, "issue it", "it has no lines")
    account = session.get(Account, invoice.account_id)
    original = session.get(Invoice, invoice.original_id) if invoice.original_id else None
    if original is None:
        rates, taxation = _apply_tax(session, invoice, lines, [_priced(ln, invoice.tax_inclusive) for ln in lines],
                                     account, invoice.tax_inclusive)
        invoice.seller = _seller(company, rates)
        invoice.buyer = _buyer(account, taxation, rates)
        terms = parse_terms(invoice.payment_terms)
    else:
        invoice.seller, invoice.buyer = original.seller, original.buyer
        terms = parse_terms(DUE_ON_RECEIPT)
    invoice.series = _series(invoice.kind, today)
    invoice.number = f"{invoice.series}-{next_number(session, invoice.series):05d}"
    invoice.issue_date, invoice.due_date = today, terms.due_date(today)
    invoice.discount_date, invoice.discount_percent = terms.discount_date(today), terms.discount_percent
    invoice.issued_at = invoice.updated_at = utcnow()
    content = documents.render_pdf(document_data(invoice, lines, original), template=TEMPLATE)
    invoice.document, invoice.document_sha256 = content, documents.sha256(content)
    if currency(invoice.currency).minor_units <= einvoice.MAX_DECIMALS:   # EN 16931 allows 2 decimals
        invoice.einvoice_xml = einvoice.cii_xml(invoice, lines, original.number if original else None)
    invoice.state = "open"
    session.add(invoice)
    session.flush()
    sign = 1 if invoice.kind == "invoice" else -1
    ledger.post(session, invoice.account_id, today, entry_kind, sign * invoice.gross_total, invoice.currency,
                invoice_id=invoice.id, memo=f"{invoice.number} {invoice.reason}")
    if original is not None:
        _apply_credit(session, original, invoice)
    webhooks.emit(session, "invoice.issued", summary(invoice, account, original))
    return invoice


def summary(invoice: Invoice, account: Account, original: Invoice | None = None) -> dict:
    """What webhooks tell about an invoice."""
    return {"id": invoice.id, "number": invoice.number, "kind": invoice.kind, "state": invoice.state,
            "account": account.code, "currency": invoice.currency, "gross_total": str(invoice.gross_total),
            "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
            "original": original.number if original else None}


def _seller(company: Mapping | None, rates: tax.TaxRates) -> dict:
    company = dict(company if company is not None else Settings.from_env().company)
    return {**company, **rates.seller}


def _buyer(account: Account, taxation: tax.Taxation, rates: tax.TaxRates) -> dict:
    return {"code": account.code, "name": account.name, "tax_id": account.tax_id, "segment": account.segment,
            "billing_address": dict(account.billing_address),
            "tax": {"jurisdiction": taxation.jurisdiction.code, "name": taxation.jurisdiction.name,
                    "note": taxation.note, "rates": rates.label}}


# ---- credit notes and voiding -----------------------------------------------------------------

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


def credit_note(session: Session, invoice: Invoice, lines_or_amount: Mapping[int, Decimal] | Decimal | None,
                reason: str, today: date, *, company: Mapping | None = None) -> Invoice:
    """Issue a credit note against an issued invoice and apply it to what the invoice still
    owes (any excess is account credit in the ledger). `lines_or_amount`: None credits all
    that is still creditable; {position: quantity} returns units of lines; a Decimal credits
    a gross amount spread over the lines in proportion to what is left of them. Never more
    than what is still creditable."""
    original = lock_row(session, Invoice, invoice.id)
    if original.kind != "invoice" or original.state not in CREDITABLE:
        raise InvalidTransition(label(original), original.state, "credit it")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason", "a credit note needs a reason")
    cur = currency(original.currency)
    left = _creditable(session, original)
    credits = _credit_lines(left, lines_or_amount, cur, original.tax_inclusive, label(original))
    note = Invoice(kind="credit_note", series=_series("credit_note", today), account_id=original.account_id,
                   order_id=original.order_id, original_id=original.id, currency=original.currency,
                   payment_terms=DUE_ON_RECEIPT, tax_inclusive=original.tax_inclusive,
                   reverse_charge=original.reverse_charge, reason=reason.strip()[:2000])
    session.add(note)
    session.flush()
    taxed = []
    for item, quantity, net, tax_amount in credits:
        source = item.line
        description = source.description if quantity else f"Price adjustment: {source.description}"
        session.add(InvoiceLine(invoice_id=note.id, position=source.position, order_line_key=source.order_line_key,
                                product=source.product, description=description[:500], quantity=quantity,
                                unit_price=_unit_price(net + tax_amount if original.tax_inclusive else net, quantity),
                                net_amount=net, tax_category=source.tax_category, tax_rate=source.tax_rate,
                                tax_amount=tax_amount, period_start=source.period_start, period_end=source.period_end))
        taxed.append(tax.TaxedLine(source.tax_category, source.tax_rate, net, tax_amount))
    _set_totals(note, tax.summarise(taxed, original.reverse_charge))
    session.add(note)
    session.flush()
    return _issue(session, note, today, company, "credit_note")


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
                  original: str) -> list[tuple[_Left, Decimal, Decimal, Decimal]]:
    """(line, quantity, net, tax) to credit. A partial credit takes the same share of a
    line's tax as of its amount (the tax charged, given back); the last credit of a line
    takes exactly what is left, so an invoice and its credit notes net to zero."""
    everything = [(item, item.quantity, item.net, item.tax) for item in left if item.net or item.tax]
    if what is None:
        if not everything:
            raise InvalidInput("lines", f"nothing is left to credit on {original}")
        return everything
    if isinstance(what, Mapping):
        if not what:
            raise InvalidInput("lines", "name at least one line to credit")
        return [_credit_units(left, position, quantity, cur, inclusive, original)
                for position, quantity in what.items()]
    if not isinstance(what, Decimal) or not what.is_finite():
        raise InvalidInput("amount", "expected a decimal amount, or {position: quantity}, or None for all")
    creditable = sum((item.gross for item in left), ZERO)
    if not cur.is_exact(what) or not ZERO < what <= creditable:
        raise InvalidInput("amount", f"must be more than 0 and at most {cur.code} {creditable} (still creditable "
                                     f"on {original}), in {cur.code}'s minor units")
    if what == creditable:
        return everything
    out = []
    for item, gross in zip(left, allocate(what, [max(item.gross, ZERO) for item in left], cur.quantum)):
        if gross:
            tax_amount = item.tax if gross == item.gross else cur.round(item.tax * gross / item.gross)
            out.append((item, ZERO, gross - tax_amount, tax_amount))
    return out


def _credit_units(left: list[_Left], position, quantity, cur: Currency, inclusive: bool,
                  original: str) -> tuple[_Left, Decimal, Decimal, Decimal]:
    where = f"lines.{position}"
    item = next((i for i in left if i.line.position == position), None) if isinstance(position, int) else None
    if item is None:
        raise InvalidInput(where, f"{original} has no line {position!r}")
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or not ZERO < quantity <= item.quantity:
        raise InvalidInput(where, f"expected a quantity above 0 and at most {item.quantity} (still creditable)")
    if quantity == item.quantity:
        net, tax_amount = item.net, item.tax
    else:
        share = quantity / item.quantity
        tax_amount = cur.round(item.tax * share)
        priced = cur.round((item.gross if inclusive else item.net) * share)
        net = priced - tax_amount if inclusive else priced
    if not net and not tax_amount:
        raise InvalidInput(where, "nothing is left to credit on this line")
    return item, quantity, net, tax_amount


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
    webhooks.emit(session, "invoice.voided", summary(original, session.get(Account, original.account_id)) | {
        "credit_note": note.number})
    return note


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
    invoice = _draft(session, account, [charge], cur, parse_terms(account.payment_terms).code, text, today)
    return _issue(session, invoice, today, None, "late_fee")


# ---- the document --------------------------------------------------------------------------

def document_data(invoice: Invoice, lines: list[InvoiceLine], original: Invoice | None) -> dict:
    """The invoice as the plain data its PDF shows (amounts as exact decimal text)."""
    cur = currency(invoice.currency)
    terms = parse_terms(invoice.payment_terms)
    discount = None
    if terms.discount_percent is not None:
        discount = {"percent": f"{terms.discount_percent:f}", "date": invoice.discount_date.isoformat(),
                    "amount": str(terms.discount_amount(invoice.gross_total, cur))}
    notes = [invoice.buyer["tax"]["note"]] if invoice.buyer.get("tax", {}).get("note") else []
    return {
        "kind": invoice.kind, "number": invoice.number, "currency": cur.code,
        "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "terms": terms.label, "discount": discount, "company": invoice.seller, "buyer": invoice.buyer,
        "original": original.number if original else None,
        "original_date": original.issue_date.isoformat() if original else None,
        "reason": invoice.reason, "tax_inclusive": invoice.tax_inclusive, "reverse_charge": invoice.reverse_charge,
        "lines": [{"position": ln.position, "description": ln.description, "product": ln.product,
                   "quantity": str(ln.quantity), "unit_price": str(ln.unit_price), "tax_category": ln.tax_category,
                   "tax_rate": f"{ln.tax_rate:f}", "net": str(ln.net_amount), "tax": str(ln.tax_amount),
                   "period": [ln.period_start.isoformat(), ln.period_end.isoformat()] if ln.period_start else None}
                  for ln in lines],
        "breakdown": invoice.tax_breakdown, "notes": notes,
        "totals": {"net": str(invoice.net_total), "tax": str(invoice.tax_total), "gross": str(invoice.gross_total)},
    }
