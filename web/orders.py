"""After acceptance: contracts (send for signature) and orders (credit check, fulfilment,
invoicing), each listed and shown on a page of its own. A page shows what the JSON API shows
(the same views and schemas) and offers only the actions the user's permissions allow; the
API checks them again."""

from __future__ import annotations

from api import billing_schemas as bs
from api import order_schemas as os_
from api.auth import requires
from api.billing import invoice_views
from api.blueprint import app_settings, db_session
from api.orders import contract_view, order_view
from api.visibility import seeing_contract, seeing_order
from billing import order_billing
from sales import contracts, orders
from sales.order_models import CONTRACT_STATES, ORDER_STATES
from web.shell import blp, page


@blp.get("/app/contracts")
@requires("contracts:read")
def contracts_page():
    return page("pages/contracts.html", states=CONTRACT_STATES)


@blp.get("/app/contracts/<number>")
@requires("contracts:read")
def contract_page(number):
    with db_session() as session:
        seeing_contract(session, number)
        contract = contracts.get_contract(session, number)
        shown = os_.ContractSchema().dump(contract_view(session, contract))
        lines = contracts.document_data(session, contract, app_settings().company) \
            if contract.quote_id else None
        made = [o.number for o in orders.of_quote(session, shown["quote"])] if shown["quote"] else []
    return page("pages/contract.html", contract=shown, doc=lines, order=made[0] if made else None)


@blp.get("/app/orders")
@requires("orders:read")
def orders_page():
    return page("pages/orders.html", states=ORDER_STATES)


@blp.get("/app/orders/<number>")
@requires("orders:read")
def order_page(number):
    with db_session() as session:
        seeing_order(session, number)
        order = orders.get_order(session, number)
        shown = os_.OrderSchema().dump(order_view(session, order))
        billed = bs.InvoiceSchema(many=True).dump(invoice_views(session, order_billing.invoices_of(session, order)))
    return page("pages/order.html", order=shown, invoices=billed)
