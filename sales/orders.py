"""Orders: made from an accepted quote (directly, or through its signed contract), checked
against the customer's credit, then fulfilled line by line by the ERP.

States: credit_hold -> open -> fulfilled, or cancelled. An order copies each priced line of
the accepted revision with its configuration and the exploded BOM of one unit, so the ERP
builds exactly what was sold. Converting the same quote again returns the same order.

Credit check: billing/credit.py compares the account's receivables plus this order's
first-year billing (one-time lines plus up to twelve months of each recurring line) with its
credit limit; over the limit the order waits on credit hold until finance releases it.
Orders are placed through billing.credit.place_order, which hands that check in here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Callable

import sqlalchemy as sa
from sqlmodel import Session, select

from catalog.pricebook import PERIOD_MONTHS
from catalog.store import get_model
from configurator.engine import get_configurator
from configurator.store import get_configuration
from core import webhooks
from core.db import Finder, append, find_row, utcnow
from core.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from core.money import ZERO, currency
from core.sequences import next_number, next_numbers
from core.users import User, describe
from sales.accounts import Account
from sales.models import Quote, QuoteLine
from sales.order_models import Contract, Order, OrderEvent, OrderLine, Shipment
from sales import quotes, subscriptions
from sales.quotes import check_owner, get_quote

BILLING = ("on_order", "on_shipment", "milestones")
# Every change to an order takes the next number of this series. The counter row stays locked
# until the transaction ends, so numbers are taken in commit order and a reader that has seen
# number n has seen every change before it: the ERP's feed never skips a change.
CHANGES = "order-changes"


def label(order: Order) -> str:
    return f"order {order.number}"


#: get_order's statements, built once
_FINDING = Finder(Order, Order.number == sa.bindparam("o_number"))


def get_order(session: Session, number: str, *, lock: bool = False) -> Order:
    """An order by number; `lock` takes its row lock for writing (core.db.lock_rows: read afresh
    and owned by the transaction, so billing it does not lock it again)."""
    order = _FINDING.find(session, {"o_number": number}, lock=lock) if isinstance(number, str) else None
    if order is None:
        raise NotFound(f"unknown order {number!r}")
    return order


def of_quote(session: Session, quote_number: str) -> list[Order]:
    """The orders made from any revision of a quote (at most one: of the accepted revision)."""
    return list(session.exec(select(Order).join(Quote, Quote.id == Order.quote_id)
                             .where(Quote.number == quote_number).order_by(Order.id)))


_LINES = select(OrderLine).where(OrderLine.order_id == sa.bindparam("of_order")).order_by(OrderLine.position)


def lines_of(session: Session, order: Order) -> list[OrderLine]:
    """The order's lines in their order (the statement built once: billing reads them on every
    invoice)."""
    return list(session.exec(_LINES, params={"of_order": order.id}))


def shipments_of(session: Session, order: Order) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)))


def history(session: Session, order: Order) -> list[OrderEvent]:
    return list(session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)))


def _record(session: Session, order: Order, actor, action: str, from_state: str | None, to_state: str | None,
            reason: str = "", data: dict | None = None) -> None:
    order.change_seq = next_number(session, CHANGES)
    session.add(order)
    _log(session, order, actor, action, from_state, to_state, reason, data)


def _log(session: Session, order: Order, actor, action: str, from_state: str | None, to_state: str | None,
         reason: str, data: dict | None) -> None:
    """The event of a change numbered already (`_record`; a new order takes its number as it is written)."""
    append(session, OrderEvent, dict(order_id=order.id, actor=describe(actor)[:254], action=action,
                                     from_state=from_state, to_state=to_state, reason=reason[:2000],
                                     data=dict(data or {})))
    webhooks.emit_for(session, "order", action, lambda: {
        "number": order.number, "state": to_state or order.state, "erp_order_number": order.erp_order_number,
        "account": session.get(Account, order.account_id).code, "change": order.change_seq, **(data or {})})


#: what create_order reads of a quote revision, in one statement built once: its account, the id
#: of the order made from it (if any) and the contract made from it (if any)
_ORDER_FACTS = (select(Account, select(Order.id).where(Order.quote_id == sa.bindparam("of_quote")).scalar_subquery(),
                       Contract)
                .outerjoin(Contract, Contract.quote_id == sa.bindparam("of_quote"))
                .where(Account.id == sa.bindparam("of_account")))


def create_order(session: Session, actor: User | str, quote_number: str, today: date, *,
                 credit_check: Callable[[Account, Decimal], dict], require_contract: bool,
                 billing: str = "on_order", milestones: list[dict] | None = None,
                 coterm: Callable[[dict], Decimal] | None = None) -> tuple[Order, bool]:
    """The order of the quote's accepted latest revision, created once; returns it and whether
    it is new. With `require_contract` the revision's contract must be signed first.
    `credit_check(account, first-year amount)` is billing's (billing.credit.place_order).

    Each recurring line gets its subscription (sales/subscriptions.py). An amendment's order
    holds only the lines it adds (its other lines change subscriptions), which run from its
    effective date to the contract's end: `coterm(priced line)` is their value over those
    days (billing.amendments)."""
    quote = get_quote(session, quote_number, lock=True)
    if isinstance(actor, User):
        check_owner(quote, actor, "order")
    account, existing, made = session.exec(_ORDER_FACTS, params={"of_quote": quote.id,
                                                                "of_account": quote.account_id}).one()
    if existing is not None:
        return session.get(Order, existing), False
    if quote.state != "accepted":
        raise InvalidTransition(quote.label, quote.state, "order it", "the customer has not accepted it")
    amendment = quote.kind == "amendment"
    if amendment and coterm is None:
        raise InvalidTransition(quote.label, quote.state, "order it", "an amendment is applied to its contract")
    contract = session.get(Contract, quote.contract_id) if amendment else made
    if quote.kind == "renewal" and contract is None:
        raise InvalidTransition(quote.label, quote.state, "order it", "its next term starts when the contract ends")
    if require_contract and not amendment and (contract is None or contract.state not in ("signed", "active")):
        state = contract.state if contract else "without a contract"
        raise InvalidTransition(quote.label, state, "order it", "orders are made from signed contracts")
    milestones = _milestones(billing, milestones)
    priced = quote.priced
    cur = currency(quote.currency)
    sources = {ln.key: ln for ln in quotes.lines_of(session, quote)}
    first_year = ZERO
    lines = []
    for line in priced["lines"]:
        source = sources.get(line["id"])
        if amendment and source is not None and source.subscription_id is not None:
            continue                                  # an amendment's change to a subscription
        configuration, version, bom = configuration_of(session, source) if source else ({}, None, [])
        net = Decimal(line["net_total"])
        periods_a_year = 1 if line["charge"] == "one_time" else 12 // PERIOD_MONTHS[line["charge"]]
        value = coterm(line) if amendment and line["charge"] != "one_time" else Decimal(line["contract_value"])
        first_year += min(net * periods_a_year, value)
        lines.append(OrderLine(order_id=0, key=line["id"], position=len(lines), product=line["product"],
                               name=line["name"], configuration=configuration, model_version=version, bom=bom,
                               quantity=Decimal(line["quantity"]), charge=line["charge"],
                               term_months=line["term_months"], list_total=Decimal(line["list_total"]),
                               net_total=net, contract_value=value))
    checked = credit_check(account, cur.round(first_year))
    # the order is written once, with its totals, credit check and change number (both counters
    # advanced by one statement)
    number, change = next_numbers(session, f"order-{today.year}", CHANGES)
    order = Order(number=f"SO-{today.year}-{number:05d}", quote_id=quote.id,
                  contract_id=contract.id if contract else None, account_id=account.id,
                  state="open" if checked["passed"] else "credit_hold", currency=quote.currency,
                  one_time_total=cur.round(sum((ln.net_total for ln in lines if ln.charge == "one_time"), ZERO)),
                  contract_value=cur.round(sum((ln.contract_value for ln in lines), ZERO)), billing=billing,
                  milestones=milestones, credit_check=checked, change_seq=change)
    session.add(order)
    session.flush()
    for line in lines:
        line.order_id = order.id
    # one INSERT, no flush: nothing later in the transaction uses the lines as session objects
    append(session, OrderLine, *(line.model_dump(exclude={"id"}) for line in lines))
    if amendment:
        subscriptions.create_for_order(session, order, lines, quote.effective_date, contract.end_date)
    else:
        subscriptions.create_for_order(session, order, lines, subscriptions.service_start(session, order))
    source_label = f"{quote.number} revision {quote.revision}" + (f", contract {contract.number}" if contract else "")
    _log(session, order, actor, "create", None, order.state, f"from {source_label}", order.credit_check)
    return order, True


def _milestones(billing: str, milestones: list[dict] | None) -> list[dict]:
    if billing not in BILLING:
        raise InvalidInput("billing", f"must be one of {', '.join(BILLING)}")
    if billing != "milestones":
        if milestones:
            raise InvalidInput("milestones", "only for billing by milestones")
        return []
    if not milestones:
        raise InvalidInput("milestones", "give the milestones, e.g. [{label, percent}], summing to 100")
    out = []
    for i, m in enumerate(milestones):
        pct = Decimal(str(m.get("percent", "")) or "0") if isinstance(m, dict) else Decimal(0)
        if not isinstance(m, dict) or not str(m.get("label", "")).strip() or pct <= 0:
            raise InvalidInput(f"milestones[{i}]", "needs a label and a percent above 0")
        out.append({"label": str(m["label"]).strip()[:100], "percent": str(pct)})
    if sum(Decimal(m["percent"]) for m in out) != 100:
        raise InvalidInput("milestones", "the percents must sum to 100")
    return out


def configuration_of(session: Session, line: QuoteLine) -> tuple[dict, int | None, list]:
    """The line's complete configuration (as priced: defaults fill what was not chosen) and
    the exploded BOM of one unit, or nothing for a plain product."""
    selections, version = line.selections, line.model_version
    if line.configuration_id:
        saved = get_configuration(session, line.configuration_id)
        selections, version = saved.assignment or saved.selections, saved.model_version
    if not selections and version is None:
        return {}, None, []
    model = get_model(session, line.product, version)
    configurator = get_configurator(model)
    assignment = configurator.complete(selections).assignment
    bom = configurator.bom(assignment)
    return ({k: v for k, v in assignment.items()}, model.version,
            [{"part": f.part, "description": f.description, "uom": f.uom, "quantity": str(f.quantity)}
             for f in bom.flat])


def release(session: Session, actor: User, number: str, reason: str) -> Order:
    """Finance releases an order from credit hold."""
    if actor.role not in ("finance", "admin"):
        raise Forbidden("only finance can release an order from credit hold")
    order = get_order(session, number, lock=True)
    if order.state != "credit_hold":
        raise InvalidTransition(label(order), order.state, "release it")
    if not reason.strip():
        raise InvalidInput("reason", "say why the credit hold is released")
    order.released_by = actor.id
    return _move(session, order, actor, "release", "open", reason)


def cancel(session: Session, actor: User, number: str, reason: str, *,
           settle_billing: Callable[[Order], None]) -> Order:
    """Cancel an order nothing of which was shipped: its quote's owner, finance or an admin.
    `settle_billing(order)` is billing's part (billing.order_billing.cancel_order): it refuses
    while invoices of the order stand, or credits them, in this transaction."""
    order = get_order(session, number, lock=True)
    if actor.role not in ("finance", "admin") and actor.id != session.get(Quote, order.quote_id).owner_id:
        raise Forbidden(f"only the quote's owner, finance or an admin can cancel {label(order)}")
    if order.state not in ("credit_hold", "open") or any(ln.shipped_quantity for ln in lines_of(session, order)):
        raise InvalidTransition(label(order), order.state, "cancel it", "only an order with nothing shipped")
    if not reason.strip():
        raise InvalidInput("reason", "say why the order is cancelled")
    settle_billing(order)
    return _move(session, order, actor, "cancel", "cancelled", reason)


def _move(session: Session, order: Order, actor, action: str, to: str, reason: str = "") -> Order:
    _record(session, order, actor, action, order.state, to, reason)
    order.state, order.updated_at = to, utcnow()
    session.add(order)
    session.flush()
    return order


def _line(session: Session, order: Order, key: str) -> OrderLine:
    line = find_row(session, OrderLine, OrderLine.order_id == order.id, OrderLine.key == key, lock=True)
    if line is None:
        raise InvalidInput("line", f"{label(order)} has no line {key!r}")
    return line


def _fulfilling(session: Session, number: str, action: str) -> Order:
    order = get_order(session, number, lock=True)
    if order.state != "open":
        raise InvalidTransition(label(order), order.state, action,
                                "released from credit hold first" if order.state == "credit_hold" else "")
    return order


def set_erp_number(session: Session, actor, number: str, erp_order_number: str) -> Order:
    order = get_order(session, number, lock=True)
    value = (erp_order_number or "").strip()
    if not value or len(value) > 64:
        raise InvalidInput("erp_order_number", "expected a text of 1 to 64 characters")
    if order.erp_order_number != value:
        _record(session, order, actor, "erp_number", None, None, data={"erp_order_number": value})
        order.erp_order_number = value
        session.add(order)
        session.flush()
    return order


def set_line_status(session: Session, actor, number: str, key: str, status: str) -> Order:
    """Production progress from the ERP (pending or in_production; shipping has its own call)."""
    if status not in ("pending", "in_production"):
        raise InvalidInput("status", "pending or in_production here; record shipments and deliveries instead")
    order = _fulfilling(session, number, "update its lines")
    line = _line(session, order, key)
    if line.shipped_quantity:
        raise InvalidInput("status", f"line {key} has already shipped")
    if line.status != status:
        _record(session, order, actor, "line_status", None, None, data={"line": key, "from": line.status, "to": status})
        line.status = status
        session.add(line)
        session.flush()
    return order


def ship(session: Session, actor, number: str, key: str, quantity: Decimal, shipped_on: date,
         carrier: str = "", tracking: str = "") -> Shipment:
    """A (partial) shipment of a line; the line is shipped once all of it has left."""
    order = _fulfilling(session, number, "ship it")
    line = _line(session, order, key)
    if line.charge != "one_time":
        raise InvalidInput("line", f"line {key} is a {line.charge} service, not something to ship")
    left = line.quantity - line.shipped_quantity
    if quantity <= 0 or quantity > left:
        raise InvalidInput("quantity", f"must be more than 0 and at most the {left} not shipped yet")
    shipment = Shipment(order_id=order.id, line_key=key, quantity=quantity, carrier=(carrier or "")[:64],
                        tracking=(tracking or "")[:128], shipped_on=shipped_on)
    session.add(shipment)
    line.shipped_quantity += quantity
    line.status = "shipped" if line.shipped_quantity == line.quantity else "in_production"
    session.add(line)
    _record(session, order, actor, "ship", None, None,
            data={"line": key, "quantity": str(quantity), "carrier": carrier, "tracking": tracking})
    session.flush()
    return shipment


def deliver(session: Session, actor, number: str, key: str, delivered_on: date) -> Order:
    """Everything shipped on a line has arrived; the order is fulfilled when every line has
    (recurring lines are services: delivered when their service starts)."""
    order = _fulfilling(session, number, "deliver it")
    line = _line(session, order, key)
    if line.charge == "one_time" and line.shipped_quantity == 0:
        raise InvalidInput("line", f"line {key} has not shipped")
    line.delivered_quantity = line.shipped_quantity if line.charge == "one_time" else line.quantity
    line.delivered_on = delivered_on
    if line.delivered_quantity == line.quantity:
        line.status = "delivered"
    for shipment in shipments_of(session, order):
        if shipment.line_key == key and shipment.delivered_on is None:
            shipment.delivered_on = delivered_on
            session.add(shipment)
    session.add(line)
    _record(session, order, actor, "deliver", None, None, data={"line": key, "on": delivered_on.isoformat()})
    session.flush()
    if all(ln.status == "delivered" for ln in lines_of(session, order)):
        _move(session, order, actor, "fulfil", "fulfilled", "every line delivered")
    return order



def bom_rows(session: Session, order: Order) -> list[dict]:
    """Every part the order needs: each line's exploded BOM of one unit times its quantity."""
    rows = []
    for line in lines_of(session, order):
        for part in line.bom:
            rows.append({"line": line.key, "product": line.product, "part": part["part"],
                         "description": part["description"], "uom": part["uom"],
                         "quantity": Decimal(part["quantity"]) * line.quantity})
    return rows

