"""/api/v1/contracts and /api/v1/orders: from an accepted quote to a signed contract and an
order, its credit check and release, and the ERP's fulfilment write-backs. The customer signs
a contract through a link (/api/v1/signing/<token>, JSON)."""

from __future__ import annotations

from datetime import date

from flask import url_for
from sqlmodel import select

from api import mail_schemas as ms
from api import order_schemas as os_
from api import sales_schemas as ss
from api.bom_csv import order_bom_csv
from api.auth import client, current_user
from api.etag import conditional
from api.blueprint import Blueprint, app_settings, db_session, json_or
from api.documents import DOCUMENT_RESPONSES, served
from api.idempotency import respond
from api.visibility import seeing_contract, seeing_order, seeing_quote
from billing import credit, order_billing, revenue
from core import docstore
from core.crypto import SecretBox
from core.db import by_id, children
from core.permissions import PUBLIC
from core.errors import InvalidTransition
from sales import access, contracts, orders
from sales import mail as sales_mail
from sales.accounts import Account, get_account
from sales.models import Quote
from sales.order_models import Contract, Order, OrderLine, Shipment

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Contracts, orders and fulfilment")
signing = Blueprint("signing", __name__, url_prefix="/api/v1", description="The customer's contract signature")



def contract_view(session, contract: Contract) -> dict:
    session.flush()
    quote = session.get(Quote, contract.quote_id) if contract.quote_id else None
    renewal_of = session.get(Contract, contract.renewal_of) if contract.renewal_of else None
    document = docstore.facts(session, "contract", contract.id)
    return contract.model_dump() | {
        "quote_number": quote.number if quote else None,
        "account_code": session.get(Account, contract.account_id).code,
        "renewal_of_number": renewal_of.number if renewal_of else None,
        "document_sha256": document.sha256 if document else None,
        "document_status": document.status if document else None}


def order_views(session, page: list[Order]) -> list[dict]:
    """Orders as the API shows them, with what they point to loaded once for the page."""
    session.flush()
    ids = [o.id for o in page]
    quotes_ = by_id(session, Quote, (o.quote_id for o in page))
    contracts_ = by_id(session, Contract, (o.contract_id for o in page))
    accounts = by_id(session, Account, (o.account_id for o in page))
    lines = children(session, OrderLine.order_id, ids, OrderLine.position)
    shipments = children(session, Shipment.order_id, ids, Shipment.id)
    return [o.model_dump() | {
        "quote_number": quotes_[o.quote_id].number,
        "contract_number": contracts_[o.contract_id].number if o.contract_id else None,
        "account_code": accounts[o.account_id].code,
        "lines": lines[o.id], "shipments": shipments[o.id]} for o in page]


def order_view(session, order: Order) -> dict:
    return order_views(session, [order])[0]


def _listed(session, table, *conditions, query: dict) -> list:
    """A page of contracts or orders, newest first: those `conditions` allow (None: no
    condition), of the state and account the query names."""
    q = select(table).where(*(c for c in conditions if c is not None))
    if query["state"]:
        q = q.where(table.state == query["state"])
    if query["account"]:
        q = q.where(table.account_id == get_account(session, query["account"]).id)
    return list(session.exec(q.order_by(table.id.desc()).offset(query["offset"]).limit(query["limit"])))


# contracts -----------------------------------------------------------------------------------

@blp.post("/contracts")
@blp.requires("contracts:write")
@blp.arguments(os_.ContractCreateSchema)
@blp.creates(os_.ContractSchema, found="the quote's contract, made before")
def create_contract(data):
    """The contract of an accepted quote (asking again returns it; Idempotency-Key supported)."""
    with db_session() as session:
        number = data.pop("quote")
        user = seeing_quote(session, number)
        return respond(session, 201,
                       lambda: contracts.create_from_quote(session, user, number, date.today(), **data),
                       lambda c: os_.ContractSchema().dump(contract_view(session, c)))


@blp.get("/contracts")
@blp.requires("contracts:read")
@blp.arguments(os_.ContractQuery, location="query")
@blp.response(200, os_.ContractSchema(many=True))
def list_contracts(query):
    """Contracts, newest first, by state, account or the quote they came from."""
    with db_session() as session:
        made_from = Contract.quote_id.in_(select(Quote.id).where(Quote.number == query["quote"])) \
            if query["quote"] else None
        visible = access.contract_filter(session, current_user(session))
        rows = _listed(session, Contract, visible, made_from, query=query)
        return [contract_view(session, c) for c in rows]


@blp.get("/contracts/<number>")
@blp.requires("contracts:read")
@blp.response(200, os_.ContractSchema)
def get_contract(number):
    with db_session() as session:
        seeing_contract(session, number)
        return contract_view(session, contracts.get_contract(session, number))


@blp.get("/contracts/<number>/history")
@blp.requires("contracts:read")
@blp.response(200, ss.EventSchema(many=True))
def contract_history(number):
    with db_session() as session:
        seeing_contract(session, number)
        return contracts.history(session, contracts.get_contract(session, number))


@blp.post("/contracts/<number>/send")
@blp.requires("contracts:write")
@blp.arguments(ms.ContractSendSchema, required=False)
@blp.response(200, os_.SignLinkSchema)
def send_contract(data, number):
    """Freeze the contract PDF and open a signing link (its token is shown once), e-mailed to
    the account's primary contact (or `to`) unless `email` is false."""
    with db_session() as session:
        user = seeing_contract(session, number)
        contract, token = contracts.send_for_signature(session, user, number)
        url = url_for("share.contract_page", token=token, _external=True)
        sent = sales_mail.signature_request(session, contract, token, url, str(app_settings().company["name"]),
                                            SecretBox.from_settings(app_settings()), data["to"]) if data["email"] else None
        return {"contract": contract_view(session, contract), "token": token, "url": url, "mail": sent}


@blp.post("/contracts/<number>/notice")
@blp.requires("contracts:write")
@blp.arguments(os_.ReasonSchema, required=False)
@blp.response(200, os_.ContractSchema)
def give_notice(data, number):
    with db_session() as session:
        user = seeing_contract(session, number)
        return contract_view(session, contracts.give_notice(session, user, number, date.today(), data["reason"]))


@blp.post("/contracts/<number>/terminate")
@blp.requires("contracts:terminate")
@blp.arguments(os_.TerminateSchema, required=False)
@blp.response(200, os_.ContractSchema)
def terminate(data, number):
    with db_session() as session:
        user = seeing_contract(session, number)
        contract = contracts.terminate(session, user, number, data["on"] or date.today(), data["reason"])
        revenue.refresh(session, contract.id)          # recognition stops on the termination date
        return contract_view(session, contract)


@blp.get("/contracts/<number>/pdf")
@blp.requires("contracts:read")
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def contract_pdf(number):
    """The contract's PDF once sent for signature (202 while it renders)."""
    with db_session() as session:
        seeing_contract(session, number)
        contract = contracts.get_contract(session, number)
        if docstore.facts(session, "contract", contract.id) is None:
            raise InvalidTransition(contracts.label(contract), contract.state, "show its PDF", "send it first")
        return served(session, "contract", contract.id, "pdf", f"{contract.number}.pdf")


@signing.get("/signing/<token>")
@signing.requires(PUBLIC)
@signing.response(200, os_.ContractSchema)
def signed_contract(token):
    """What the signing link shows (the PDF is at /api/v1/contracts/<number>/pdf for staff)."""
    with db_session() as session:
        return contract_view(session, contracts.open_link(session, token))


@signing.post("/signing/<token>/sign")
@signing.requires(PUBLIC)
@signing.arguments(os_.SignSchema)
@signing.response(200, os_.ContractSchema)
def sign(data, token):
    """The customer's e-signature (typed name and email); signing again is harmless."""
    with db_session() as session:
        contract = contracts.sign(session, token, data["name"], data["email"], *client(), date.today(),
                                  data["document_sha256"])
        return contract_view(session, contract)


# orders --------------------------------------------------------------------------------------

@blp.post("/orders")
@blp.requires("orders:write")
@blp.arguments(os_.OrderCreateSchema)
@blp.creates(os_.OrderSchema, found="the quote's order, placed before")
def create_order(data):
    """The order of an accepted quote (of its signed contract when CPQ_ORDERS_FROM=contract);
    converting again returns the same order. Idempotency-Key supported."""
    with db_session() as session:
        user = seeing_quote(session, data["quote"])
        return respond(session, 201, lambda: credit.place_order(
            session, user, data["quote"], date.today(), require_contract=app_settings().orders_from == "contract",
            billing=data["billing"], milestones=data["milestones"]),
            lambda o: os_.OrderSchema().dump(order_view(session, o)))


@blp.get("/orders")
@blp.requires("orders:read")
@blp.arguments(os_.OrderQuery, location="query")
@blp.response(200, os_.OrderSchema(many=True))
def list_orders(query):
    with db_session() as session:
        visible = access.order_filter(session, current_user(session))
        return order_views(session, _listed(session, Order, visible, query=query))


@blp.get("/orders/<number>")
@blp.requires("orders:read")
@blp.response(200, os_.OrderSchema)
def get_order(number):
    """An order with its lines and shipments (ETag / If-None-Match: 304 when unchanged)."""
    with db_session() as session:
        seeing_order(session, number)
        return conditional(os_.OrderSchema().dump(order_view(session, orders.get_order(session, number))))


@blp.get("/orders/<number>/bom")
@blp.requires("bom:read")
@blp.arguments(os_.BomQuery, location="query")
@blp.response(200, os_.OrderBomSchema)
@blp.doc(responses=json_or("text/csv", "OrderBom"))
def order_bom(query, number):
    """The order's bill of materials: each configured line's exploded BOM times its quantity,
    as JSON or (?format=csv) CSV for ERP imports. ETag / If-None-Match supported."""
    with db_session() as session:
        seeing_order(session, number)
        order = orders.get_order(session, number)
        rows = orders.bom_rows(session, order)
    if query["format"] == "csv":
        return conditional(order_bom_csv(rows), "text/csv")
    return conditional(os_.OrderBomSchema().dump({"order": order.number, "lines": rows}))


@blp.get("/erp/orders")
@blp.requires("orders:read")
@blp.arguments(os_.FeedQuery, location="query")
@blp.response(200, os_.OrderFeedSchema)
def order_feed(query):
    """Orders changed after the cursor `after` (0: from the start), in the order they changed;
    pass the answer's `next` as the next `after`. Nothing is skipped or repeated while others
    write: each change takes the next number of a counter locked until it commits."""
    with db_session() as session:
        visible = access.order_filter(session, current_user(session))
        q = select(Order) if visible is None else select(Order).where(visible)
        rows = session.exec(q.where(Order.change_seq > query["after"])
                            .order_by(Order.change_seq).limit(query["limit"])).all()
        body = {"orders": [order_view(session, o) for o in rows],
                "next": rows[-1].change_seq if rows else query["after"]}
        return conditional(os_.OrderFeedSchema().dump(body))


@blp.get("/orders/<number>/history")
@blp.requires("orders:read")
@blp.response(200, ss.EventSchema(many=True))
def order_history(number):
    with db_session() as session:
        seeing_order(session, number)
        return orders.history(session, orders.get_order(session, number))


@blp.post("/orders/<number>/release")
@blp.requires("orders:release")
@blp.arguments(os_.ReasonSchema, required=False)
@blp.response(200, os_.OrderSchema)
def release(data, number):
    """Finance releases an order from credit hold."""
    with db_session() as session:
        user = seeing_order(session, number)
        return order_view(session, orders.release(session, user, number, data["reason"]))


@blp.post("/orders/<number>/cancel")
@blp.requires("orders:cancel")
@blp.arguments(os_.CancelSchema, required=False)
@blp.response(200, os_.OrderSchema)
def cancel(data, number):
    """Cancel an order nothing of which was shipped (its quote's owner, finance or an admin);
    its drafts are discarded, and issued invoices must be credited (`credit_invoices`)."""
    with db_session() as session:
        user = seeing_order(session, number)
        return order_view(session, order_billing.cancel_order(
            session, user, number, data["reason"], date.today(), credit_invoices=data["credit_invoices"],
            company=app_settings().company))


@blp.put("/orders/<number>/erp-number")
@blp.requires("orders:write-status")
@blp.arguments(os_.ErpNumberSchema)
@blp.response(200, os_.OrderSchema)
def erp_number(data, number):
    """The ERP's own order number, shown to reps beside ours."""
    with db_session() as session:
        user = seeing_order(session, number)
        return order_view(session, orders.set_erp_number(session, user, number, data["erp_order_number"]))


@blp.put("/orders/<number>/lines/<key>/status")
@blp.requires("orders:write-status")
@blp.arguments(os_.LineStatusSchema)
@blp.response(200, os_.OrderSchema)
def line_status(data, number, key):
    with db_session() as session:
        user = seeing_order(session, number)
        return order_view(session, orders.set_line_status(session, user, number, key, data["status"]))


@blp.post("/orders/<number>/lines/<key>/shipments")
@blp.requires("orders:write-status")
@blp.arguments(os_.ShipInSchema)
@blp.response(201, os_.OrderSchema)
def ship(data, number, key):
    """A (partial) shipment with carrier and tracking."""
    with db_session() as session:
        user = seeing_order(session, number)
        orders.ship(session, user, number, key, data["quantity"], data["shipped_on"] or date.today(),
                    data["carrier"], data["tracking"])
        return order_view(session, orders.get_order(session, number))


@blp.post("/orders/<number>/lines/<key>/delivery")
@blp.requires("orders:write-status")
@blp.arguments(os_.DeliverSchema, required=False)
@blp.response(200, os_.OrderSchema)
def deliver(data, number, key):
    with db_session() as session:
        user = seeing_order(session, number)
        return order_view(session, orders.deliver(session, user, number, key, data["delivered_on"] or date.today()))
