"""Promo code redemptions, with usage limits that hold under concurrent use.

Pricing only reads usage (a draft does not use up a code); a redemption is recorded when a
deal is committed (e.g. a quote is accepted). Every redemption of a code first locks the
code's counter row (an UPDATE, which both SQLite and PostgreSQL serialise), then checks the
limits and inserts, so two concurrent redemptions can never both take the last use.
Redeeming again for the same reference (the same quote) is a no-op.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, func, select

from core.db import Table, forbid_updates, insert_ignoring, utcnow
from core.errors import DomainError, NotFound
from rules.model import RuleSet


class PromoLimitReached(DomainError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PromoCounter(Table, table=True):
    __tablename__ = "promo_counter"

    code: str = Field(max_length=64, primary_key=True)
    used: int = 0


class PromoRedemption(Table, table=True):
    __tablename__ = "promo_redemption"
    __table_args__ = (sa.UniqueConstraint("code", "reference"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, foreign_key="promo_counter.code", index=True)
    customer: str | None = Field(default=None, max_length=100)
    reference: str = Field(max_length=100)
    redeemed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


forbid_updates(PromoRedemption)


def usage(session: Session, codes, customer: str | None) -> dict[str, tuple[int, int]]:
    """code -> (redemptions in total, redemptions by `customer`) for the given codes."""
    codes = sorted({c.strip().upper() for c in codes})
    if not codes:
        return {}
    totals = dict(session.exec(select(PromoCounter.code, PromoCounter.used)
                               .where(PromoCounter.code.in_(codes))).all())
    mine: dict[str, int] = {}
    if customer is not None:
        mine = dict(session.exec(select(PromoRedemption.code, func.count())
                                 .where(PromoRedemption.code.in_(codes),
                                        PromoRedemption.customer == customer)
                                 .group_by(PromoRedemption.code)).all())
    return {c: (totals.get(c, 0), mine.get(c, 0)) for c in codes}


def redeem(session: Session, rule_set: RuleSet, code: str, customer: str | None,
           reference: str) -> PromoRedemption:
    """Record one use of `code` for `reference`, within the promotion's limits."""
    code = code.strip().upper()
    promo = rule_set.promotions.get(code)
    if promo is None:
        raise NotFound(f"rule set {rule_set.name} has no promotion {code!r}")
    _ensure_counter(session, code)
    with session.begin_nested():      # a refused redemption leaves the counter as it was
        return _redeem(session, promo, code, customer, reference)


def _redeem(session: Session, promo, code: str, customer: str | None, reference: str) -> PromoRedemption:
    # The UPDATE takes the row lock: concurrent redemptions of this code queue here, and
    # everything below sees what the ones before committed.
    used = _add(session, code, 1)
    existing = session.exec(select(PromoRedemption).where(PromoRedemption.code == code,
                                                          PromoRedemption.reference == reference)).first()
    if existing is not None:
        _add(session, code, -1)
        return existing
    if promo.usage_limit is not None and used > promo.usage_limit:
        raise PromoLimitReached(f"promo code {code} has reached its usage limit ({promo.usage_limit})")
    if promo.per_customer_limit is not None:
        if customer is None:
            raise PromoLimitReached(f"promo code {code} is limited per customer: name the customer")
        mine = session.exec(select(func.count()).select_from(PromoRedemption).where(
            PromoRedemption.code == code, PromoRedemption.customer == customer)).one()
        if mine >= promo.per_customer_limit:
            raise PromoLimitReached(f"customer {customer} has used promo code {code} "
                                    f"{mine} times (limit {promo.per_customer_limit})")
    row = PromoRedemption(code=code, customer=customer, reference=reference)
    session.add(row)
    session.flush()
    return row


def _add(session: Session, code: str, delta: int) -> int:
    return session.execute(sa.update(PromoCounter).where(PromoCounter.code == code)
                           .values(used=PromoCounter.used + delta).returning(PromoCounter.used)).scalar_one()


def _ensure_counter(session: Session, code: str) -> None:
    if session.get(PromoCounter, code) is None:       # another transaction may create it at the same time
        session.execute(insert_ignoring(session, PromoCounter, "code").values(code=code, used=0))
