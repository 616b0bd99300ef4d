"""The billing day of accounts invoiced `per_billing_day`: everything due is gathered on one
invoice per currency (billing.consolidation), from orders (one-time lines not invoiced yet,
recurring periods whose day has come) and from usage periods whose grace has ended (rated
then, not when the period closes). Until the day, what is due waits; a period or usage billed
is billed once, so the day's run is safe to repeat, and a missed day is caught up by running
the jobs for it (`cpq jobs run --today`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, select

from billing import consolidation, order_billing, rating
from billing.models import Invoice
from billing.usage_models import DEFAULT_GRACE_DAYS
from sales.accounts import Account


@dataclass
class BillingDay:
    invoices: list[Invoice] = field(default_factory=list)
    with_usage: set[int] = field(default_factory=set)           # invoice ids: reviewed before issue, as rating's
    failed: list[rating.Unrated] = field(default_factory=list)   # usage left for the next billing day


def bill(session: Session, day: date, now: datetime, *, grace_days: int = DEFAULT_GRACE_DAYS) -> BillingDay:
    """Draft the consolidated invoices of the accounts whose billing day is `day`'s day of the
    month, as of `now` for usage."""
    result = BillingDay()
    accounts = session.exec(select(Account).where(Account.invoice_consolidation == "per_billing_day",
                                                  Account.billing_day == day.day).order_by(Account.id)).all()
    for account in accounts:
        usage, failed = rating.due_on_billing_day(session, account, now, grace_days=grace_days)
        result.failed += failed
        dues = order_billing.due_on_billing_day(session, account, day) + usage
        drafted = consolidation.bill(session, dues, day)
        result.invoices += {invoice.id: invoice for invoice in drafted}.values()
        result.with_usage |= {invoice.id for invoice in drafted[len(dues) - len(usage):]}
    return result
