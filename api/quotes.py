"""/api/v1/quotes: build, price, revise, clone, submit, approve, send; documents and history.

Each view is thin: who is calling, then one domain action in one transaction (sales/).
A quote is addressed by its number (the latest revision) or number and revision.
"""

from __future__ import annotations

from datetime import date

from flask import Response, url_for

from api import order_schemas as os_
from api import sales_schemas as ss
from api.auth import current_user
from api import mail_schemas as ms
from api.blueprint import Blueprint, app_settings, db_session
from api.documents import DOCUMENT_RESPONSES, served
from api.idempotency import respond
from api.orders import order_view
from api.visibility import seeing_quote
from core import docstore
from core.crypto import SecretBox
from sales import acceptance, access, audit, orders, quote_data, quotes, workflow
from sales import mail as sales_mail
from sales.accounts import Account
from core.db import by_id
from sales.models import Quote
from sales.order_models import Contract

blp = Blueprint("quotes", __name__, url_prefix="/api/v1",
                description="Quotes: lines, pricing, revisions, approvals, documents")


def today() -> date:
    return date.today()


def quote_view(session, quote: Quote) -> dict:
    """The quote with what the API shows beside its columns (flushed first, so the lock
    version shown is the one stored)."""
    session.flush()
    view = quote.model_dump()
    view["account_code"] = session.get(Account, quote.account_id).code
    lines = quotes.lines_of(session, quote)
    chosen = quote_data.chosen_labels(session, lines)
    view["lines"] = [line.model_dump() | {"chosen": chosen[line.key]} for line in lines]
    view["approvals_required"] = quotes.required_approvals(quote)
    view["discount_explanations"] = quotes.discount_explanations(quote)
    view["approval_steps"] = workflow.steps_of(session, quote)
    document = docstore.facts(session, "quote", quote.id)
    view["document_sha256"] = document.sha256 if document else None
    view["document_status"] = document.status if document else None
    view["fulfilment"] = [order_view(session, o) for o in orders.of_quote(session, quote.number)]
    contract = session.get(Contract, quote.contract_id) if quote.contract_id else None
    view["contract_number"] = contract.number if contract else None
    return view


def _summaries(session, page: list[Quote]) -> list[dict]:
    accounts = by_id(session, Account, (q.account_id for q in page))
    return [q.model_dump() | {"account_code": accounts[q.account_id].code} for q in page]


@blp.get("/quotes")
@blp.requires("quotes:read")
@blp.arguments(ss.QuoteQuery, location="query")
@blp.response(200, ss.QuoteSummarySchema(many=True))
def list_quotes(query):
    with db_session() as session:
        visible = access.quote_filter(session, current_user(session))
        return _summaries(session, quotes.list_quotes(session, visible=visible, **query))


@blp.post("/quotes")
@blp.requires("quotes:write")
@blp.arguments(ss.QuoteCreateSchema)
@blp.response(201, ss.QuoteOutSchema)
def create_quote(data):
    """A new draft quote for an account, priced at once. Idempotency-Key supported."""
    with db_session() as session:
        user = current_user(session)
        account = data.pop("account")
        lines = data.pop("lines")
        return respond(session, 201, lambda: (quotes.create_quote(session, user, account, data, lines, today()), True),
                       lambda q: ss.QuoteOutSchema().dump(quote_view(session, q)))


@blp.get("/quotes/<number>")
@blp.requires("quotes:read")
@blp.response(200, ss.QuoteOutSchema)
def get_quote(number):
    with db_session() as session:
        seeing_quote(session, number)
        return quote_view(session, quotes.get_quote(session, number))


@blp.get("/quotes/<number>/revisions")
@blp.requires("quotes:read")
@blp.response(200, ss.QuoteSummarySchema(many=True))
def list_revisions(number):
    with db_session() as session:
        seeing_quote(session, number)
        return _summaries(session, quotes.revisions(session, number))


@blp.get("/quotes/<number>/revisions/<int:revision>")
@blp.requires("quotes:read")
@blp.response(200, ss.QuoteOutSchema)
def get_revision(number, revision):
    with db_session() as session:
        seeing_quote(session, number, revision)
        return quote_view(session, quotes.get_quote(session, number, revision))


@blp.patch("/quotes/<number>")
@blp.requires("quotes:write")
@blp.arguments(ss.QuoteUpdateSchema)
@blp.response(200, ss.QuoteOutSchema)
def update_quote(data, number):
    """Change header fields and/or replace the lines. A draft changes in place; an approved,
    sent or accepted quote gets a new revision (returned), which needs approval again."""
    with db_session() as session:
        user = seeing_quote(session, number)
        lines = data.pop("lines", None)
        reason, lock = data.pop("reason"), data.pop("expected_lock")
        quote = quotes.edit(session, user, number, today(), header=data, lines=lines,
                            expected_lock=lock, reason=reason)
        return quote_view(session, quote)


@blp.post("/quotes/<number>/lines")
@blp.requires("quotes:write")
@blp.arguments(ss.LineInSchema)
@blp.response(201, ss.QuoteOutSchema)
def add_line(line, number):
    with db_session() as session:
        user = seeing_quote(session, number)
        quote = quotes.edit(session, user, number, today(), change_lines=quotes.line_changer(add=[line]))
        return quote_view(session, quote)


@blp.patch("/quotes/<number>/lines/<key>")
@blp.requires("quotes:write")
@blp.arguments(ss.LineChangeSchema)
@blp.response(200, ss.QuoteOutSchema)
def update_line(changes, number, key):
    with db_session() as session:
        user = seeing_quote(session, number)
        lock = changes.pop("expected_lock")
        quote = quotes.edit(session, user, number, today(), expected_lock=lock,
                            change_lines=quotes.line_changer(update={key: changes}))
        return quote_view(session, quote)


@blp.delete("/quotes/<number>/lines/<key>")
@blp.requires("quotes:write")
@blp.response(200, ss.QuoteOutSchema)
def remove_line(number, key):
    with db_session() as session:
        user = seeing_quote(session, number)
        quote = quotes.edit(session, user, number, today(), change_lines=quotes.line_changer(remove=[key]))
        return quote_view(session, quote)


@blp.post("/quotes/<number>/reprice")
@blp.requires("quotes:write")
@blp.response(200, ss.QuoteOutSchema)
def reprice(number):
    """Price the draft again with today's active price book and rule set."""
    with db_session() as session:
        user = seeing_quote(session, number)
        return quote_view(session, quotes.edit(session, user, number, today(), reason="repriced"))


@blp.post("/quotes/<number>/clone")
@blp.requires("quotes:write")
@blp.response(201, ss.QuoteOutSchema)
def clone(number):
    with db_session() as session:
        user = seeing_quote(session, number)
        return respond(session, 201, lambda: (quotes.clone(session, user, number, None, today()), True),
                       lambda q: ss.QuoteOutSchema().dump(quote_view(session, q)))


@blp.post("/quotes/<number>/submit")
@blp.requires("quotes:write")
@blp.arguments(ss.CommentSchema, required=False)
@blp.response(200, ss.QuoteOutSchema)
def submit(data, number):
    """Submit for approval: creates the approval steps the price needs (none: approved)."""
    with db_session() as session:
        user = seeing_quote(session, number)
        return quote_view(session, workflow.submit(session, user, number, today(), data["comment"]))


@blp.post("/quotes/<number>/recall")
@blp.requires("quotes:write")
@blp.arguments(ss.CommentSchema, required=False)
@blp.response(200, ss.QuoteOutSchema)
def recall(data, number):
    with db_session() as session:
        user = seeing_quote(session, number)
        return quote_view(session, workflow.recall(session, user, number, data["comment"]))


@blp.post("/quotes/<number>/<any(approve, reject):decision>")
@blp.requires("quotes:approve")
@blp.arguments(ss.DecisionInSchema)
@blp.response(200, ss.QuoteOutSchema)
def decide(data, number, decision):
    """An approver's decision on one level (`approve` or `reject`; a rejection needs a comment)."""
    with db_session() as session:
        user = seeing_quote(session, number)
        return quote_view(session, workflow.decide(session, user, number, data["level"], decision == "approve",
                                                   data["comment"]))


@blp.post("/quotes/<number>/revise")
@blp.requires("quotes:write")
@blp.arguments(os_.ReasonSchema, required=False)
@blp.response(200, ss.QuoteOutSchema)
def revise(data, number):
    """Start a new revision on purpose (an edit refuses to change an accepted quote). An
    accepted quote is revised only while it has no order or signed contract; an unsigned
    contract is withdrawn."""
    with db_session() as session:
        user = seeing_quote(session, number)
        return quote_view(session, workflow.revise(session, user, number, data["reason"]))


@blp.post("/quotes/<number>/send")
@blp.requires("quotes:write")
@blp.arguments(ss.SendSchema, required=False)
@blp.response(200, ss.SentSchema)
def send(data, number):
    """Freeze the PDF (SHA-256 stored) and open a share link; the link's token is shown once."""
    with db_session() as session:
        user = seeing_quote(session, number)
        quote, token = workflow.send(session, user, number, today(), data["link_days"])
        return {"quote": quote_view(session, quote), "share_link": _link(session, token)}


@blp.post("/quotes/<number>/share-links")
@blp.requires("quotes:write")
@blp.arguments(ss.SendSchema, required=False)
@blp.response(201, ss.ShareLinkSchema)
def new_share_link(data, number):
    """Another link to the sent revision (e.g. for a second contact)."""
    with db_session() as session:
        user = seeing_quote(session, number)
        return _link(session, workflow.share(session, user, number, data["link_days"]))


@blp.post("/quotes/<number>/email")
@blp.requires("quotes:write")
@blp.arguments(ms.QuoteEmailSchema, required=False)
@blp.response(202, ms.MailMessageSchema)
def email(data, number):
    """E-mail a new share link to the sent revision, with its PDF attached (to the account's
    primary contact unless `to` names others); the message is sent by the workers: its status
    is in the answer and in the outbox."""
    with db_session() as session:
        user = seeing_quote(session, number)
        link = _link(session, workflow.share(session, user, number, data["link_days"]))
        quote = quotes.get_quote(session, number)
        settings = app_settings()
        return sales_mail.share_quote(session, quote, user, link["url"], link["expires_at"],
                                      str(settings.company["name"]), SecretBox.from_settings(settings), data["to"],
                                      data["message"])


def _link(session, token: str) -> dict:
    shared = acceptance.open_link(session, token)
    return {"token": token, "url": url_for("share.page", token=token, _external=True),
            "expires_at": shared.link_expires_at}


@blp.get("/quotes/<number>/history")
@blp.requires("quotes:read")
@blp.response(200, ss.EventSchema(many=True))
def history(number):
    """Every change and transition of every revision, oldest first."""
    with db_session() as session:
        seeing_quote(session, number)
        return [e for q in quotes.revisions(session, number) for e in audit.history(session, q)]


@blp.get("/quotes/<number>/pdf")
@blp.requires("quotes:read")
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def pdf(number):
    """The sent PDF (stored, never re-rendered), or a DRAFT preview before it is sent."""
    return _pdf(number, None)


@blp.get("/quotes/<number>/revisions/<int:revision>/pdf")
@blp.requires("quotes:read")
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def revision_pdf(number, revision):
    return _pdf(number, revision)


def _pdf(number: str, revision: int | None) -> Response:
    """The sent PDF, or a DRAFT preview of what the revision is now (rendered on the first ask
    after each change, like every document: a 202 until then)."""
    with db_session() as session:
        seeing_quote(session, number, revision)
        quote = quotes.get_quote(session, number, revision)
        kind = "quote" if docstore.facts(session, "quote", quote.id) is not None else "preview"
        if kind == "preview":
            docstore.request(session, "preview", quote.id, source=quote.fingerprint)
    with db_session() as session:                   # after the commit: rendered, in-process or not
        return served(session, kind, quote.id, "pdf",
                                f"{quote.number}-r{quote.revision}{'-draft' if kind == 'preview' else ''}.pdf")
