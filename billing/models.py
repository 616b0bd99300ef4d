"""Tables of billing: invoices and credit notes, billing schedules, payments and their
allocations, the receivables ledger, dunning notices and revenue schedules.

An issued invoice copies every fact it shows (seller, buyer, lines, tax) and never changes;
a correction is a credit note pointing to it. Ledger entries are written once: an account's
receivable balance is the sum of its entries, always.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import JSON, Field

from core.db import Amount, Table, append, forbid_updates, owned, timestamp
from core.actor import current_actor
from core.errors import ImmutableRecord

INVOICE_STATES = ("draft", "open", "partially_paid", "paid", "void", "uncollectible")
KINDS = ("invoice", "credit_note")



class Invoice(Table, table=True):
    __tablename__ = "invoice"
    __table_args__ = (sa.UniqueConstraint("series", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="invoice", max_length=16)
    series: str = Field(max_length=32)                      # e.g. "INV-2026", "CN-2026"
    number: str | None = Field(default=None, max_length=40)  # given at issue, gap-free per series
    state: str = Field(default="draft", max_length=16)
    account_id: int = Field(foreign_key="account.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id", index=True)
    original_id: int | None = Field(default=None, foreign_key="invoice.id")   # a credit note's invoice
    currency: str = Field(max_length=3)
    issue_date: date | None = None
    due_date: date | None = None
    payment_terms: str = Field(max_length=32)               # code, e.g. net30, 2/10net30
    discount_date: date | None = None                       # early-payment discount deadline
    discount_percent: Decimal | None = Field(default=None, sa_type=Amount)
    tax_inclusive: bool = False
    reverse_charge: bool = False
    seller: dict = Field(default_factory=dict, sa_type=JSON)   # copied at issue
    buyer: dict = Field(default_factory=dict, sa_type=JSON)    # copied at issue
    net_total: Decimal = Field(default=Decimal(0), sa_type=Amount)
    tax_total: Decimal = Field(default=Decimal(0), sa_type=Amount)
    gross_total: Decimal = Field(default=Decimal(0), sa_type=Amount)
    amount_paid: Decimal = Field(default=Decimal(0), sa_type=Amount)  # allocations and credits applied
    tax_breakdown: list = Field(default_factory=list, sa_type=JSON)  # [{category, rate, base, tax}]
    reason: str = Field(default="", max_length=2000)         # what it bills (milestone, period) or corrects
    dunning_level: int = 0
    # ISO 11649 creditor reference a payment quotes (billing/remittance.py); an invoice's, at issue
    payment_reference: str | None = Field(default=None, max_length=25, index=True)
    created_at: datetime = timestamp()
    issued_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = timestamp()


class InvoiceLine(Table, table=True):
    __tablename__ = "invoice_line"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    position: int
    order_line_key: str | None = Field(default=None, max_length=40)
    product: str = Field(default="", max_length=100)
    description: str = Field(max_length=500)
    quantity: Decimal = Field(sa_type=Amount)
    unit_price: Decimal = Field(sa_type=Amount)              # net, or gross when tax-inclusive
    net_amount: Decimal = Field(sa_type=Amount)
    tax_category: str = Field(max_length=32)
    tax_rate: Decimal = Field(sa_type=Amount)                # percent
    tax_amount: Decimal = Field(sa_type=Amount)
    period_start: date | None = None
    period_end: date | None = None
    order_id: int | None = Field(default=None, foreign_key="sales_order.id", index=True)   # the order it bills
    part: int = 0              # of a consolidated invoice: the document it replaces, taxed on its own


class InvoiceEvent(Table, table=True):
    """Audit trail of invoices: every state change (issue, payment, credit, void, write-off),
    recorded by the flush that makes it (once it passes the checks), with who acted (core.actor)."""
    __tablename__ = "invoice_event"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    at: datetime = timestamp()
    actor: str = Field(max_length=254)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)


class BillingPeriod(Table, table=True):
    """One period of a recurring order line, billed in advance; `invoice_id` is set when billed."""
    __tablename__ = "billing_period"
    __table_args__ = (sa.UniqueConstraint("order_id", "line_key", "period_start"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    line_key: str = Field(max_length=40)
    period_start: date
    period_end: date                                        # inclusive
    amount: Decimal = Field(sa_type=Amount)                 # prorated for a partial period
    bill_on: date
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")


class BillingAdjustment(Table, table=True):
    """What an amendment changed of a period already billed: + charged on `invoice_id`, -
    credited by the credit note `invoice_id`. A period has billed its amount plus these."""
    __tablename__ = "billing_adjustment"

    id: int | None = Field(default=None, primary_key=True)
    period_id: int = Field(foreign_key="billing_period.id", index=True)
    version_id: int = Field(foreign_key="subscription_version.id", index=True)
    amount: Decimal = Field(sa_type=Amount)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    created_at: datetime = timestamp()


class Payment(Table, table=True):
    __tablename__ = "payment"
    __table_args__ = (sa.UniqueConstraint("account_id", "reference"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    method: str = Field(max_length=32)                      # bank_transfer, card, cheque, ...
    reference: str = Field(max_length=100)                  # the bank's or processor's reference
    received_on: date
    unapplied: Decimal = Field(sa_type=Amount)              # what no invoice took: account credit
    refunded: Decimal = Field(default=Decimal(0), sa_type=Amount)
    created_at: datetime = timestamp()


class BankTransaction(Table, table=True):
    """A credit line of an imported bank statement, kept once (its bank reference is unique, so
    importing a statement again adds nothing): `matched` to the invoice its remittance names
    and the payment recorded for it, or `unmatched` with the reason, for a person to match."""
    __tablename__ = "bank_transaction"

    id: int | None = Field(default=None, primary_key=True)
    bank_ref: str = Field(max_length=100, unique=True)
    booked_on: date
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    remittance: str = Field(default="", max_length=500)
    payer: str = Field(default="", max_length=200)
    status: str = Field(default="unmatched", max_length=16, index=True)   # matched | unmatched
    note: str = Field(default="", max_length=500)                        # why it is unmatched
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    imported_at: datetime = timestamp()


class PaymentAllocation(Table, table=True):
    __tablename__ = "payment_allocation"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount: Decimal = Field(sa_type=Amount)
    at: datetime = timestamp()


class LedgerEntry(Table, table=True):
    """One movement of an account's receivable: + what the customer owes more (an invoice, a
    late fee, a refund), - what they owe less (a payment, a credit note, a write-off)."""
    __tablename__ = "ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    at: datetime = timestamp()
    on: date                                                # the business date
    kind: str = Field(max_length=20)                        # invoice | credit_note | payment | refund | late_fee | write_off
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    memo: str = Field(default="", max_length=500)


class DunningNotice(Table, table=True):
    __tablename__ = "dunning_notice"
    __table_args__ = (sa.UniqueConstraint("invoice_id", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    level: int
    sent_on: date
    days_overdue: int
    fee_invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    letter: str = Field(sa_type=sa.Text)


class RevenueLine(Table, table=True):
    """The revenue of one performance obligation recognised in one period (ASC 606 / IFRS 15)."""
    __tablename__ = "revenue_line"
    __table_args__ = (sa.UniqueConstraint("contract_id", "obligation", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    obligation: str = Field(max_length=40)                  # the order line key
    period: str = Field(max_length=7)                       # YYYY-MM
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    basis: str = Field(max_length=16)                       # point_in_time | ratably


for _table in (LedgerEntry, PaymentAllocation, InvoiceEvent, BillingAdjustment):
    forbid_updates(_table)

# What payments and collections may still change on an issued invoice.
TRACKED = frozenset({"state", "amount_paid", "dunning_level", "updated_at"})


def _changed(obj) -> set[str]:
    """The columns set since the row was loaded or flushed: only those the session noted a
    value before (its committed_state) can have changed, so the others are not asked."""
    state = sa.inspect(obj)
    columns = state.mapper.column_attrs
    return {key for key in state.committed_state if key in columns and state.attrs[key].history.has_changes()}


def _refuse_changes_to_issued(session, _context, _instances) -> None:
    """Before every flush: an issued invoice's facts and lines never change, and it is never
    deleted nor put back to draft; payments and collections may move its state, amount
    paid and dunning level. Decided on the state as stored, so issuing (a draft's last
    flush) passes; the states are read in one statement, however many invoices the flush
    touches (rating drafts thousands)."""
    dirty = session.dirty                              # a set made anew on each ask
    lines = [obj for obj in (*session.new, *dirty, *session.deleted)
             if isinstance(obj, InvoiceLine) and (obj not in dirty or _changed(obj))]
    invoices = [obj for obj in (*dirty, *session.deleted) if isinstance(obj, Invoice)]
    if not lines and not invoices:                     # most flushes: nothing to check or record
        return
    stored = _stored_states(session, {ln.invoice_id for ln in lines} | {i.id for i in invoices})

    def issued(invoice_id: int | None) -> bool:
        return stored.get(invoice_id) not in (None, "draft")

    for obj in session.deleted:
        if isinstance(obj, Invoice) and issued(obj.id):
            raise ImmutableRecord(f"invoice {obj.number} is issued: it cannot be deleted")
    for obj in lines:
        if issued(obj.invoice_id):
            raise ImmutableRecord(f"the lines of issued invoice #{obj.invoice_id} cannot change")
    changed = [obj for obj in dirty if isinstance(obj, Invoice)]
    for obj in changed:
        frozen = _changed(obj) - TRACKED
        if (frozen or obj.state == "draft") and issued(obj.id):
            what = ", ".join(sorted(frozen)) if frozen else "its state back to draft"
            raise ImmutableRecord(f"invoice {obj.number} is issued: {what} cannot change")
    append(session, InvoiceEvent, *filter(None, map(_state_event, changed)))   # once no change was refused


def _stored_states(session, ids: set[int | None]) -> dict[int, str]:
    """The stored state of each of these invoices (absent: not stored yet); one the transaction
    owns (core.db.owned) is known without reading it."""
    states = {}
    for invoice_id in ids:
        row = owned(session, Invoice, invoice_id) if invoice_id is not None else None
        history = sa.inspect(row).attrs.state.history if row is not None else None
        if history is not None and (history.unchanged or history.deleted):
            states[invoice_id] = (history.unchanged or history.deleted)[0]
    wanted = sorted(i for i in ids if i is not None and i not in states)
    table = Invoice.__table__
    for start in range(0, len(wanted), 10_000):
        states.update(session.connection().execute(
            sa.select(table.c.id, table.c.state).where(table.c.id.in_(wanted[start:start + 10_000]))).all())
    return states


sa.event.listen(sa.orm.Session, "before_flush", _refuse_changes_to_issued)



def _state_event(invoice: Invoice) -> dict | None:
    """The InvoiceEvent of the invoice's change of state in this flush, if it changes."""
    history = sa.inspect(invoice).attrs.state.history
    if history.deleted and history.added and history.deleted[0] != history.added[0]:
        return dict(invoice_id=invoice.id, actor=current_actor.get()[:254], from_state=history.deleted[0],
                    to_state=history.added[0])
    return None
