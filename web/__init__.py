"""The web pages: the customer's configurator and share links, and for signed-in people the
quotes, accounts, approvals, contracts, orders, invoices, finance and dashboard pages. One
module per page family; the page shell (web/shell.py) holds what they share. Templates and
scripts are beside them (web/templates, web/static)."""

from __future__ import annotations

from flask import Flask


def register_pages(app: Flask) -> None:
    """Mount the pages on the app (api/app.py calls this)."""
    from web import (accounts, dashboard, finance, i18n, invoices, orders, quotes, share,  # noqa: F401 (their routes)
                     signin, storefront)
    from sales.documents import state
    from web.shell import blp

    i18n.init_app(app)
    app.jinja_env.filters.update(state=state)
    app.register_blueprint(share.blp)
    app.register_blueprint(blp)
