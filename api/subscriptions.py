"""/api/v1/subscriptions, amendments and renewals: what each recurring line of a contract
sells over time, changing a live contract mid-term, and the quote of its next term
(GET or POST /contracts/<n>/renewal-quote).

Subscriptions are read like orders (contracts:read; a rep sees those of their own and their
team's quotes). An amendment is a quote (contracts:write to start one from a contract; then
the quote endpoints: submit, approve, send, accept); applying the accepted amendment
(POST /quotes/<n>/apply) is a separate, idempotent step.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from api import subscription_schemas as sub
from api import sales_schemas as ss
from api.auth import current_user
from api.billing import invoice_views
from api.blueprint import Blueprint, app_settings, db_session
from api.idempotency import respond
from api.quotes import quote_view
from api.visibility import seeing_contract, seeing_quote
from billing import amendments
from core.db import by_id
from core.errors import NotFound
from sales import access, contracts, renewals, subscriptions
from sales import amendments as amending
from sales.accounts import Account, get_account
from sales.models import Quote
from sales.order_models import Contract, Order, Subscription

blp = Blueprint("subscriptions", __name__, url_prefix="/api/v1",
                description="Subscriptions, amendments and renewals of contracts")


def subscription_views(session, page: list[Subscription]) -> list[dict]:
    """Subscriptions as the API shows them, with their versions, loaded once for the page."""
    session.flush()
    versions = subscriptions.versions_by_subscription(session, [s.id for s in page])
    accounts = by_id(session, Account, (s.account_id for s in page))
    contracts_ = by_id(session, Contract, (s.contract_id for s in page))
    orders_ = by_id(session, Order, (s.order_id for s in page))
    quotes_ = by_id(session, Quote, (v.quote_id for vs in versions.values() for v in vs))
    out = []
    for s in page:
        shown = [v.model_dump() | {"quote_number": quotes_[v.quote_id].number if v.quote_id else None,
                                   "subscription_id": s.id} for v in versions[s.id]]
        out.append(s.model_dump() | {
            "account_code": accounts[s.account_id].code, "order_number": orders_[s.order_id].number,
            "contract_number": contracts_[s.contract_id].number if s.contract_id else None,
            "versions": shown, "current": max(shown, key=lambda v: (v["effective_from"], v["version"]))})
    return out


def _visible(session, query):
    visible = access.order_filter(session, current_user(session))
    return query if visible is None else query.join(Order, Order.id == Subscription.order_id).where(visible)


@blp.get("/subscriptions")
@blp.requires("contracts:read")
@blp.arguments(sub.SubscriptionQuery, location="query")
@blp.response(200, sub.SubscriptionSchema(many=True))
def list_subscriptions(query):
    """Subscriptions, newest first, of an account or a contract, with their versions."""
    with db_session() as session:
        q = _visible(session, select(Subscription))
        if query["contract"]:
            seeing_contract(session, query["contract"])
            contract = contracts.get_contract(session, query["contract"])
            subscriptions.ensure_for_contract(session, contract)
            q = q.where(Subscription.contract_id == contract.id)
        if query["account"]:
            q = q.where(Subscription.account_id == get_account(session, query["account"]).id)
        if query["state"]:
            q = q.where(Subscription.state == query["state"])
        rows = session.exec(q.order_by(Subscription.id.desc()).offset(query["offset"]).limit(query["limit"])).all()
        return subscription_views(session, list(rows))


@blp.get("/subscriptions/<int:subscription_id>")
@blp.requires("contracts:read")
@blp.response(200, sub.SubscriptionSchema)
def get_subscription(subscription_id):
    with db_session() as session:
        found = session.exec(_visible(session, select(Subscription)).where(Subscription.id == subscription_id)).first()
        if found is None:
            raise NotFound(f"unknown subscription {subscription_id}")
        return subscription_views(session, [found])[0]


@blp.post("/contracts/<number>/amendments")
@blp.requires("contracts:write")
@blp.arguments(sub.AmendmentCreateSchema)
@blp.response(201, ss.QuoteOutSchema)
def create_amendment(data, number):
    """A draft amendment quote of a live contract: its lines are the changes, effective from
    `effective_date` to the contract's end; then submit, approve, send and accept it as any
    quote, and apply it."""
    with db_session() as session:
        user = seeing_contract(session, number)
        header = {k: data[k] for k in ("title", "notes", "expires_on") if k in data}
        quote = amending.create(session, user, number, data["effective_date"], data["changes"], date.today(), header)
        return quote_view(session, quote)


@blp.post("/quotes/<number>/apply")
@blp.requires("contracts:write")
@blp.creates(sub.AppliedSchema, found="what applying it made before (it is applied once)")
def apply_amendment(number):
    """Apply an accepted amendment to its contract: new subscription versions from its
    effective date, an order for what it adds, and what was billed put right by the day
    (draft invoices, credit notes). Applying again answers 200 with the same."""
    with db_session() as session:
        user = seeing_quote(session, number)
        company = app_settings().company
        return respond(session, 201, lambda: amendments.apply(session, user, number, date.today(), company=company),
                       lambda done: sub.AppliedSchema().dump(_applied_view(session, number, done)))


def _applied_view(session, number: str, done: amendments.Applied) -> dict:
    versions = subscription_views(session, [session.get(Subscription, v.subscription_id) for v in done.versions])
    by_version = {(v["subscription_id"], v["version"]): v for view in versions for v in view["versions"]}
    return {"quote": number, "order": done.order.number if done.order else None,
            "versions": [by_version[v.subscription_id, v.version] | {"currency": session.get(
                Subscription, v.subscription_id).currency} for v in done.versions],
            "invoices": invoice_views(session, done.invoices),
            "credit_notes": invoice_views(session, done.credit_notes)}


@blp.get("/contracts/<number>/renewal-quote")
@blp.requires("contracts:read")
@blp.response(200, ss.QuoteOutSchema)
def get_renewal_quote(number):
    """The contract's renewal quote (made by the daily job ahead of its end, or by POST)."""
    with db_session() as session:
        seeing_contract(session, number)
        quote = renewals.renewal_quote(session, contracts.get_contract(session, number))
        if quote is None:
            raise NotFound(f"contract {number} has no renewal quote yet")
        return quote_view(session, quote)


@blp.post("/contracts/<number>/renewal-quote")
@blp.requires("contracts:write")
@blp.creates(ss.QuoteOutSchema, found="the contract's renewal quote, made before")
def create_renewal_quote(number):
    """The renewal quote of a live contract now, rather than when the job makes it: its
    subscriptions at the contract's price raised by its escalation, for the rep to change,
    submit and send. Asking again returns it."""
    with db_session() as session:
        user = seeing_contract(session, number)
        contract = contracts.get_contract(session, number, lock=True)
        return respond(session, 201, lambda: renewals.create(session, user, contract, date.today()),
                       lambda quote: ss.QuoteOutSchema().dump(quote_view(session, quote)))
