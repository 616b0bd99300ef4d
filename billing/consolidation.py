"""Consolidated invoicing: every path that bills (an order's charges and periods, a usage
period's rating, the billing day) hands what each source document owes to `draft_all`, which
drafts one invoice per document for an account invoiced `per_document`, and one per currency
for all of them for an account invoiced `per_billing_day`.

Each document becomes a part of the consolidated invoice: its lines keep their source (the
order and order line, the period, the usage period and product) and are taxed as a part, just
as the invoice it replaces would be, so its lines and totals are the sum of those invoices to
the minor unit (tax is rounded per part and rate, not once over the whole invoice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Callable

from sqlmodel import Session

from billing.invoices import Draft, draft_many
from billing.models import Invoice
from billing.terms import parse_terms
from core.dates import add_months
from sales.accounts import Account

REASON_LIMIT = 2000


@dataclass(frozen=True)
class Due:
    """What one source document owes, and how to mark its sources billed by the invoice that
    takes it (periods, usage charges)."""
    draft: Draft
    settle: Callable[[Invoice], None]


def billing_date(account: Account, due: date) -> date:
    """The day something due on `due` is invoiced: that day, or the account's first billing
    day from it."""
    if account.invoice_consolidation != "per_billing_day":
        return due
    day = due.replace(day=account.billing_day)
    return day if day >= due else add_months(day, 1)


def draft_all(session: Session, drafts: list[Draft], today: date) -> list[Invoice]:
    """Draft invoices for `drafts` (billing.invoices.draft_many: a few statements whatever
    their number), consolidated per the accounts' setting; for each draft, the invoice that
    took it."""
    merged, where = consolidate(drafts)
    drafted = draft_many(session, merged, today)
    return [drafted[i] for i in where]


def bill(session: Session, dues: list[Due], today: date) -> list[Invoice]:
    """Draft the dues (`draft_all`) and settle each with its invoice; for each due, that invoice."""
    drafted = draft_all(session, [d.draft for d in dues], today)
    for due, invoice in zip(dues, drafted):
        due.settle(invoice)
    session.flush()
    return drafted


def consolidate(drafts: list[Draft]) -> tuple[list[Draft], list[int]]:
    """The drafts to make, and for each given draft the index of the one that takes it: an
    account invoiced per billing day has its drafts of one currency merged, each a part."""
    groups: dict[tuple, list[Draft]] = {}
    where_key = []
    for i, d in enumerate(drafts):
        key = ((d.account.id, d.currency.code) if d.account.invoice_consolidation == "per_billing_day"
               else ("document", i))
        groups.setdefault(key, []).append(d)
        where_key.append(key)
    index = {key: n for n, key in enumerate(groups)}
    return [_merge(group) for group in groups.values()], [index[key] for key in where_key]


def _merge(drafts: list[Draft]) -> Draft:
    """One draft of the parts; the terms and order they share, else the account's terms and no
    order (each line names its order)."""
    if len(drafts) == 1:
        return drafts[0]
    first = drafts[0]
    terms = {d.terms for d in drafts}
    orders = {d.order.id if d.order else None for d in drafts}
    charges = [replace(c, part=n, order_id=c.order_id if c.order_id is not None else d.order.id if d.order else None)
               for n, d in enumerate(drafts) for c in d.charges]
    return Draft(first.account, charges, first.currency, 
                 terms.pop() if len(terms) == 1 else parse_terms(first.account.payment_terms).code,
                 "; ".join(d.reason for d in drafts)[:REASON_LIMIT], first.order if len(orders) == 1 else None)
