"""Exchange rates: what an amount in one currency is worth in another on a day.

A row says that 1 `base` is `rate` `quote` from `effective_on` until the pair's next row.
Rows come from published tables (the ECB's reference rates: core/ecb.py) and are written
once: what a report or a derived price book was converted with can always be read back.

`rate(session, from, to, on)` takes the latest row on or before `on` and answers for every
pair the table connects: stored, inverted, or across a common base (the ECB publishes EUR
against each currency only, so USD->GBP = EUR->GBP / EUR->USD). Where several ways answer,
the freshest wins (a direct rate from 2019 loses to today's ECB cross rate). A rate that is
not stored is a quotient, kept to RATE_DIGITS significant digits, so that the rate printed
beside a converted amount is exactly the one it was multiplied by. Rates are Decimal, never
float, and an amount converted with `Rate.convert` is exact: whoever reports it rounds it,
once, to the target currency's minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Field, Session, select

from core.db import Amount, Table, forbid_updates, timestamp, utcnow
from core.errors import InvalidInput
from core.money import ONE, CurrencyError, currency

RATE_DIGITS = 15        # significant digits of an inverse or cross rate
RATE_DECIMALS = 6       # what a stored rate may have (the Amount column's scale)
_CHUNK = 2000           # rows per INSERT statement


class ExchangeRate(Table, table=True):
    """1 `base` = `rate` `quote`, from `effective_on`; written once, never updated."""

    __tablename__ = "exchange_rate"
    # the unique constraint's index finds a pair's latest rate; this one the bases a currency is quoted in
    __table_args__ = (sa.UniqueConstraint("base", "quote", "effective_on"),
                      sa.Index("ix_exchange_rate_quote_base", "quote", "base"))

    id: int | None = Field(default=None, primary_key=True)
    base: str = Field(max_length=3)
    quote: str = Field(max_length=3)
    effective_on: date
    rate: Decimal = Field(sa_type=Amount)
    source: str = Field(max_length=32)
    loaded_at: datetime = timestamp()


forbid_updates(ExchangeRate)


class NoRate(InvalidInput):
    """No stored rate connects two currencies on or before a day."""


@dataclass(frozen=True)
class Rate:
    """1 `base` is `rate` `quote`. `on` is the day the rate took effect (for a cross rate the
    older leg's), `source` where it comes from ("ECB", "ECB, inverted", "ECB via EUR");
    `requested` is the day asked about."""
    base: str
    quote: str
    rate: Decimal
    on: date
    source: str
    requested: date

    def convert(self, amount: Decimal) -> Decimal:
        """`amount` in `base` as `quote`, exact (unrounded)."""
        return amount * self.rate


@dataclass(frozen=True)
class NewRate:
    """A rate to record; `where` names it in its file for errors ("line 3, column 4 (USD)")."""
    base: str
    quote: str
    on: date
    rate: Decimal
    source: str
    where: str = ""


@dataclass(frozen=True)
class Recorded:
    created: int
    unchanged: int
    first: date | None
    last: date | None


def quotient(a: Decimal, b: Decimal) -> Decimal:
    """a / b to RATE_DIGITS significant digits, whatever the thread's decimal context."""
    with localcontext() as ctx:
        ctx.prec = RATE_DIGITS
        return (a / b).normalize()


def record_rates(session: Session, rates: Iterable[NewRate]) -> Recorded:
    """Store rates not stored yet; one already stored with the same value is left as it is
    (importing a file again changes nothing), with another value it is an error: stored rates
    never change. All or nothing: InvalidInput names the first conflict."""
    rates = list(rates)
    if not rates:
        return Recorded(0, 0, None, None)
    days = [r.on for r in rates]
    stored = {(b, q, on): value for b, q, on, value in session.exec(
        select(ExchangeRate.base, ExchangeRate.quote, ExchangeRate.effective_on, ExchangeRate.rate)
        .where(ExchangeRate.base.in_({r.base for r in rates}),
               ExchangeRate.effective_on.between(min(days), max(days))))}
    new = []
    for r in rates:
        known = stored.get((r.base, r.quote, r.on))
        if known is None:
            stored[r.base, r.quote, r.on] = r.rate
            new.append(r)
        elif known != r.rate:
            raise InvalidInput(r.where or "rate", f"{r.base}->{r.quote} on {r.on} is {known}, not {r.rate}: "
                                                  "a stored rate never changes")
    now = utcnow()
    for start in range(0, len(new), _CHUNK):
        session.execute(ExchangeRate.__table__.insert(), [   # Core: no ORM bookkeeping per row
            {"base": r.base, "quote": r.quote, "effective_on": r.on, "rate": r.rate, "source": r.source,
             "loaded_at": now} for r in new[start:start + _CHUNK]])
    session.flush()
    return Recorded(len(new), len(rates) - len(new), min(days), max(days))


def rate(session: Session, from_: str, to: str, on: date, field_name: str = "currency") -> Rate:
    """The rate from `from_` to `to` effective on `on`: the latest on or before it, stored,
    inverted or across a common base, the freshest of those; NoRate (naming `field_name`)
    when the table connects the two currencies on no day up to `on`."""
    for code in (from_, to):
        try:
            currency(code)
        except CurrencyError as exc:
            raise InvalidInput(field_name, str(exc)) from None
    if from_ == to:
        return Rate(from_, to, ONE, on, "identity", on)
    found = []                                   # (effective day, preference, rate)
    if row := _latest(session, from_, to, on):
        found.append((row.effective_on, 2, Rate(from_, to, row.rate, row.effective_on, row.source, on)))
    if row := _latest(session, to, from_, on):
        found.append((row.effective_on, 1, Rate(from_, to, quotient(ONE, row.rate), row.effective_on,
                                                f"{row.source}, inverted", on)))
    for base in sorted(_bases(session, from_) & _bases(session, to)):
        leg_from, leg_to = _latest(session, base, from_, on), _latest(session, base, to, on)
        if leg_from and leg_to:
            sources = "/".join(sorted({leg_from.source, leg_to.source}))
            day = min(leg_from.effective_on, leg_to.effective_on)
            found.append((day, 0, Rate(from_, to, quotient(leg_to.rate, leg_from.rate), day,
                                       f"{sources} via {base}", on)))
    if not found:
        raise NoRate(field_name, f"no exchange rate from {from_} to {to} on or before {on} "
                                 "(import one: cpq rates import, or POST /api/v1/exchange-rates/import)")
    return max(found, key=lambda f: f[:2])[2]


def _latest(session: Session, base: str, quote: str, on: date) -> ExchangeRate | None:
    return session.exec(select(ExchangeRate).where(
        ExchangeRate.base == base, ExchangeRate.quote == quote, ExchangeRate.effective_on <= on)
        .order_by(ExchangeRate.effective_on.desc()).limit(1)).first()


def _bases(session: Session, quote: str) -> set[str]:
    """The bases `quote` has rates against, one index seek each (a DISTINCT would read every
    day of the pair: 6,600 rows for the ECB's USD)."""
    found, after = set(), ""
    while (base := session.exec(select(sa.func.min(ExchangeRate.base)).where(
            ExchangeRate.quote == quote, ExchangeRate.base > after)).one()) is not None:
        found.add(base)
        after = base
    return found


def rates_on(session: Session, on: date) -> list[ExchangeRate]:
    """The table as it stood on `on`: each stored pair's latest rate on or before it."""
    latest = (select(ExchangeRate.base, ExchangeRate.quote, sa.func.max(ExchangeRate.effective_on).label("day"))
              .where(ExchangeRate.effective_on <= on)
              .group_by(ExchangeRate.base, ExchangeRate.quote).subquery())
    return list(session.exec(select(ExchangeRate).join(latest, sa.and_(
        ExchangeRate.base == latest.c.base, ExchangeRate.quote == latest.c.quote,
        ExchangeRate.effective_on == latest.c.day)).order_by(ExchangeRate.base, ExchangeRate.quote)))


@dataclass
class Converter:
    """Converts amounts into `to`, each at the rate of the day it is asked for, and keeps
    the rates it used (for a report to print); looks each (currency, day) up once."""
    session: Session
    to: str
    field_name: str = "currency"
    used: dict[tuple[str, date], Rate] = field(default_factory=dict)

    def rate(self, from_: str, on: date) -> Rate:
        found = self.used.get((from_, on))
        if found is None:
            found = self.used[from_, on] = rate(self.session, from_, self.to, on, self.field_name)
        return found

    def exact(self, amount: Decimal, from_: str, on: date) -> Decimal:
        """`amount` in `from_` as `to` at the rate of `on`, unrounded."""
        return self.rate(from_, on).convert(amount)

    def rates(self) -> list[Rate]:
        """The rates used, by currency and day (the identity left out)."""
        return [r for _key, r in sorted(self.used.items()) if r.base != r.quote]
