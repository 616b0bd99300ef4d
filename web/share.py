"""What a customer reaches through a link: the quote as a web page with its PDF, accepting
(typed-name e-signature) or declining it, the contract to sign the same way, and the account's
billing portal. The JSON twins are api/share.py (/api/v1/shared), api/orders.py
(/api/v1/signing) and api/portal.py (/api/v1/portal).

Each page is in the language of the account it shows (web/i18n.py). The token in the URL is
the only credential; an unknown or expired one is a 404 page in the browser's language. So no answer
is cached or leaks the address as a referrer, and nobody may frame these pages: a framing page
could overlay the accept or sign button (clickjacking), and no CRM needs the customer's link.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, redirect, render_template, request, url_for

from api.auth import client, requires
from api.blueprint import app_settings, db_session, refuse_unstorable
from api.documents import served
from core import docstore
from core.permissions import PUBLIC
from core.errors import DomainError, InvalidInput, NotFound
from billing import portal
from sales import acceptance, contracts
from sales.quote_data import document_data
from web.i18n import use_language
from web.shell import page_headers

blp = Blueprint("share", __name__, template_folder="templates")


@blp.after_request
def _private(response: Response) -> Response:
    response.headers.update(page_headers() | {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


@blp.errorhandler(NotFound)
def _gone(_exc: NotFound):
    """An unknown, expired or withdrawn link: a page that says so, not the API's JSON (what
    went wrong stays unsaid beyond that: nothing to probe tokens with)."""
    return render_template("share/error.html", company=app_settings().company), 404


def _form():
    """The customer's form; a field with text no database stores is a 422 naming it."""
    refuse_unstorable(request.form.items(multi=True), "form")
    return request.form


@blp.get("/q/<token>")
@requires(PUBLIC)
def page(token):
    with db_session() as session:
        shared = acceptance.open_link(session, token)
        doc = document_data(session, shared.quote, app_settings().company,
                            draft=False, decision=shared.decision)
        use_language(doc["language"])
        html = render_template("share/quote.html", token=token, shared=shared, doc=doc, company=doc["company"],
                               error=request.args.get("error"), today=date.today())
    return html


@blp.get("/q/<token>/pdf")
@requires(PUBLIC)
def page_pdf(token):
    with db_session() as session:
        quote = acceptance.open_link(session, token).quote
        return served(session, "quote", quote.id, "pdf", f"{quote.number}-r{quote.revision}.pdf")


def _back_to(endpoint: str, token: str, action) -> Response:
    """Run the customer's action, then back to the page (303), with the reason when it was
    refused; an unknown or expired link stays a 404."""
    try:
        with db_session() as session:
            action(session)
    except DomainError as exc:
        if isinstance(exc, LookupError):
            raise
        return redirect(url_for(endpoint, token=token, error=str(exc)), code=303)
    return redirect(url_for(endpoint, token=token), code=303)


@blp.post("/q/<token>/<any(accept, decline):decision>")
@requires(PUBLIC)
def page_decide(token, decision):
    form = _form()
    ip, agent = client()

    def decide(session):
        if decision == "decline":
            acceptance.decline(session, token, form.get("name", ""), form.get("email", ""), ip, agent,
                               date.today(), form.get("reason", ""))
            return
        if form.get("agree") != "yes":
            raise InvalidInput("agree", "tick the box to accept the terms")
        acceptance.accept(session, token, form.get("name", ""), form.get("email", ""), ip, agent,
                          date.today(), form.get("document_sha256") or None)
    return _back_to("share.page", token, decide)


@blp.get("/c/<token>")
@requires(PUBLIC)
def contract_page(token):
    """The customer's contract signing page."""
    with db_session() as session:
        contract = contracts.open_link(session, token)
        doc = contracts.document_data(session, contract, app_settings().company)
        use_language(doc["language"])
        html = render_template("share/contract.html", token=token, contract=contract, doc=doc, company=doc["company"],
                               document=docstore.facts(session, "contract", contract.id),
                               error=request.args.get("error"))
    return html


@blp.get("/c/<token>/pdf")
@requires(PUBLIC)
def contract_pdf(token):
    with db_session() as session:
        contract = contracts.open_link(session, token)
        return served(session, "contract", contract.id, "pdf", f"{contract.number}.pdf")


@blp.post("/c/<token>/sign")
@requires(PUBLIC)
def contract_sign(token):
    form = _form()
    ip, agent = client()

    def sign(session):
        if form.get("agree") != "yes":
            raise InvalidInput("agree", "tick the box to agree to the contract")
        contracts.sign(session, token, form.get("name", ""), form.get("email", ""), ip, agent, date.today(),
                       form.get("document_sha256") or None)
    return _back_to("share.contract_page", token, sign)


@blp.get("/p/<token>")
@requires(PUBLIC)
def portal_page(token):
    """The customer's billing portal: balance, invoices and credit notes to download,
    payments, contracts, subscriptions and usage to date."""
    settings = app_settings()
    with db_session() as session:
        account = portal.open_link(session, token)
        use_language(account.language)
        view = portal.overview(session, account, grace_days=settings.usage_grace_days)
        html = render_template("share/portal.html", token=token, view=view,
                               company=settings.company)
    return html
