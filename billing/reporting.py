"""Reports in a reporting currency: aging, DSO, the revenue report, a ledger balance and the
dashboard's sales figures, each amount converted with the rate printed beside it.

The reports themselves stay per currency (billing/collections.py, billing/revenue.py,
sales/analytics.py); this converts what they found. Which day's rate converts what, as each
converted report says in its `basis`:
- aging, DSO, a ledger balance and the dashboard's sales figures: every amount at the rate
  effective on the report date. They are balances and totals as of that day (the closing
  rate, as IAS 21 translates balances), and a past report can be recomputed exactly.
- the revenue report: each month's figures (recognised, cumulative, deferred) at the rate
  effective on the month's last day, the latest on or before it; a month therefore reads
  the same whichever months are shown with it, and cumulative is that month's cumulative
  at that month's rate, not a sum of months converted at their own rates.

Each reported figure is rounded once, to the reporting currency's minor units, from the
exact sum of its converted amounts. The parts shown beside a figure (an account's row under
the aging total, a currency's share of the receivables) are split from it with
`round_to_total`, so they add up to it exactly and each is within one minor unit of its
exact conversion.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Sequence

from sqlmodel import Session

from billing.collections import BUCKETS, AgedBalance, Aging, Dso, dso_days
from billing.revenue import PeriodRow
from core.fxrates import Converter, Rate
from core.money import ZERO, Currency, currency, round_to_total
from sales.analytics import WON, SalesFigures

AT_REPORT_DATE = "every amount at the rate effective on the report date, {day}"
AT_MONTH_END = "each month's amounts at the rate effective on the month's last day"


@dataclass(frozen=True)
class Conversion:
    """Amounts in one currency (`original`) and the same in the reporting currency (`converted`)."""
    rate: Rate
    original: dict[str, Decimal]
    converted: dict[str, Decimal]

    @property
    def from_currency(self) -> str:
        return self.rate.base

    @property
    def currency(self) -> str:
        return self.rate.quote


def split(exact: Sequence[Decimal], cur: Currency) -> tuple[list[Decimal], Decimal]:
    """(the parts, the figure): the figure is the exact sum rounded once; the parts are
    rounded so that they sum to it."""
    total = cur.round(sum(exact, ZERO))
    return (round_to_total(list(exact), total, cur.quantum) if exact else []), total


# ---- aging -------------------------------------------------------------------------------------

@dataclass
class ConvertedBalance(AgedBalance):
    """An account's aged balance in the reporting currency, and the rate it was converted at."""
    from_currency: str = ""
    rate: Rate | None = None


@dataclass(frozen=True)
class AgingIn:
    currency: str
    basis: str
    accounts: dict[str, ConvertedBalance]
    totals: AgedBalance                  # every account, every currency
    rates: list[Rate]


def aging_in(session: Session, report: Aging, to: str) -> AgingIn:
    """`report` in `to`: each bucket and the credit of every account, and their totals."""
    convert, cur = Converter(session, to), currency(to)
    rates = {code: convert.rate(aged.currency, report.today) for code, aged in report.accounts.items()}
    accounts = {code: ConvertedBalance(to, from_currency=aged.currency, rate=rates[code])
                for code, aged in report.accounts.items()}
    totals = AgedBalance(to)
    for name in (*BUCKETS, "credit"):
        parts, total = split([rates[code].convert(_amount(aged, name)) for code, aged in report.accounts.items()], cur)
        for converted, part in zip(accounts.values(), parts):
            _set(converted, name, part)
        _set(totals, name, total)
    return AgingIn(to, AT_REPORT_DATE.format(day=report.today), accounts, totals, convert.rates())


def _amount(aged: AgedBalance, name: str) -> Decimal:
    return aged.credit if name == "credit" else aged.buckets[name]


def _set(aged: AgedBalance, name: str, value: Decimal) -> None:
    if name == "credit":
        aged.credit = value
    else:
        aged.buckets[name] = value


# ---- days sales outstanding ------------------------------------------------------------------

@dataclass(frozen=True)
class DsoIn(Dso):
    """DSO over every currency: receivables and credit sales converted, then divided."""
    basis: str
    conversions: list[Conversion]


def dso_in(session: Session, figures: dict[str, Dso], today: date, days: int, to: str) -> DsoIn:
    convert, cur = Converter(session, to), currency(to)
    rates = [convert.rate(code, today) for code in figures]
    receivables, receivable = split([r.convert(f.receivables) for r, f in zip(rates, figures.values())], cur)
    sales, sold = split([r.convert(f.credit_sales) for r, f in zip(rates, figures.values())], cur)
    conversions = [Conversion(r, {"receivables": f.receivables, "credit_sales": f.credit_sales},
                              {"receivables": rec, "credit_sales": sale})
                   for r, f, rec, sale in zip(rates, figures.values(), receivables, sales)]
    return DsoIn(to, receivable, sold, days, dso_days(receivable, sold, days),
                 AT_REPORT_DATE.format(day=today), conversions)


# ---- revenue -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeriodRowIn(PeriodRow):
    """A month of every currency's revenue in the reporting currency."""
    basis: str
    conversions: list[Conversion]


FIGURES = ("recognised", "cumulative", "deferred")


def revenue_in(session: Session, rows: Sequence[PeriodRow], to: str) -> list[PeriodRowIn]:
    """One row per month of `rows`, every currency's figures at the month-end rate."""
    convert, cur = Converter(session, to), currency(to)
    months: dict[str, list[PeriodRow]] = {}
    for row in rows:
        months.setdefault(row.period, []).append(row)
    out = []
    for period in sorted(months):
        items = months[period]
        rates = [convert.rate(row.currency, month_end(period)) for row in items]
        converted = {name: split([r.convert(getattr(row, name)) for r, row in zip(rates, items)], cur)
                     for name in FIGURES}
        conversions = [Conversion(r, {name: getattr(row, name) for name in FIGURES},
                                  {name: converted[name][0][i] for name in FIGURES})
                       for i, (r, row) in enumerate(zip(rates, items))]
        out.append(PeriodRowIn(to, period, *(converted[name][1] for name in FIGURES), AT_MONTH_END, conversions))
    return out


def month_end(period: str) -> date:
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, calendar.monthrange(year, month)[1])


# ---- a ledger balance ----------------------------------------------------------------------

@dataclass(frozen=True)
class BalanceIn:
    currency: str
    balance: Decimal
    basis: str
    rate: Rate


def balance_in(session: Session, balance: Decimal, from_: str, today: date, to: str) -> BalanceIn:
    rate = Converter(session, to).rate(from_, today)
    return BalanceIn(to, currency(to).round(rate.convert(balance)), AT_REPORT_DATE.format(day=today), rate)


# ---- the dashboard's sales figures -----------------------------------------------------------

@dataclass(frozen=True)
class SalesIn:
    currency: str
    basis: str
    deal_size: Decimal | None                       # mean contract value of won quotes
    discount_by_rep: dict[str, Decimal]
    pipeline: dict[str, Decimal]                    # contract value by state
    rates: list[Rate] = field(default_factory=list)


def sales_in(session: Session, figures: SalesFigures, today: date, to: str) -> SalesIn:
    convert, cur = Converter(session, to), currency(to)

    def exact(values: dict[str, Decimal]) -> Decimal:
        return sum((convert.exact(value, code, today) for code, value in values.items()), ZERO)

    won = [figures.pipeline[state] for state in WON if state in figures.pipeline]
    count = sum(n for n, _values in won)
    deal_size = cur.round(sum((exact(values) for _n, values in won), ZERO) / count) if count else None
    return SalesIn(to, AT_REPORT_DATE.format(day=today), deal_size,
                   {rep: cur.round(exact(by)) for rep, by in figures.discount_by_rep.items()},
                   {state: cur.round(exact(values)) for state, (_n, values) in figures.pipeline.items()},
                   convert.rates())
