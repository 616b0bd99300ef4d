"""Customer accounts: search and create, and one account with its contacts, quotes, orders,
invoices, payments and (for finance) receivables by age."""

from __future__ import annotations

from datetime import date

from api.auth import caller, requires
from api.blueprint import db_session
from api.sales_schemas import AccountOutSchema
from billing import collections
from core import locales
from sales.accounts import DEFAULT_TERMS, SEGMENTS, account_dict, get_account
from web.shell import blp, page


@blp.get("/app/accounts")
@requires("accounts:read")
def accounts_page():
    return page("pages/accounts.html", segments=SEGMENTS, default_terms=DEFAULT_TERMS)


@blp.get("/app/accounts/<code>")
@requires("accounts:read")
def account_page(code):
    with db_session() as session:
        account = get_account(session, code)
        facts = AccountOutSchema().dump(account_dict(session, account))    # as the API shows it
        aged = collections.aging(session, date.today(), account) if "collections:read" in caller().permissions else None
    return page("pages/account.html", account=facts, segments=SEGMENTS, languages=locales.names(),
                aged=aged.accounts.get(facts["code"]) if aged else None)
