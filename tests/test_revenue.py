"""Revenue recognition (billing/revenue.py): allocation by standalone selling price, point in
time and ratable schedules, and the recognised / deferred report.

The allocation, schedule and report arithmetic are pure and tested as properties on random
contracts in USD, JPY and KWD; the database tests check the stored schedule and the report's
scopes on both databases.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from billing.models import RevenueLine
from billing.revenue import (POINT_IN_TIME, RATABLY, Obligation, PeriodRow, obligations, recognise, report,
                             schedule, summarise, transaction_price)
from catalog.pricebook import PERIOD_MONTHS
from core.dates import add_months
from core.errors import InvalidInput
from core.money import currency
from core.users import User
from sales.accounts import Account
from sales.models import Quote
from sales.order_models import Contract, Order, OrderLine

SETTINGS = settings(max_examples=150)


def line(key, charge, list_total, net_total, term=None, delivered=None, product="RS7") -> OrderLine:
    """An order line as ordering writes it: totals per period, contract value over the term."""
    periods = 1 if charge == "one_time" else term // PERIOD_MONTHS[charge]
    return OrderLine(order_id=0, key=key, position=int(key), product=product, name=product, quantity=D(1),
                     charge=charge, term_months=term, list_total=D(list_total), net_total=D(net_total),
                     contract_value=D(net_total) * periods, delivered_on=delivered)


def contract(code="USD", start=date(2026, 1, 1), term=36, **fields) -> Contract:
    return Contract(number="C-1", account_id=0, currency=code, start_date=start, term_months=term,
                    end_date=start, contract_value=D(0), **fields)


# ---- allocation ------------------------------------------------------------------------------

def test_a_discount_is_shared_by_relative_standalone_selling_price():
    """30 % off the hardware only: the support, sold at list, carries part of that discount."""
    lines = [line("1", "one_time", "10000", "7000"), line("2", "annual", "1800", "1800", term=36)]
    obs = obligations(contract(), lines)
    assert [ob.ssp for ob in obs] == [D(10000), D(5400)]
    assert [ob.price for ob in obs] == [D("8051.95"), D("4348.05")]     # 12400 x 10000/15400, x 5400/15400
    assert sum(ob.price for ob in obs) == transaction_price(lines) == D(12400)


def test_a_line_given_away_still_earns_revenue():
    lines = [line("1", "one_time", "1000", "1000"), line("2", "one_time", "1000", "0", product="TRAINING-DAY")]
    assert [ob.price for ob in obligations(contract(), lines)] == [D(500), D(500)]


def test_free_lines_with_no_list_price_share_nothing():
    lines = [line("1", "one_time", "0", "0"), line("2", "monthly", "0", "0", term=12)]
    assert [ob.price for ob in obligations(contract(), lines)] == [0, 0]
    with pytest.raises(InvalidInput) as raised:
        obligations(contract(), [line("1", "one_time", "0", "5")])
    assert raised.value.field == "contract"


CHARGE_TERMS = {"one_time": st.none(), "monthly": st.integers(1, 60),
                "quarterly": st.integers(1, 20).map(lambda n: 3 * n), "annual": st.integers(1, 5).map(lambda n: 12 * n)}


@st.composite
def contracts(draw):
    """A contract in USD, JPY or KWD and its lines: list prices in minor units, discounts of 0
    to 100 %, terms in whole periods, goods delivered or not."""
    code = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    cur = currency(code)
    start = draw(st.dates(date(2025, 1, 1), date(2027, 12, 31)))
    term = draw(st.integers(1, 60))
    lines = []
    for key in range(1, draw(st.integers(1, 8)) + 1):
        charge = draw(st.sampled_from(sorted(CHARGE_TERMS)))
        list_total = cur.quantum * draw(st.integers(0, 10**8))
        discount = D(draw(st.integers(0, 100)))
        net = cur.round(list_total * (100 - discount) / 100)
        delivered = draw(st.none() | st.dates(start - timedelta(days=60), start + timedelta(days=400)))
        lines.append(line(str(key), charge, list_total, net, term=draw(CHARGE_TERMS[charge]), delivered=delivered))
    if not any(ln.list_total for ln in lines):
        lines[0].list_total = cur.quantum
    return contract(code, start, term), lines


@SETTINGS
@given(contracts())
def test_allocation_is_exact_and_within_a_minor_unit_of_proportional(case):
    deal, lines = case
    quantum = currency(deal.currency).quantum
    obs = obligations(deal, lines)
    price, ssp_total = transaction_price(lines), sum(ob.ssp for ob in obs)
    assert sum(ob.price for ob in obs) == price
    for ob in obs:
        assert ob.price >= 0 and ob.price % quantum == 0
        assert abs(ob.price - price * ob.ssp / ssp_total) < quantum


# ---- schedules -------------------------------------------------------------------------------

@SETTINGS
@given(contracts())
def test_each_schedule_sums_exactly_and_stays_within_its_service(case):
    deal, lines = case
    quantum = currency(deal.currency).quantum
    for ob, ln in zip(obligations(deal, lines), lines):
        parts = recognise(ob, currency(deal.currency))
        if ln.charge == "one_time":
            assert ob.basis == POINT_IN_TIME
            expected = [] if ln.delivered_on is None or not ob.price else [(ln.delivered_on.strftime("%Y-%m"), ob.price)]
            assert parts == expected                      # goods before delivery stay deferred
            continue
        assert ob.basis == RATABLY and ob.start == deal.start_date
        assert sum(amount for _, amount in parts) == ob.price
        assert all(a % quantum == 0 and a > 0 for _, a in parts)
        periods = [p for p, _ in parts]
        assert periods == sorted(set(periods))
        assert not periods or (deal.start_date.strftime("%Y-%m") <= periods[0] and periods[-1] <= ob.end.strftime("%Y-%m"))


def test_a_multi_year_term_is_split_by_days_exactly():
    """36 months from 15 January 2026: 1096 days (2028 is a leap year) over 37 calendar months."""
    deal = contract(start=date(2026, 1, 15), term=36)
    (ob,) = obligations(deal, [line("1", "annual", "2000", "1800", term=36)])
    assert (ob.price, ob.end) == (D(5400), date(2029, 1, 14))
    parts = dict(recognise(ob, currency("USD")))
    assert len(parts) == 37 and sum(parts.values()) == D(5400)
    assert parts["2026-01"] == D("83.76")                 # 17 days: 5400 x 17/1096 = 83.759
    assert parts["2029-01"] == D("68.98")                 # 14 days: 68.978
    # by the end of February 2028 777 days have passed (3823.358), by January's end 748 (3680.474):
    # February recognises 3823.36 - 3680.47 = 142.89 (its own 29 days, rounded alone: 142.88)
    assert parts["2028-02"] == D("142.89")
    for year, days in (("2026", 351), ("2027", 365), ("2028", 366), ("2029", 14)):
        months = {k: v for k, v in parts.items() if k.startswith(year)}
        assert abs(sum(months.values()) - D(5400) * days / 1096) < D("0.01") * len(months)


@SETTINGS
@given(st.sampled_from(["USD", "JPY", "KWD"]), st.dates(date(2023, 1, 1), date(2028, 12, 31)), st.integers(1, 60),
       st.integers(0, 10**10))
def test_recognised_by_each_month_end_is_the_ratable_share_rounded_once(code, start, term, units):
    """Whatever the start, term and price, the cumulative recognised at every month end (and
    so the deferred balance) is price x days elapsed / days of the term, rounded once."""
    cur = currency(code)
    price, end = cur.quantum * units, add_months(start, term) - timedelta(days=1)
    parts = dict(recognise(Obligation("1", RATABLY, price, price, start, end), cur))
    assert sum(parts.values()) == price and all(a > 0 and cur.is_exact(a) for a in parts.values())
    cumulative, first = D(0), start.replace(day=1)
    for month in range(term + 1):
        month_end = min(add_months(first, month + 1) - timedelta(days=1), end)
        cumulative += parts.pop(month_end.strftime("%Y-%m"), D(0))
        elapsed = (month_end - start).days + 1
        assert cumulative == cur.round(price * elapsed / ((end - start).days + 1)), month_end
    assert parts == {}                                     # no month outside the term


def test_the_deferred_balance_is_the_ratable_balance_rounded_once():
    """1,200.00 from 15 March 2026: at 31 October 231 of 365 days have passed, so 440.548 is
    deferred, 440.55; sharing each month's days out separately left 440.54."""
    deal = contract(start=date(2026, 3, 15), term=12)
    (ob,) = obligations(deal, [line("1", "monthly", "100", "100", term=12)])
    revenue = [RevenueLine(contract_id=0, obligation="1", period=period, amount=amount, currency="USD", basis=RATABLY)
               for period, amount in recognise(ob, currency("USD"))]
    rows = {row.period: row for row in summarise([(deal, D(1200))], revenue, "2027-03")}
    assert (rows["2026-10"].cumulative, rows["2026-10"].deferred) == (D("759.45"), D("440.55"))
    assert (rows["2027-03"].cumulative, rows["2027-03"].deferred) == (D(1200), D(0))


def test_a_line_term_shorter_than_the_contract_ends_early():
    deal = contract(start=date(2026, 3, 1), term=36)
    (ob,) = obligations(deal, [line("1", "monthly", "49", "49", term=12)])
    periods = [p for p, _ in recognise(ob, currency("USD"))]
    assert periods[0] == "2026-03" and periods[-1] == "2027-02" and len(periods) == 12


# ---- the report ------------------------------------------------------------------------------

@SETTINGS
@given(contracts(), st.integers(0, 80))
def test_recognised_plus_deferred_is_the_price_every_month(case, months_on):
    deal, lines = case
    obs = obligations(deal, lines)
    revenue = [RevenueLine(contract_id=0, obligation=ob.key, period=p, amount=a, currency=deal.currency, basis=ob.basis)
               for ob in obs for p, a in recognise(ob, currency(deal.currency))]
    price = transaction_price(lines)
    unscheduled = sum(ob.price for ob in obs if ob.start is None)
    last = max([r.period for r in revenue] + [deal.start_date.strftime("%Y-%m")])
    rows = summarise([(deal, price)], revenue, last)
    assert rows[0].period == min([r.period for r in revenue] + [deal.start_date.strftime("%Y-%m")])
    assert rows[-1].period == last
    for row in rows:
        assert row.cumulative + row.deferred == price
        assert row.cumulative == sum(r.amount for r in revenue if r.period <= row.period)
        assert row.deferred >= 0
    assert rows[-1].cumulative + unscheduled == price      # everything scheduled has been recognised
    assert rows[-1].deferred == unscheduled
    # reporting through an earlier month only cuts the rows short
    through = rows[min(months_on, len(rows) - 1)].period
    assert summarise([(deal, price)], revenue, through) == [r for r in rows if r.period <= through]


# ---- the database ----------------------------------------------------------------------------

_numbers = count(1)


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        owner = User(email="rep@example.com", name="Rita Rep", role="rep")
        session.add(owner)
        session.flush()
        session.info["owner"] = owner.id
        yield session


def account(session, code="ACME", currency_code="USD") -> Account:
    acct = Account(code=code, name=code.title(), currency=currency_code)
    session.add(acct)
    session.flush()
    return acct


def stored_contract(session, acct, lines, start=date(2026, 1, 1), term=36, order_state="open") -> Contract:
    """A contract, its quote and its order with `lines`, as ordering stores them."""
    n = next(_numbers)
    quote = Quote(number=f"Q-{n}", account_id=acct.id, owner_id=session.info["owner"], currency=acct.currency,
                  price_book="list", rule_set="standard", payment_terms="net30", expires_on=start)
    session.add(quote)
    session.flush()
    price = transaction_price(lines)
    deal = Contract(number=f"C-{n}", quote_id=quote.id, account_id=acct.id, currency=acct.currency, start_date=start,
                    end_date=start, term_months=term, contract_value=price)
    session.add(deal)
    session.flush()
    order = Order(number=f"SO-{n}", quote_id=quote.id, contract_id=deal.id, account_id=acct.id, state=order_state,
                  currency=acct.currency, one_time_total=D(0), contract_value=price)
    session.add(order)
    session.flush()
    for ln in lines:
        ln.order_id = order.id
        session.add(ln)
    session.flush()
    return deal


def stored(session, deal) -> list[tuple[str, str, D, str]]:
    rows = session.exec(select(RevenueLine).where(RevenueLine.contract_id == deal.id)
                        .order_by(RevenueLine.period, RevenueLine.id))
    return [(r.obligation, r.period, r.amount, r.basis) for r in rows]


@pytest.mark.postgres
def test_schedule_is_stored_rebuilt_idempotently_and_goods_wait_for_delivery(session):
    acct = account(session)
    server = line("1", "one_time", "10000", "7000")
    deal = stored_contract(session, acct, [server, line("2", "annual", "1800", "1800", term=36)], start=date(2026, 1, 1))
    first = schedule(session, deal)
    assert {r.obligation for r in first} == {"2"}          # the server is not delivered yet
    assert len(first) == 36 and sum(r.amount for r in first) == D("4348.05")
    as_tuples = [(r.obligation, r.period, r.amount, r.basis) for r in first]
    assert stored(session, deal) == as_tuples
    again = schedule(session, deal)                        # rebuilt: the same rows, not twice as many
    assert [(r.obligation, r.period, r.amount, r.basis) for r in again] == as_tuples == stored(session, deal)
    rows = report(session, deal, "2026-12")
    assert rows[0] == PeriodRow("USD", "2026-01", D("122.98"), D("122.98"), D("12277.02"))   # 4348.05 x 31/1096
    assert rows[-1].deferred == D(12400) - rows[-1].cumulative

    server.delivered_on = date(2026, 3, 20)
    session.add(server)
    schedule(session, deal)
    assert ("1", "2026-03", D("8051.95"), POINT_IN_TIME) in stored(session, deal)
    assert len(stored(session, deal)) == 37
    support = {period: amount for key, period, amount, _ in stored(session, deal) if key == "2"}
    assert report(session, deal, "2026-03")[-1].recognised == D("8051.95") + support["2026-03"]
    final = report(session, deal, "2029-01")[-1]
    assert (final.cumulative, final.deferred) == (D(12400), D(0))


@pytest.mark.postgres
def test_report_by_account_and_for_everyone_keeps_currencies_apart(session):
    acme, yen = account(session), account(session, "KOBE", "JPY")
    a = stored_contract(session, acme, [line("1", "monthly", "100", "100", term=12)], start=date(2026, 1, 1))
    b = stored_contract(session, acme, [line("1", "one_time", "500", "400", delivered=date(2026, 2, 3))],
                        start=date(2026, 2, 1), term=12)
    c = stored_contract(session, yen, [line("1", "one_time", "90000", "90000", delivered=date(2025, 12, 24))],
                        start=date(2026, 1, 1), term=12)
    cancelled = stored_contract(session, acme, [line("1", "one_time", "999", "999", delivered=date(2026, 1, 5))],
                                order_state="cancelled")
    for deal in (a, b, c, cancelled):
        schedule(session, deal)
    assert stored(session, cancelled) == []

    by_account = report(session, acme, "2026-02")
    assert [(r.period, r.recognised, r.cumulative, r.deferred) for r in by_account] == [
        ("2026-01", D("101.92"), D("101.92"), D("1498.08")),          # 1200 x 31/365; 1200 + 400 - 101.92
        ("2026-02", D("92.05") + D(400), D("593.97"), D("1006.03"))]
    everyone = report(session, None, "2026-01")
    assert [(r.currency, r.period) for r in everyone] == [("JPY", "2025-12"), ("JPY", "2026-01"), ("USD", "2026-01")]
    assert everyone[0] == PeriodRow("JPY", "2025-12", D(90000), D(90000), D(0))
    assert report(session, c, "2025-11") == []


@pytest.mark.postgres
def test_report_wants_a_month(session):
    for bad in ("2026-13", "2026-1", "26-01", None):
        with pytest.raises(InvalidInput) as raised:
            report(session, None, bad)
        assert raised.value.field == "through"
