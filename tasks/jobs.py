"""The daily jobs: expire quotes, quote renewals and end what was renewed or declined, move
contracts through their key dates, issue the recurring invoices that are due, rate the usage
periods whose grace has ended (draft invoices, issued by finance after review), make the
consolidated invoices of the accounts whose billing day it is, and dun
overdue invoices. Each step is its own transaction and safe to run any number of times, so a
missed or repeated day does no harm. The scheduler runs them daily; `cpq jobs run` runs them
by hand (for another day, say)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Callable

from celery import shared_task
from sqlalchemy.engine import Engine

from billing import billing_days, collections, invoices, order_billing, rating
from core import queue
from core.db import session_scope
from sales import contracts, renewals, workflow
from sales.accounts import Account


def run(engine: Engine, day: date, company: dict, report: Callable[[str, list[str]], None],
        usage_grace_days: int = 3) -> None:
    """Every step as of `day`; `report(step, lines done)` after each."""
    steps = [
        ("quotes", lambda s: [f"{q.number} revision {q.revision}: expired" for q in workflow.expire_due(s, day)]),
        ("renewals", lambda s: renewals.run_jobs(s, day)),
        ("contracts", lambda s: contracts.run_jobs(s, day)),
        ("billing", lambda s: [f"{invoices.issue(s, d, day, company=company).number}: issued"
                               for d in order_billing.bill_due_periods(s, day)]),
        ("usage", lambda s: _usage(s, day, usage_grace_days)),
        ("billing day", lambda s: _billing_day(s, day, company, usage_grace_days)),
        ("dunning", lambda s: _dunning(s, day)),
    ]
    for name, step in steps:
        with session_scope(engine) as session:
            done = step(session)
        report(name, done)


def _usage(session, day: date, grace_days: int) -> list[str]:
    """Rate the periods whose grace ended by the start of `day` (grace ends at midnight UTC)."""
    out = []
    for run in rating.close_due_periods(session, datetime.combine(day, time(), timezone.utc), grace_days=grace_days):
        out.append(f"{run.period:%Y-%m}: {len(run.invoices)} draft invoices")
        out += [f"{run.period:%Y-%m}: {f.account} not rated ({f.reason})" for f in run.failed]
    return out


def _billing_day(session, day: date, company: dict, grace_days: int) -> list[str]:
    """The consolidated invoices of the accounts whose billing day it is: issued, unless they
    bill usage (drafts for review, as rating's)."""
    billed = billing_days.bill(session, day, datetime.combine(day, time(), timezone.utc), grace_days=grace_days)
    out = [f"draft #{i.id} ({session.get(Account, i.account_id).code}): bills usage, for review"
           if i.id in billed.with_usage else f"{invoices.issue(session, i, day, company=company).number}: issued"
           for i in billed.invoices]
    return out + [f"{f.account}: usage not rated ({f.reason})" for f in billed.failed]


def _dunning(session, day) -> list[str]:
    dunned = collections.run_dunning(session, day)
    out = [f"{n.invoice_number}: level {n.level}" + (f", fee {n.fee} {n.currency}" if n.fee else "")
           for n in dunned.notices]
    return out + [f"{number}: not dunned ({why})" for number, why in dunned.failed]


@shared_task(name="jobs.daily")
def daily() -> None:
    engine, settings = queue.context()
    run(engine, date.today(), dict(settings.company), lambda _step, _done: None, settings.usage_grace_days)
