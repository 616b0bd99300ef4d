"""The finance page: credit holds, invoices, payments, the bank transfers to match by hand, and
receivables by age."""

from __future__ import annotations

from datetime import date

from api.auth import requires
from api.blueprint import db_session
from billing import collections
from sales.accounts import list_accounts
from web.shell import blp, page


@blp.get("/app/finance")
@requires("collections:read")
def finance():
    with db_session() as session:
        aged = collections.aging(session, date.today())
        accounts = [{"code": a.code, "name": a.name, "currency": a.currency} for a in list_accounts(session, limit=None)]
    return page("pages/finance.html", aging=aged, buckets=collections.BUCKETS, accounts=accounts)
