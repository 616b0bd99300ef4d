"""Sales figures for the dashboard, from the latest revision of every quote: win rate,
quote-to-close cycle time, average deal size, discount given per rep and the pipeline.

Amounts are summed per currency and never converted; a quote's list and contract values are
the ones its last pricing stored, so the figures match what the rep and the customer saw.

The database counts and sums, in two queries that never read the stored prices: one over
the latest revisions grouped by state, currency and owner, one over the cycles of won
quotes. The sums are exact, never through binary floats. PostgreSQL sums its NUMERIC
amounts and the epoch seconds of intervals as they are. SQLite keeps amounts and timestamps
as text and does its own arithmetic on them in floating point, so there each is split into
two integers, whole units (seconds) and millionths (microseconds), summed apart and put
together here as a Decimal. An amount that split cannot read (exponent notation, more than
six decimals: nothing this application writes) sends the whole computation down an exact
path that reads the few columns it needs into Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from core.db import aware, trim
from core.money import ZERO, CurrencyError, currency
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
    exact = _Exact(session.get_bind().dialect.name)
    where = [Quote.latest] if visible is None else [Quote.latest, visible]

    # per state, currency and owner: how many, their contract value and the discount given
    contract = exact.amount(Quote.contract_value)
    given = exact.difference(Quote.list_contract_value, Quote.contract_value)
    counted = sa.and_(Quote.state.not_in(NO_DISCOUNT), exact.positive(given))
    unreadable = exact.unreadable(Quote.contract_value, Quote.list_contract_value)
    columns = [Quote.state, Quote.currency, Quote.owner_id, sa.func.count(), *map(sa.func.sum, contract),
               *(sa.func.sum(sa.case((counted, part))) for part in given)]
    if unreadable is not None:
        columns.append(sa.func.max(sa.case((unreadable, 1), else_=0)))
    rows = session.exec(select(*columns).where(*where).group_by(Quote.state, Quote.currency, Quote.owner_id)).all()
    if unreadable is not None and any(row[-1] for row in rows):
        return _figures_in_python(session, where)
    names = dict(session.exec(select(User.id, User.name)).all())   # reps who share a name share a bar
    n = len(contract)
    groups = [(state, code, names.get(owner, owner), count, exact.value(rest[:n]), rest[n:2 * n])
              for state, code, owner, count, *rest in rows]

    # quote-to-close: from the first revision's creation to the acceptance of the latest
    first = aliased(Quote)
    cycle = exact.seconds(Quote.decided_at, sa.func.coalesce(first.created_at, Quote.created_at))
    cycles = session.exec(
        select(sa.func.count(), *map(sa.func.sum, cycle))
        .select_from(Quote).join(first, sa.and_(first.number == Quote.number, first.revision == 1), isouter=True)
        .where(*where, Quote.state.in_(WON), Quote.decided_at.is_not(None))).one()

    return _assemble([(state, code, count, value) for state, code, _name, count, value, _g in groups],
                     [(name, code, exact.value(sums)) for _s, code, name, _n, _v, sums in groups
                      if any(s is not None for s in sums)],
                     cycles[0], exact.value(cycles[1:]))


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


class _Exact:
    """Exact sums in SQL on either database: an amount or a duration is a list of parts,
    each summed by the database; `value` puts the sums back together."""

    def __init__(self, dialect: str):
        self.split = dialect == "sqlite"

    def amount(self, column) -> list:
        if not self.split:
            return [column]
        # str(Decimal) of an amount: [-]units[.fraction]. CAST takes the integer prefix
        # (sign included); the fraction's first six digits carry the amount's sign.
        text = sa.type_coerce(column, sa.String)
        dot = sa.func.instr(text, ".")
        fraction = sa.case((dot > 0, sa.cast(sa.func.substr(
            sa.func.substr(text, dot + 1, type_=sa.String) + "000000", 1, 6), sa.Integer)), else_=0)
        negative = sa.func.substr(text, 1, 1) == "-"
        return [sa.cast(text, sa.Integer), sa.case((negative, -fraction), else_=fraction)]

    def difference(self, minuend, subtrahend) -> list:
        """minuend - subtrahend, a missing amount counting as zero."""
        return [sa.func.coalesce(a, 0) - sa.func.coalesce(b, 0)
                for a, b in zip(self.amount(minuend), self.amount(subtrahend))]

    def positive(self, parts: list):
        if not self.split:
            return parts[0] > 0
        units, millionths = parts
        return units * 1000000 + millionths > 0

    def unreadable(self, *columns):
        """A condition true for a row with an amount `amount` cannot split; None where
        nothing is split. The Amount type writes str(Decimal), plain unless the Decimal has
        a positive exponent (1E+3) or is very small (1E-7)."""
        if not self.split:
            return None
        texts = [sa.type_coerce(column, sa.String) for column in columns]
        return sa.or_(*(sa.or_(text.op("GLOB")("*[^0-9.-]*"),    # exponent, NaN, Infinity
                               text.op("GLOB")("*.???????*"),    # finer than a millionth
                               sa.func.length(text) > 20)        # an integer part SUM could overflow
                        for text in texts))

    def seconds(self, later, earlier) -> list:
        """The time from `earlier` to `later` (timestamp columns)."""
        if not self.split:   # NUMERIC on PostgreSQL 14+, exact to the microsecond
            return [sa.type_coerce(sa.extract("epoch", later - earlier), sa.Numeric())]
        # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), read here as whole seconds and
        # microseconds: its own date functions round the fraction to milliseconds
        texts = [sa.type_coerce(c, sa.String) for c in (later, earlier)]
        whole = [sa.cast(sa.func.strftime("%s", sa.func.substr(t, 1, 19)), sa.Integer) for t in texts]
        micro = [sa.cast(sa.func.substr(sa.func.substr(t, 21, type_=sa.String) + "000000", 1, 6), sa.Integer)
                 for t in texts]
        return [whole[0] - whole[1], micro[0] - micro[1]]

    def value(self, sums) -> Decimal:
        """The Decimal from the sums of the parts (None: no rows, zero)."""
        if not self.split:
            return Decimal(str(sums[0] or 0))   # str: an older PostgreSQL's float epoch
        units, millionths = sums
        return Decimal(units or 0) + Decimal(millionths or 0).scaleb(-6)


def _figures_in_python(session: Session, where: list) -> SalesFigures:
    """The same figures from the few columns they need, summed in Python: for the rare SQLite
    database holding an amount that SQL cannot read exactly."""
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
