"""The finance page: credit holds, invoices, payments and receivables by age."""

from __future__ import annotations

from datetime import date

from flask import current_app

from api.auth import requires
from billing import collections
from core.db import session_scope
from sales.accounts import list_accounts
from web.shell import blp, page


@blp.get("/app/finance")
@requires("collections:read")
def finance():
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        aged = collections.aging(session, date.today())
        accounts = [{"code": a.code, "name": a.name, "currency": a.currency} for a in list_accounts(session, limit=None)]
    return page("pages/finance.html", aging=aged, buckets=collections.BUCKETS, accounts=accounts)
