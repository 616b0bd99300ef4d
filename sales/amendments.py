"""Amendments: a change to a live contract mid-term, made as a quote of its own.

An amendment quote (`kind = "amendment"`, `contract_id`, `effective_date`) goes through the
same life as any quote: priced by the same price book and rules, approved by the same policy,
sent and accepted by the customer the same way. Its lines are the changes:

- a line that continues a subscription (`subscription`) says what the subscription becomes
  from the effective date: its quantity (0 removes it) and configuration. It keeps the
  contract's net unit price (the price of the subscription's latest version per unit, times
  the new quantity, rounded once) unless the rep asks to re-price it (`reprice`) or its
  configuration changed (an upgrade is priced by the rules);
- any other line adds a product: priced by the rules as on any quote; a recurring one runs
  from the effective date to the contract's end (co-termed).

Accepted, it is applied once by billing (billing/amendments.py: versions, an order for what
it adds, and invoices and credit notes prorated by the day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from sqlmodel import Session, select

from core.errors import Forbidden, InvalidInput, InvalidTransition
from core.users import User
from sales import contracts, subscriptions
from sales.accounts import Account
from sales.models import Quote, QuoteLine
from sales.order_models import Contract, Order, Subscription, SubscriptionVersion
from sales.orders import configuration_of
from sales.quotes import HEADER_FIELDS, LineSpec, create_quote, get_quote, lines_of

LIVE = ("signed", "active")
# what an amendment takes from the quote the contract was sold with, unless given
INHERITED = ("price_book", "rule_set", "channel", "payment_terms", "terms_template")


@dataclass(frozen=True)
class Change:
    """One change as a caller gives it: a subscription's new quantity or configuration, or a
    product to add (`product` or a saved `configuration`)."""
    subscription: int | None = None
    quantity: int | None = None               # the new quantity; 0 removes; None keeps it
    selections: Mapping[str, Any] | None = None   # a new configuration (an upgrade): priced afresh
    reprice: bool = False
    product: str | None = None
    configuration: str | None = None
    model_version: int | None = None
    term_months: int | None = None
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    notes: str = ""


@dataclass(frozen=True)
class Prepared:
    """An accepted amendment quote about to be applied, with what it changes."""
    quote: Quote
    contract: Contract
    changes: list[QuoteLine] = field(default_factory=list)    # lines that continue a subscription
    adds: list[QuoteLine] = field(default_factory=list)
    applied: bool = False


def create(session: Session, actor: User, contract_number: str, effective_date: date, changes: Sequence[Change],
           today: date, header: Mapping[str, Any] | None = None) -> Quote:
    """The draft amendment quote of a live contract: its lines describe `changes`, effective
    from `effective_date` (within the contract's term) to the contract's end."""
    contract = contracts.get_contract(session, contract_number, lock=True)
    if contract.state not in LIVE:
        raise InvalidTransition(contracts.label(contract), contract.state, "amend it", "only a live contract")
    if not contract.start_date <= effective_date <= contract.end_date:
        raise InvalidInput("effective_date", f"{contracts.label(contract)} runs from {contract.start_date.isoformat()} "
                                             f"to {contract.end_date.isoformat()}")
    if not changes:
        raise InvalidInput("changes", "give at least one change")
    subscriptions.ensure_for_contract(session, contract)
    specs = [_spec(session, contract, change, effective_date, f"changes[{i}]") for i, change in enumerate(changes)]
    sold = sold_with(session, contract)
    header = dict(header or {})
    for name in INHERITED:
        if name not in header and sold is not None:
            header[name] = getattr(sold, name)
    header.setdefault("title", f"Amendment of {contract.number}")
    unknown = set(header) - set(HEADER_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown quote field")
    account = session.get(Account, contract.account_id)
    quote = create_quote(session, actor, account.code, header, specs, today,
                         origin={"kind": "amendment", "contract_id": contract.id, "effective_date": effective_date})
    contracts.note(session, contract, actor, "amend", f"amendment {quote.number} from {effective_date.isoformat()}")
    return quote


def _spec(session: Session, contract: Contract, change: Change, day: date, where: str) -> LineSpec:
    if change.subscription is None:
        if change.product is None and change.configuration is None:
            raise InvalidInput(f"{where}.product", "name a subscription to change, or a product to add")
        return LineSpec(change.product, change.configuration, dict(change.selections or {}), change.model_version,
                        1 if change.quantity is None else change.quantity, change.term_months,
                        change.discount_percent, change.discount_amount, notes=change.notes)
    found = session.get(Subscription, change.subscription) if isinstance(change.subscription, int) else None
    if found is None or found.contract_id != contract.id:
        raise InvalidInput(f"{where}.subscription", f"{contracts.label(contract)} has no subscription {change.subscription!r}")
    if found.state != "active" or not found.start_date <= day <= found.end_date:
        raise InvalidInput(f"{where}.subscription", f"subscription {found.id} is {found.state} and runs from "
                                                    f"{found.start_date.isoformat()} to {found.end_date.isoformat()}")
    latest = subscriptions.latest(session, found)
    if day < latest.effective_from:
        raise InvalidInput("effective_date", f"subscription {found.id} changed on {latest.effective_from.isoformat()}; "
                                             "a change takes effect on that day or later")
    upgrade = change.selections is not None and dict(change.selections) != latest.configuration
    return LineSpec(found.product, None, dict(change.selections) if upgrade else dict(latest.configuration),
                    None if upgrade else latest.model_version,
                    int(latest.quantity) if change.quantity is None else change.quantity, found.term_months,
                    change.discount_percent, change.discount_amount, notes=change.notes,
                    subscription=found.id, reprice=change.reprice)


def sold_with(session: Session, contract: Contract) -> Quote | None:
    """The quote the contract (or the first term it renews) was sold with."""
    while contract.quote_id is None and contract.renewal_of is not None:
        contract = session.get(Contract, contract.renewal_of)
    return session.get(Quote, contract.quote_id) if contract.quote_id else None


def prepare(session: Session, actor: User, number: str) -> Prepared:
    """The accepted amendment quote `number` (latest revision) and its contract, locked, with
    whether it was applied already."""
    quote = get_quote(session, number, lock=True)
    if quote.kind != "amendment":
        raise InvalidTransition(quote.label, quote.state, "apply it", "only an amendment quote is applied")
    if actor.id != quote.owner_id and actor.role not in ("finance", "admin"):
        raise Forbidden(f"only the quote's owner, finance or an admin can apply {quote.label}")
    lines = lines_of(session, quote)
    changes = [ln for ln in lines if ln.subscription_id is not None]
    adds = [ln for ln in lines if ln.subscription_id is None]
    contract = contracts.get_contract(session, session.get(Contract, quote.contract_id).number, lock=True)
    applied = (session.exec(select(SubscriptionVersion.id).where(SubscriptionVersion.quote_id == quote.id)).first()
               is not None or session.exec(select(Order.id).where(Order.quote_id == quote.id)).first() is not None)
    if applied:
        return Prepared(quote, contract, changes, adds, True)
    if quote.state != "accepted":
        raise InvalidTransition(quote.label, quote.state, "apply it", "the customer has not accepted it")
    if contract.state not in LIVE:
        raise InvalidTransition(contracts.label(contract), contract.state, "apply an amendment to it")
    return Prepared(quote, contract, changes, adds)


def add_versions(session: Session, prepared: Prepared) -> list[SubscriptionVersion]:
    """A version of each subscription the amendment changes, from its effective date, at the
    price its customer accepted (the stored price of the quote)."""
    priced = {line["id"]: line for line in prepared.quote.priced["lines"]}
    versions = []
    for line in prepared.changes:
        subscription = subscriptions.get_subscription(session, line.subscription_id, lock=True)
        configuration, model_version, _bom = configuration_of(session, line)
        versions.append(subscriptions.add_version(
            session, subscription, prepared.quote.effective_date, Decimal(line.quantity),
            Decimal(priced[line.key]["net_total"]), configuration, model_version, prepared.quote.id,
            f"amendment {prepared.quote.number}"))
    return versions
