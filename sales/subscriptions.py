"""Subscriptions: what each recurring order line sells, as a running service with a history.

A subscription is made with its order (`create_for_order`), one per recurring line, and runs
from the contract's start (or the order's date) over the line's term; a line an amendment
adds runs from the amendment's first day to the contract's end (co-termed). Orders made
before subscriptions existed get theirs when first needed (`for_line`), from the same facts.

What a subscription is (quantity, price per billing period, configuration) is its versions:
version 1 from the start, and one more per change, effective from a day. Versions are written
once and never changed (a new version supersedes an old one from its day on), so what was
billed for any day can always be explained. The price in force on a day is the latest version
effective on or before it. Billing (billing/schedule.py) bills each day at that price.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from catalog.pricebook import PERIOD_MONTHS
from core.dates import add_months
from core.db import append, children, get_row, insert_stored, lock_rows, utcnow
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.money import HUNDRED, ZERO, currency
from sales.models import Quote, QuoteLine
from sales.order_models import Contract, Order, OrderLine, Subscription, SubscriptionVersion

UNIT_PRICE = Decimal("0.000001")                     # shown, never summed


def label(subscription: Subscription) -> str:
    return f"subscription {subscription.id}"


def service_start(session: Session, order: Order) -> date:
    """Recurring charges run from the contract's start, or from the order's date."""
    if order.contract_id is not None:
        return session.get(Contract, order.contract_id).start_date
    return order.created_at.date()


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    return (amount / quantity if quantity else amount).quantize(UNIT_PRICE)


def create_for_order(session: Session, order: Order, lines: Iterable[OrderLine], start: date,
                     end: date | None = None, quote_id: int | None = None) -> list[Subscription]:
    """A subscription (and its version 1) for each recurring line of `order`, from `start` over
    the line's term, or to `end` (co-termed): the subscriptions in one INSERT returning their ids
    (`insert_stored`: callers go on using them as session objects; a flush here would also write
    whatever else is pending), their versions (which nothing here reads back) in one more."""
    made = []
    for line in lines:
        if line.charge not in PERIOD_MONTHS:
            continue
        last = end or add_months(start, line.term_months or PERIOD_MONTHS[line.charge]) - timedelta(days=1)
        made.append((Subscription(account_id=order.account_id, contract_id=order.contract_id, order_id=order.id,
                                  line_key=line.key, product=line.product, name=line.name, currency=order.currency,
                                  charge=line.charge, term_months=line.term_months or PERIOD_MONTHS[line.charge],
                                  start_date=start, end_date=last), line))
    insert_stored(session, [subscription for subscription, _ in made])
    append(session, SubscriptionVersion, *(
        dict(subscription_id=subscription.id, version=1, effective_from=start, quantity=line.quantity,
             amount=line.net_total, unit_price=unit_price(line.net_total, line.quantity),
             configuration=dict(line.configuration), model_version=line.model_version,
             quote_id=quote_id if quote_id is not None else order.quote_id, reason=f"order {order.number}")
        for subscription, line in made))
    return [subscription for subscription, _ in made]


_OF_LINE = select(Subscription).where(Subscription.order_id == sa.bindparam("of_order"),
                                     Subscription.line_key == sa.bindparam("of_line"))


def for_line(session: Session, order: Order, line: OrderLine) -> Subscription:
    """The subscription of a recurring order line (made now for an order that predates them)."""
    found = session.exec(_OF_LINE, params={"of_order": order.id, "of_line": line.key}).first()
    if found is None:
        (found,) = create_for_order(session, order, [line], service_start(session, order))
    return found


def ensure_for_contract(session: Session, contract: Contract) -> None:
    """Make the subscriptions of the contract's orders that predate them."""
    orders = session.exec(select(Order).where(Order.contract_id == contract.id, Order.state != "cancelled")).all()
    for order in orders:
        lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id,
                                                     OrderLine.charge != "one_time")).all()
        for line in lines:
            for_line(session, order, line)


def get_subscription(session: Session, subscription_id: int, *, lock: bool = False) -> Subscription:
    """A subscription; `lock` takes its row lock for writing (core.db.lock_row)."""
    found = None
    if isinstance(subscription_id, int):
        found = get_row(session, Subscription, subscription_id, lock=lock)
    if found is None:
        raise NotFound(f"unknown subscription {subscription_id!r}")
    return found


def of_contract(session: Session, contract: Contract) -> list[Subscription]:
    ensure_for_contract(session, contract)
    return list(session.exec(select(Subscription).where(Subscription.contract_id == contract.id)
                             .order_by(Subscription.id)))


_VERSIONS = select(SubscriptionVersion).where(
    SubscriptionVersion.subscription_id == sa.bindparam("of_subscription")).order_by(SubscriptionVersion.version)


def versions_of(session: Session, subscription: Subscription) -> list[SubscriptionVersion]:
    return list(session.exec(_VERSIONS, params={"of_subscription": subscription.id}))


#: a recurring order line's subscription with its versions, in one statement; built once
_WITH_VERSIONS = (select(Subscription, SubscriptionVersion)
                  .join(SubscriptionVersion, SubscriptionVersion.subscription_id == Subscription.id)
                  .where(Subscription.order_id == sa.bindparam("of_order"), Subscription.line_key == sa.bindparam("of_line"))
                  .order_by(SubscriptionVersion.version))


def line_versions(session: Session, order: Order, line: OrderLine) -> tuple[Subscription, list[SubscriptionVersion]]:
    """`for_line` and its `versions_of`, read in one statement where the subscription exists."""
    rows = session.exec(_WITH_VERSIONS, params={"of_order": order.id, "of_line": line.key}).all()
    if rows:
        return rows[0][0], [version for _, version in rows]
    found = for_line(session, order, line)
    return found, versions_of(session, found)


def versions_by_subscription(session: Session, ids: list[int]) -> dict[int, list[SubscriptionVersion]]:
    return children(session, SubscriptionVersion.subscription_id, ids, SubscriptionVersion.version)


def prices(versions: Iterable[SubscriptionVersion]) -> list[tuple[date, Decimal]]:
    """(first day, amount per period) of each stretch of the term: a version effective the same
    day as an earlier one replaces it."""
    by_day: dict[date, Decimal] = {}
    for version in sorted(versions, key=lambda v: v.version):
        by_day[version.effective_from] = version.amount
    return sorted(by_day.items())


def latest(session: Session, subscription: Subscription) -> SubscriptionVersion:
    """The version in force at the end of the term (the last to take effect)."""
    return max(versions_of(session, subscription), key=lambda v: (v.effective_from, v.version))


def in_force(versions: list[SubscriptionVersion], day: date) -> SubscriptionVersion:
    """The version in force on `day` (the first before the start)."""
    current = versions[0]
    for version in sorted(versions, key=lambda v: (v.effective_from, v.version)):
        if version.effective_from <= day:
            current = version
    return current


def add_version(session: Session, subscription: Subscription, effective_from: date, quantity: Decimal,
                amount: Decimal, configuration: dict, model_version: int | None, quote_id: int | None,
                reason: str) -> SubscriptionVersion:
    """A change from `effective_from` on. History is not rewritten: the day is within the term
    and on or after the latest version's; a quantity of 0 cancels the subscription from then."""
    if subscription.state != "active":
        raise InvalidTransition(label(subscription), subscription.state, "change it")
    versions = versions_of(session, subscription)
    last = max(versions, key=lambda v: v.effective_from)
    if not subscription.start_date <= effective_from <= subscription.end_date:
        raise InvalidInput("effective_date", f"{label(subscription)} runs from {subscription.start_date.isoformat()} "
                                             f"to {subscription.end_date.isoformat()}")
    if effective_from < last.effective_from:
        raise InvalidInput("effective_date", f"{label(subscription)} changed on {last.effective_from.isoformat()}; "
                                             "a change takes effect on that day or later")
    if quantity < 0 or amount < 0:
        raise InvalidInput("quantity", "must be at least 0")
    version = SubscriptionVersion(subscription_id=subscription.id, version=len(versions) + 1,
                                  effective_from=effective_from, quantity=quantity, amount=amount,
                                  unit_price=unit_price(amount, quantity), configuration=dict(configuration),
                                  model_version=model_version, quote_id=quote_id, reason=reason[:500])
    session.add(version)
    if quantity == ZERO:
        subscription.state, subscription.cancelled_on = "cancelled", effective_from
    subscription.updated_at = utcnow()
    session.add(subscription)
    session.flush()
    return version


def end_due(session: Session, today: date) -> list[Subscription]:
    """Active subscriptions whose term is over are ended (safe to rerun)."""
    due = lock_rows(session, Subscription, Subscription.state == "active", Subscription.end_date < today)
    for subscription in due:
        subscription.state, subscription.updated_at = "ended", utcnow()
        session.add(subscription)
    session.flush()
    return due


# quotes that continue subscriptions (amendments, renewals) ------------------------------------

def check_continues(session: Session, quote: Quote, subscription_id: int, quantity: int, where: str) -> None:
    """A line that continues a subscription: on an amendment or renewal of its contract, at
    most once per quote, never below 0 (0 ends it)."""
    if quote.kind == "sale":
        raise InvalidInput(f"{where}.subscription", "only an amendment or a renewal continues a subscription")
    found = session.get(Subscription, subscription_id) if isinstance(subscription_id, int) else None
    if found is None or found.contract_id != quote.contract_id or found.state != "active":
        raise InvalidInput(f"{where}.subscription", "no active subscription of the contract with this id")
    if quantity < 0 or (quote.kind == "renewal" and quantity < 1):
        raise InvalidInput(f"{where}.quantity", "must be at least 0 (0 ends the subscription)"
                           if quote.kind == "amendment" else "must be at least 1 (leave the line out to end it)")
    taken = session.exec(select(QuoteLine.key).where(QuoteLine.quote_id == quote.id,
                                                     QuoteLine.subscription_id == subscription_id)).first()
    if taken is not None:
        raise InvalidInput(f"{where}.subscription", f"line {taken} already continues subscription {subscription_id}")


def contract_prices(session: Session, quote: Quote, lines: Sequence[QuoteLine]) -> dict[str, Decimal]:
    """The net per period of each line that keeps its subscription's contracted price: the
    net unit price of the subscription's latest version times the line's quantity, rounded
    once (a renewal's raised by the contract's escalation). A line the rep asks to re-price,
    or whose configuration changed (an upgrade), is priced by the rules; quantity 0 is 0."""
    out = {}
    cur = currency(quote.currency)
    rise = HUNDRED + (session.get(Contract, quote.contract_id).escalation_percent if quote.kind == "renewal" else ZERO)
    for line in lines:
        if line.subscription_id is None:
            continue
        subscription = session.get(Subscription, line.subscription_id)
        last = latest(session, subscription)
        if line.quantity == 0:
            out[line.key] = ZERO.quantize(cur.quantum)
        elif not line.reprice and line.selections == last.configuration and last.quantity:
            out[line.key] = cur.round(last.amount * line.quantity * rise / last.quantity / HUNDRED)
    return out
