"""Sales figures for the dashboard, from the latest revision of every quote: win rate,
quote-to-close cycle time, average deal size, discount given per rep and the pipeline.

Amounts are summed per currency and never converted; a quote's list and contract values are
the ones its last pricing stored, so the figures match what the rep and the customer saw.

Neither way reads the stored prices. PostgreSQL counts and sums in two queries (one grouped
by state, currency and owner, one over the cycles of won quotes), exactly: NUMERIC amounts,
NUMERIC epoch seconds. SQLite keeps amounts as text and sums through binary floats, so there
the few columns needed are read and summed in Python (50,000 quotes: 0.7 s; bench/analytics.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from core.db import aware
from core.money import ZERO, CurrencyError, currency, trim
from core.users import User
from sales.models import STATES, Quote

WON, LOST = ("accepted",), ("declined", "expired")
NO_DISCOUNT = ("draft", "rejected")     # not offered yet (or refused inside), so nothing was given
DAY = Decimal(86400)


@dataclass(frozen=True)
class SalesFigures:
    win_rate: Decimal | None                        # won / decided, in percent
    won: int
    lost: int
    cycle_days: Decimal | None                      # mean days from first revision to acceptance
    deal_size: dict[str, Decimal]                   # mean contract value of won quotes, per currency
    discount_by_rep: dict[str, dict[str, Decimal]]  # rep -> currency -> list minus net contract value
    pipeline: dict[str, tuple[int, dict[str, Decimal]]]   # state -> (count, value per currency)


def figures(session: Session, visible=None) -> SalesFigures:
    """The figures over the latest revisions that `visible` (a condition on Quote, such as
    sales.access.quote_filter gives; None: all) lets through."""
    where = [Quote.latest] if visible is None else [Quote.latest, visible]
    if session.get_bind().dialect.name != "postgresql":
        return _summed_in_python(session, where)
    names = dict(session.exec(select(User.id, User.name)).all())   # reps who share a name share a bar
    given = sa.func.coalesce(Quote.list_contract_value, 0) - sa.func.coalesce(Quote.contract_value, 0)
    counted = sa.and_(Quote.state.not_in(NO_DISCOUNT), given > 0)
    rows = session.exec(
        select(Quote.state, Quote.currency, Quote.owner_id, sa.func.count(), sa.func.sum(Quote.contract_value),
               sa.func.sum(sa.case((counted, given))))
        .where(*where).group_by(Quote.state, Quote.currency, Quote.owner_id)).all()
    first = aliased(Quote)
    cycles, seconds = session.exec(
        select(sa.func.count(), sa.func.sum(sa.extract(
            "epoch", Quote.decided_at - sa.func.coalesce(first.created_at, Quote.created_at))))
        .select_from(Quote).join(first, sa.and_(first.number == Quote.number, first.revision == 1), isouter=True)
        .where(*where, Quote.state.in_(WON), Quote.decided_at.is_not(None))).one()
    return _assemble([(state, code, count, Decimal(value or 0)) for state, code, _o, count, value, _g in rows],
                     [(names.get(owner, owner), code, Decimal(given)) for _s, code, owner, _n, _v, given in rows
                      if given is not None],
                     cycles, Decimal(str(seconds or 0)))      # str: an older PostgreSQL's float epoch


def _assemble(by_state, discounts, cycle_count: int, cycle_seconds: Decimal) -> SalesFigures:
    """The figures from (state, currency, count, contract value) and (rep, currency, discount
    given) sums, any number of each per key, and the count and total seconds of cycles."""
    won = sum(count for state, _c, count, _v in by_state if state in WON)
    lost = sum(count for state, _c, count, _v in by_state if state in LOST)
    decided = won + lost
    sizes: dict[str, list] = defaultdict(lambda: [ZERO, 0])
    pipeline: dict[str, tuple[int, dict[str, Decimal]]] = {}
    for state, code, count, value in by_state:
        if state in WON:
            sizes[code][0] += value
            sizes[code][1] += count
        total, values = pipeline.get(state, (0, {}))
        values[code] = trim(values.get(code, ZERO) + value)
        pipeline[state] = (total + count, values)
    discount: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for name, code, value in discounts:
        discount[name][code] = discount[name].get(code, ZERO) + value
    return SalesFigures(
        win_rate=(Decimal(won * 100) / decided).quantize(Decimal("0.1")) if decided else None,
        won=won, lost=lost,
        cycle_days=(cycle_seconds / (cycle_count * DAY)).quantize(Decimal("0.1")) if cycle_count else None,
        deal_size={c: (total / n).quantize(Decimal("0.01")) for c, (total, n) in sorted(sizes.items())},
        discount_by_rep={name: {c: _in_minor_units(c, v) for c, v in sorted(by.items())}
                         for name, by in sorted(discount.items())},
        pipeline={s: (pipeline[s][0], dict(sorted(pipeline[s][1].items()))) for s in STATES if s in pipeline})


def _in_minor_units(code: str, value: Decimal) -> Decimal:
    """`value` written in its currency's minor units (540.00; 1200 for JPY) as the stored
    prices write amounts, when that does not round it; else without trailing zeros."""
    try:
        shown = value.quantize(currency(code).quantum)
    except (CurrencyError, InvalidOperation):
        return trim(value)
    return shown if shown == value else trim(value)


def _summed_in_python(session: Session, where: list) -> SalesFigures:
    """The figures from the few columns they need, summed in Python."""
    first = aliased(Quote)
    rows = session.exec(
        select(Quote.state, Quote.currency, Quote.contract_value, Quote.list_contract_value, Quote.owner_id,
               Quote.decided_at, sa.func.coalesce(first.created_at, Quote.created_at))
        .select_from(Quote).join(first, sa.and_(first.number == Quote.number, first.revision == 1), isouter=True)
        .where(*where)).all()
    names = dict(session.exec(select(User.id, User.name)).all())
    groups: dict[tuple[str, str], list] = defaultdict(lambda: [0, ZERO])
    discounts: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    cycle_count, cycle_seconds = 0, ZERO
    for state, code, value, list_value, owner, decided_at, started in rows:
        groups[state, code][0] += 1
        groups[state, code][1] += value or ZERO
        given = (list_value or ZERO) - (value or ZERO)
        if state not in NO_DISCOUNT and given > 0:
            discounts[names.get(owner, owner), code] += given
        if state in WON and decided_at is not None:
            delta = aware(decided_at) - aware(started)
            cycle_count += 1
            cycle_seconds += Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)
    return _assemble([(s, c, n, v) for (s, c), (n, v) in groups.items()],
                     [(rep, c, v) for (rep, c), v in discounts.items()], cycle_count, cycle_seconds)
