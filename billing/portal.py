"""The customer's billing portal: through a link sent to a billing contact, everything of
their account's billing at once: contracts, subscriptions, usage of the open period priced so
far, invoices and credit notes (PDF and e-invoice), payments and the balance.

The link is like a share link: a random 256-bit token stored only as its SHA-256, valid for a
number of days, revocable; an unknown, expired or revoked one is simply not found. What it
shows is a projection listing what a customer may see (`overview`): no costs, margins,
internal notes or other accounts' data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, select

from billing import consolidation, invoices as invoicing, ledger, payments, rating
from billing.models import BillingPeriod, Invoice, Payment
from billing.usage_models import DEFAULT_GRACE_DAYS, period_of
from core import docstore
from core.db import Table, aware, timestamp, utcnow
from core.errors import InvalidInput, NotFound
from core.tokens import new_token, token_hash
from sales.accounts import Account, contacts_of
from sales import subscriptions
from sales.order_models import Contract, Subscription

MAX_DAYS = 90
VISIBLE_INVOICE_STATES = ("open", "partially_paid", "paid", "void", "uncollectible")


class PortalLink(Table, table=True):
    __tablename__ = "portal_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    email: str = Field(max_length=254)                      # the billing contact it was sent to
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = timestamp()
    created_by: str | None = Field(default=None, max_length=32)


def invite(session: Session, account: Account, email: str, days: int, created_by: str | None) -> tuple[PortalLink, str]:
    """A new link for `email`, one of the account's contacts; the token is returned once."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput("days", f"a portal link lasts 1 to {MAX_DAYS} days")
    if email.lower() not in {c.email.lower() for c in contacts_of(session, account)}:
        raise InvalidInput("email", f"{email} is not a contact of account {account.code}")
    token = new_token()
    link = PortalLink(token_hash=token_hash(token), account_id=account.id, email=email,
                      expires_at=utcnow() + timedelta(days=days), created_by=created_by)
    session.add(link)
    session.flush()
    return link, token


def revoke_all(session: Session, account: Account) -> int:
    """End every link of the account now (a contact left, a link was forwarded)."""
    links = session.exec(select(PortalLink).where(PortalLink.account_id == account.id,
                                                  PortalLink.revoked_at.is_(None))).all()
    for link in links:
        link.revoked_at = utcnow()
        session.add(link)
    return len(links)


def open_link(session: Session, token: str) -> Account:
    link = session.get(PortalLink, token_hash(token)) if isinstance(token, str) and len(token) <= 100 else None
    if link is None or link.revoked_at is not None or aware(link.expires_at) < utcnow():
        raise NotFound("this link is unknown or has expired")
    return session.get(Account, link.account_id)


def invoice_of(session: Session, account: Account, invoice_id: int) -> Invoice:
    """One of the account's issued invoices or credit notes; any other is not found."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.account_id != account.id or invoice.state not in VISIBLE_INVOICE_STATES:
        raise NotFound(f"unknown invoice {invoice_id}")
    return invoice


def overview(session: Session, account: Account, now: datetime | None = None, *,
             grace_days: int = DEFAULT_GRACE_DAYS) -> dict:
    """What the customer sees (as of `now`): plain values, listed field by field."""
    now = now or utcnow()
    invoices = list(session.exec(select(Invoice).where(Invoice.account_id == account.id,
                                                       Invoice.state.in_(VISIBLE_INVOICE_STATES))
                                 .order_by(Invoice.issue_date.desc(), Invoice.id.desc())))
    rendered = docstore.facts_of(session, "invoice", [i.id for i in invoices])
    contracts = session.exec(select(Contract).where(Contract.account_id == account.id,
                                                    Contract.state.not_in(("draft", "withdrawn")))
                             .order_by(Contract.start_date.desc())).all()
    received = session.exec(select(Payment).where(Payment.account_id == account.id)
                            .order_by(Payment.received_on.desc(), Payment.id.desc())).all()
    return {
        "account": {"code": account.code, "name": account.name, "currency": account.currency},
        "balance": ledger.balance(session, account.id, account.currency), "currency": account.currency,
        "contracts": [{"number": c.number, "state": c.state, "start_date": c.start_date, "end_date": c.end_date,
                       "term_months": c.term_months, "auto_renew": c.auto_renew, "contract_value": c.contract_value,
                       "currency": c.currency} for c in contracts],
        "invoices": [{"id": i.id, "number": i.number, "kind": i.kind, "state": i.state, "issue_date": i.issue_date,
                      "due_date": i.due_date, "currency": i.currency, "gross_total": i.gross_total,
                      "amount_paid": i.amount_paid, "balance": payments.balance_due(i) if i.kind == "invoice" else None,
                      "payment_reference": i.payment_reference,
                      "transfer": invoicing.transfer_details(i) if i.kind == "invoice" and payments.balance_due(i) > 0 else None,
                      "document_status": rendered[i.id, "pdf"].status if (i.id, "pdf") in rendered else None,
                      "has_einvoice": (i.id, "cii") in rendered} for i in invoices],
        "payments": [{"reference": p.reference, "received_on": p.received_on, "amount": p.amount,
                      "currency": p.currency, "unapplied": p.unapplied, "method": p.method} for p in received],
        "subscriptions": _subscriptions(session, account, now.date()),
        "usage": _usage(session, account, now, grace_days),
    }


def _subscriptions(session: Session, account: Account, today: date) -> list[dict]:
    """Each subscription as it stands today: the version in force, and when it is billed next."""
    found = session.exec(select(Subscription).where(Subscription.account_id == account.id)
                         .order_by(Subscription.start_date, Subscription.id)).all()
    versions = subscriptions.versions_by_subscription(session, [s.id for s in found])
    out = []
    for s in found:
        version = subscriptions.in_force(versions[s.id], today)
        out.append({"product": s.name, "state": s.state, "quantity": version.quantity, "unit_price": version.unit_price,
                    "amount": version.amount, "charge": s.charge, "currency": s.currency, "start_date": s.start_date,
                    "end_date": s.end_date, "term_months": s.term_months,
                    "next_billing_date": _next_billing(session, account, s, today)})
    return out


def _next_billing(session: Session, account: Account, subscription: Subscription, today: date) -> date | None:
    """The day its next unbilled period is invoiced (the account's billing day where it has
    one); its start while billing has not begun; none once every period is billed."""
    stored = session.exec(select(BillingPeriod.bill_on, BillingPeriod.invoice_id)
                          .where(BillingPeriod.order_id == subscription.order_id,
                                 BillingPeriod.line_key == subscription.line_key)
                          .order_by(BillingPeriod.bill_on)).all()
    ends = subscription.cancelled_on or subscription.end_date + timedelta(days=1)
    due = next((day for day, invoice_id in stored if invoice_id is None and day < ends),
               None if stored else subscription.start_date)
    return None if due is None else consolidation.billing_date(account, max(due, today))


def _usage(session: Session, account: Account, now: datetime, grace_days: int) -> dict:
    """The open period's usage per meter, priced so far (rating.running_usage): quantities and
    amounts only."""
    running = rating.running_usage(session, account, period_of(now), now, grace_days=grace_days)
    return {"period": running.period, "closes_at": running.closes_at, "currency": running.currency,
            "total": running.total,
            "meters": [{"name": m.name or m.meter, "unit": m.unit, "quantity": m.quantity,
                        "amount": m.rated.total if m.rated else None} for m in running.meters]}
