"""Which quotes, contracts and orders a user may see.

A permission (core/permissions.py) says what kind of thing a user may read or change; this
says which ones. Reps see the quotes they own and those of reps in their team, and the
contracts, orders and invoices that came from them; approvers, finance, admins and anyone
holding an approval level (a selling manager) oversee all of them.
Anything else is reported as unknown (404), not forbidden, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from core.errors import NotFound
from core.users import User
from sales.models import Quote
from sales.order_models import Contract, Order

OVERSIGHT = ("approver", "finance", "admin")


def owners_visible_to(session: Session, user: User) -> list[str] | None:
    """The owners whose quotes `user` sees; None means everyone's."""
    if user.role in OVERSIGHT or user.approval_levels:
        return None
    if user.role != "rep":
        return []
    if user.team is None:
        return [user.id]
    return list(session.exec(select(User.id).where(User.team == user.team)))


def quote_filter(session: Session, user: User) -> ColumnElement | None:
    """A condition on Quote for lists; None when every quote is visible."""
    owners = owners_visible_to(session, user)
    return None if owners is None else Quote.owner_id.in_(owners)


def _hidden(session: Session, user: User, quote_id_of: Callable[[], int | None]) -> bool:
    """Whether the quote an object came from is outside what `user` sees; `quote_id_of` finds
    that quote only when it matters (not for those who see everything)."""
    owners = owners_visible_to(session, user)
    if owners is None:
        return False
    quote_id = quote_id_of()
    quote = session.get(Quote, quote_id) if quote_id is not None else None
    return quote is None or quote.owner_id not in owners


def check_quote(session: Session, user: User, quote: Quote) -> Quote:
    if _hidden(session, user, lambda: quote.id):
        raise NotFound(f"unknown quote {quote.number!r}")
    return quote


def _origin_quote_id(session: Session, contract: Contract) -> int | None:
    """The quote a contract came from; a renewal inherits its predecessor's."""
    seen = set()
    while contract.quote_id is None and contract.renewal_of is not None and contract.id not in seen:
        seen.add(contract.id)
        contract = session.get(Contract, contract.renewal_of)
    return contract.quote_id


def check_contract(session: Session, user: User, contract: Contract) -> Contract:
    if _hidden(session, user, lambda: _origin_quote_id(session, contract)):
        raise NotFound(f"unknown contract {contract.number!r}")
    return contract


def check_order(session: Session, user: User, order: Order) -> Order:
    if _hidden(session, user, lambda: order.quote_id):
        raise NotFound(f"unknown order {order.number!r}")
    return order


def _invoice_quote_id(session: Session, invoice) -> int | None:
    """An invoice's quote, through its order; a credit note or fee invoice goes through what
    it corrects."""
    order_id, original = invoice.order_id, invoice
    while order_id is None and original.original_id is not None:
        original = session.get(type(invoice), original.original_id)
        order_id = original.order_id
    order = session.get(Order, order_id) if order_id is not None else None
    return order.quote_id if order is not None else None


def check_invoice(session: Session, user: User, invoice) -> object:
    if _hidden(session, user, lambda: _invoice_quote_id(session, invoice)):
        raise NotFound(f"unknown invoice {invoice.id}")
    return invoice


def order_filter(session: Session, user: User) -> ColumnElement | None:
    owners = owners_visible_to(session, user)
    if owners is None:
        return None
    return Order.quote_id.in_(select(Quote.id).where(Quote.owner_id.in_(owners)))


def contract_filter(session: Session, user: User) -> ColumnElement | None:
    """A condition on Contract for lists; None when every contract is visible. Renewals
    (made by the jobs, with no quote of their own) are listed to those who oversee all."""
    owners = owners_visible_to(session, user)
    if owners is None:
        return None
    return Contract.quote_id.in_(select(Quote.id).where(Quote.owner_id.in_(owners)))
