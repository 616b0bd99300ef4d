"""What is billed over a term equals what was sold, and what is recognised equals what was
billed, to the minor unit, for any dates (billing/schedule.py, billing/revenue.py).

A recurring line sells `net per period x periods` (its contract value). Its billing schedule
must bill exactly that from any start day, in whole minor units, never a negative period,
in calendar periods that cover the term; co-termed to an end date it bills what the days
are worth counted from the start's day (whole periods, then the days left), rounded once, so
co-terming to a term's own end bills the term. Its revenue schedule recognises the same
total over the same days.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.revenue import obligations, recognise
from billing.schedule import Period, plan
from catalog.pricebook import PERIOD_MONTHS
from core.dates import add_months
from core.money import Currency, currency
from sales.order_models import Contract, OrderLine

DAY = timedelta(days=1)
FIRST, LAST = date(2023, 1, 1), date(2028, 12, 31)
CODES = ("USD", "JPY", "KWD")
AWKWARD = {"USD": D("99.99"), "JPY": D("999"), "KWD": D("12.345")}   # prices that prorate to no round figure


def every_day(first: date = FIRST, last: date = LAST):
    day = first
    while day <= last:
        yield day
        day += DAY


def assert_covers(periods: list[Period], start: date, last: date, amount: D, cur: Currency) -> None:
    """Calendar periods from `start` to `last` without gap or overlap, in minor units, none
    negative; a full period bills the price, a short first one its days' worth rounded once."""
    assert periods[0].start == start and periods[-1].end == last
    assert all(b.start == a.end + DAY for a, b in zip(periods, periods[1:]))
    assert all(p.start.day == 1 for p in periods[1:])
    if start.day != 1:
        assert (periods[0].end + DAY).day == 1 or periods[0].end == last   # a short first period ends with its month
    for p in periods:
        assert p.amount >= 0 and cur.is_exact(p.amount), p
        assert p.days == (p.end - p.start).days + 1 <= p.full_days
        if p.days == p.full_days:
            assert p.amount == amount, p
    first, final = periods[0], periods[-1]
    if len(periods) > 1 and first.days < first.full_days and final.days < final.full_days:
        # its days' worth, but never more than the two short periods together (co-terming)
        together = sum((p.amount for p in periods), D(0)) - amount * (len(periods) - 2)
        assert first.amount == min(cur.round(amount * first.days / first.full_days), together)


def worth(start: date, last: date, charge: str, amount: D, cur: Currency) -> D:
    """What the days from `start` to `last` are worth, counted from the start's day: whole
    periods, then the days left over the days of the period they begin, rounded once."""
    months, whole = PERIOD_MONTHS[charge], 0
    while add_months(start, (whole + 1) * months) - DAY <= last:
        whole += 1
    begin, following = add_months(start, whole * months), add_months(start, (whole + 1) * months)
    left = max((last - begin).days + 1, 0)
    return cur.round_exact(Fraction(amount) * (whole + Fraction(left, (following - begin).days)))


def assert_bills_the_contract_value(start: date, charge: str, term: int, amount: D, cur: Currency) -> None:
    periods = plan(start, charge, amount, cur, term_months=term)
    assert sum(p.amount for p in periods) == amount * (term // PERIOD_MONTHS[charge])
    assert_covers(periods, start, add_months(start, term) - DAY, amount, cur)
    assert len(periods) == term // PERIOD_MONTHS[charge] + (start.day != 1)


# ---- a term bills its contract value ----------------------------------------------------------

@pytest.mark.parametrize("start, charge, term, amount, periods", [
    (date(2026, 1, 15), "monthly", 3, "100.00", ["54.84", "100.00", "100.00", "45.16"]),       # was 301.51
    (date(2024, 2, 15), "monthly", 12, "100.00", ["51.72"] + ["100.00"] * 11 + ["48.28"]),     # was 1,201.72
    (date(2023, 2, 28), "monthly", 12, "100.00", ["3.57"] + ["100.00"] * 11 + ["96.43"]),      # was 1,196.67
    (date(2024, 3, 15), "annual", 12, "365.00", ["16.95", "348.05"]),                          # was 364.95
])
def test_a_term_from_mid_month_bills_its_periods_exactly(start, charge, term, amount, periods):
    """The short first period is prorated over the full period it ends (15-29 February 2024:
    15/29; 15-31 March 2024: 17/366, as April 2023 to March 2024 has a 29 February) and the
    last period takes the rest, where proration by its own days billed 14/30, 14/28, 27/29 or
    348/365 and the term did not add up."""
    got = plan(start, charge, D(amount), currency("USD"), term_months=term)
    assert [str(p.amount) for p in got] == periods
    assert sum(p.amount for p in got) == D(amount) * (term // PERIOD_MONTHS[charge])


def test_every_start_day_and_frequency_bills_the_contract_value_in_every_currency():
    """Every day of 2023-2028 (four Februaries of 28 days, two of 29), one and two periods,
    a year and three years, in currencies of 0, 2 and 3 decimals."""
    for start in every_day():
        for charge, months in PERIOD_MONTHS.items():
            for term in sorted({months, 2 * months, max(12, months), 36}):
                for code in CODES:
                    assert_bills_the_contract_value(start, charge, term, AWKWARD[code], currency(code))


@settings(max_examples=300)
@given(st.dates(FIRST, LAST), st.sampled_from(sorted(PERIOD_MONTHS)), st.integers(1, 20), st.sampled_from(CODES),
       st.integers(0, 10**10))
def test_any_term_bills_its_contract_value(start, charge, periods, code, units):
    """Any price, down to nothing or one minor unit (the short first period then rounds to
    0 or to the whole price, and the last must not go negative)."""
    cur = currency(code)
    assert_bills_the_contract_value(start, charge, periods * PERIOD_MONTHS[charge], cur.quantum * units, cur)


def test_the_smallest_terms_never_bill_a_negative_period():
    """A month from 31 January is 1 day then 27; a quarter from 2 March is 30 of 90 days
    then 60; one cent from the 16th rounds its first half-month up to the whole cent."""
    cur = currency("USD")
    assert [p.amount for p in plan(date(2026, 1, 31), "monthly", D("10.00"), cur, term_months=1)] == [D("0.32"), D("9.68")]
    assert [p.amount for p in plan(date(2026, 3, 2), "quarterly", D("0.01"), cur, term_months=3)] == [D("0"), D("0.01")]
    assert [p.amount for p in plan(date(2026, 4, 16), "monthly", D("0.01"), cur, term_months=1)] == [D("0.01"), D("0")]


@pytest.mark.parametrize("kwargs, error", [
    ({}, TypeError), ({"term_months": 12, "end": date(2027, 1, 1)}, TypeError),
    ({"term_months": 0}, ValueError), ({"term_months": 4}, ValueError),            # not whole quarters
    ({"end": date(2026, 1, 14)}, ValueError),
])
def test_a_plan_takes_a_term_in_whole_periods_or_an_end_after_its_start(kwargs, error):
    with pytest.raises(error):
        plan(date(2026, 1, 15), "quarterly", D("100.00"), currency("USD"), **kwargs)
    with pytest.raises(ValueError, match="minor units"):
        plan(date(2026, 1, 15), "monthly", D("100.001"), currency("USD"), term_months=12)


# ---- co-terming to an end date ----------------------------------------------------------------

def test_co_terming_prorates_both_ends_and_rounds_once():
    cur = currency("USD")
    annual = plan(date(2025, 3, 15), "annual", D("365.00"), cur, end=date(2025, 12, 31))
    assert [(p.start, p.end, p.amount, p.days, p.full_days) for p in annual] == [
        (date(2025, 3, 15), date(2025, 3, 31), D("17.00"), 17, 365),
        (date(2025, 4, 1), date(2025, 12, 31), D("275.00"), 275, 365)]
    # 10.00 a month from 31 January to 1 February: 2 of the 28 days from 31 January to 27
    # February, 0.71, of which the first day 1/31 = 0.32
    assert [p.amount for p in plan(date(2026, 1, 31), "monthly", D("10.00"), cur, end=date(2026, 2, 1))] == [
        D("0.32"), D("0.39")]
    # from 15 January to the end of a 3-month term: the term's 300.00, not 17/31 + 2 + 14/30
    assert sum(p.amount for p in plan(date(2026, 1, 15), "monthly", D("100.00"), cur,
                                      end=date(2026, 4, 14))) == D("300.00")


@settings(max_examples=300)
@given(st.dates(FIRST, LAST), st.integers(0, 2000), st.sampled_from(sorted(PERIOD_MONTHS)), st.sampled_from(CODES),
       st.integers(0, 10**10))
def test_co_terming_bills_the_days_worth_rounded_once(start, days, charge, code, units):
    cur = currency(code)
    amount, end = cur.quantum * units, start + days * DAY
    periods = plan(start, charge, amount, cur, end=end)
    assert_covers(periods, start, end, amount, cur)
    assert sum(p.amount for p in periods) == worth(start, end, charge, amount, cur)


def test_co_terming_never_bills_a_negative_period():
    """Monthly 0.07 from 25 August 2023 to 1 March 2026 is worth 30 months and 5 of 28 days
    (2.11), less than 7/31 of August (0.02) and the 30 calendar months (2.10): the first
    short period bills what is left after the full ones, and the last day nothing (not -0.01)."""
    periods = plan(date(2023, 8, 25), "monthly", D("0.07"), currency("USD"), end=date(2026, 3, 1))
    assert (periods[0].amount, periods[-1].amount) == (D("0.01"), D("0.00"))
    assert sum(p.amount for p in periods) == D("2.11")


def test_co_terming_every_start_day_to_its_year_end():
    for start in every_day():
        for charge in PERIOD_MONTHS:
            for code in CODES:
                cur = currency(code)
                periods = plan(start, charge, AWKWARD[code], cur, end=date(start.year, 12, 31))
                assert_covers(periods, start, date(start.year, 12, 31), AWKWARD[code], cur)


@given(st.dates(FIRST, LAST), st.sampled_from(sorted(PERIOD_MONTHS)), st.integers(1, 20))
def test_a_term_and_its_end_date_bill_alike(start, charge, periods):
    term = periods * PERIOD_MONTHS[charge]
    cur = currency("USD")
    assert plan(start, charge, D("99.99"), cur, term_months=term) == plan(
        start, charge, D("99.99"), cur, end=add_months(start, term) - DAY)


# ---- what is recognised is what was billed ----------------------------------------------------

@settings(max_examples=300)
@given(st.dates(FIRST, LAST), st.sampled_from(sorted(PERIOD_MONTHS)), st.integers(1, 20), st.sampled_from(CODES),
       st.integers(0, 10**10))
def test_billed_equals_sold_equals_recognised(start, charge, periods, code, units):
    """One recurring line carrying the whole transaction price: its billing periods, its
    contract value and its revenue schedule add up to the same amount, over the same days."""
    cur = currency(code)
    term, net = periods * PERIOD_MONTHS[charge], cur.quantum * units
    line = OrderLine(order_id=0, key="1", position=1, product="SUP", name="Support", quantity=D(1), charge=charge,
                     term_months=term, list_total=net, net_total=net, contract_value=net * periods)
    deal = Contract(number="C-1", account_id=0, currency=code, start_date=start, term_months=term, end_date=start,
                    contract_value=line.contract_value)
    billed = plan(start, charge, net, cur, term_months=term)
    (obligation,) = obligations(deal, [line])
    recognised = recognise(obligation, cur)
    assert sum(p.amount for p in billed) == line.contract_value == sum(amount for _, amount in recognised)
    assert (billed[0].start, billed[-1].end) == (obligation.start, obligation.end)
