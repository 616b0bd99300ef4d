"""Amendments billed by the day (billing/amendments.py, billing/schedule.py plan_versions,
sales/subscriptions.py): for any sequence of changes to a contract's subscriptions, what is
invoiced less what is credited equals the exact sum over the versions of each one's price
for the days it was in force, rounded once, in USD, JPY and KWD.

The rule that makes it exact: each day is worth its calendar period's share of a period
(1 for a full period; a short first one its days over the days of the full period it ends;
the short last one the rest of the term's worth) over the period's days, at the price of the
version in force that day. Every period bills the exact cumulative worth through its last
day, rounded once, less the same through the day before it; an amendment puts right what
billed periods billed (charge or credit note) against that. Rounding never accumulates.

The oracle below works the worth out day by day from the documented rule, independently of
billing/schedule.py, and compares it with the invoice and credit note lines.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from billing.amendments import rebill
from billing.credit_notes import CREDITABLE
from billing.models import BillingAdjustment, Invoice, InvoiceLine
from billing.order_billing import bill_due_periods, invoice_order
from catalog.pricebook import PERIOD_MONTHS
from core.dates import add_months
from core.errors import InvalidInput
from core.money import currency
from sales import subscriptions
from sales.models import QuoteLine
from sales.order_models import OrderLine, Subscription
from subscription_flow import (ACCOUNTS, COMPANY, DAY, accepted_quote, contract_order, invoiced, issue_drafts,  # noqa: F401
                               order_of, setup)

pytestmark = pytest.mark.postgres

# ---- the oracle: each day's worth, from the documented rule ------------------------------------

def day_weights(start: date, last: date, charge: str) -> dict[date, Fraction]:
    """Each day of the term and what it is worth in periods: calendar periods (from the 1st,
    the first to the end of its month), a full one worth 1, a short first one its days over
    the full period it ends (at most the short ones' worth together), the short last the rest
    of the term's worth (whole periods from the start's day, then the days left over the days
    of the period they begin)."""
    months = PERIOD_MONTHS[charge]
    spans, begin = [], start
    while begin <= last:
        end = add_months(begin, months) - DAY if begin.day == 1 else begin.replace(
            day=calendar.monthrange(begin.year, begin.month)[1])
        spans.append((begin, min(end, last)))
        begin = spans[-1][1] + DAY

    def length(a, b):
        return (b - a).days + 1

    def full(a, b):
        return length(a, add_months(a, months) - DAY) if a.day == 1 else length(add_months(b + DAY, -months), b)

    whole = 0
    while add_months(start, (whole + 1) * months) - DAY <= last:
        whole += 1
    left_from = add_months(start, whole * months)
    worth = whole + Fraction(max(length(left_from, last), 0), length(left_from, add_months(start, (whole + 1) * months) - DAY))
    shares = [Fraction(1) if length(a, b) == full(a, b) else None for a, b in spans]
    short = [i for i, s in enumerate(shares) if s is None]
    if short:
        rest = worth - (len(spans) - len(short))
        if len(short) == 2:
            a, b = spans[0]
            shares[0] = min(Fraction(length(a, b), full(a, b)), rest)
            rest -= shares[0]
        shares[short[-1]] = rest
    weights = {}
    for (a, b), share in zip(spans, shares):
        day = a
        while day <= b:
            weights[day] = share / length(a, b)
            day += DAY
    return weights


def worth_of_versions(subscription: Subscription, versions) -> D:
    """The sum over the versions of each one's price for the days it was in force, exactly,
    rounded once."""
    weights = day_weights(subscription.start_date, subscription.end_date, subscription.charge)
    total = Fraction(0)
    for day, weight in weights.items():
        if subscription.cancelled_on is not None and day >= subscription.cancelled_on:
            continue
        in_force = max((v for v in versions if v.effective_from <= day), key=lambda v: (v.effective_from, v.version))
        total += Fraction(in_force.amount) * weight
    return currency(subscription.currency).round_exact(total)


# ---- the property ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    offset: int          # effective day, as days into the term
    lag: int             # applied this many days after it (backdated amendments)
    target: int          # which subscription (modulo how many there are); -1 adds one
    quantity: int        # the new quantity (0 removes)


@st.composite
def cases(draw):
    code = draw(st.sampled_from(sorted(ACCOUNTS)))
    cur = currency(code)
    charge = draw(st.sampled_from(sorted(PERIOD_MONTHS)))
    term = PERIOD_MONTHS[charge] * draw(st.integers(1, 24 // PERIOD_MONTHS[charge] if charge != "annual" else 2))
    start = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    unit = cur.quantum * draw(st.integers(1, 10**6))
    lines = [(charge, q, unit * q) for q in draw(st.lists(st.integers(1, 20), min_size=1, max_size=2))]
    days = (add_months(start, term) - start).days
    steps = draw(st.lists(st.builds(Step, st.integers(0, days - 1), st.integers(0, 45), st.integers(-1, 3),
                                    st.integers(0, 30)), max_size=5))
    return code, start, term, unit, lines, sorted(steps, key=lambda s: s.offset)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_what_is_invoiced_is_each_versions_price_for_its_days(setup, case):
    engine, user, accounts = setup
    code, start, term, unit, lines, steps = case
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts[code], code, start, term, lines)
        invoice_order(session, order, start)
        issue_drafts(session, start)
        subs = list(session.exec(select(Subscription).where(Subscription.contract_id == contract.id)
                                 .order_by(Subscription.id)))
        today = start
        for step in steps:
            effective = start + step.offset * DAY
            today = max(today, min(effective + step.lag * DAY, contract.end_date))
            bill_due_periods(session, today)
            issue_drafts(session, today)
            live = [s for s in subs if s.state == "active"]
            if step.target < 0 or not live:
                if step.quantity:                           # a product added, co-termed
                    quote = accepted_quote(session, user, accounts[code], code)
                    added = order_of(session, quote, contract, [(lines[0][0], step.quantity, unit * step.quantity)], term)
                    subs.extend(subscriptions.create_for_order(session, added, subscriptions_lines(session, added),
                                                               effective, contract.end_date))
                    invoice_order(session, added, today)
            else:
                subscription = live[step.target % len(live)]
                versions = subscriptions.versions_of(session, subscription)
                if effective < max(v.effective_from for v in versions):
                    with pytest.raises(InvalidInput):      # history is not rewritten
                        subscriptions.add_version(session, subscription, effective, D(step.quantity),
                                                  unit * step.quantity, {}, None, None, "change")
                    continue
                version = subscriptions.add_version(session, subscription, effective, D(step.quantity),
                                                    unit * step.quantity, {}, None, None, "change")
                rebill(session, [(subscription, version)], today, "amendment", company=COMPANY)
            issue_drafts(session, today)
        bill_due_periods(session, contract.end_date)
        issue_drafts(session, contract.end_date)
        for subscription in subs:
            assert invoiced(session, subscription) == worth_of_versions(
                subscription, subscriptions.versions_of(session, subscription)), subscription
        notes = session.exec(select(Invoice).where(Invoice.kind == "credit_note")).all()
        assert all(n.state in CREDITABLE for n in notes)
        session.rollback()


def subscriptions_lines(session, order):
    return list(session.exec(select(OrderLine).where(OrderLine.order_id == order.id)))


# ---- examples --------------------------------------------------------------------------------

def test_a_mid_month_increase_charges_its_days_and_a_decrease_credits_them(setup):
    """10 seats at 100.00 a month from 1 January; 15 seats from 10 March (22 of 31 days of
    March already billed: 5 x 10.00 x 22/31 = 35.48), then back to 12 from 20 March (12 days:
    -3 x 10.00 x 12/31 = -11.61, but as cumulative worth: March bills round(100 x 9/31 + 150
    x 10/31 + 120 x 12/31) = 123.87, of which 100.00 + 35.48 billed, so 11.61 credited)."""
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", date(2026, 1, 1), 12,
                                         [("monthly", 10, D("100.00"))])
        invoice_order(session, order, date(2026, 1, 1))
        bill_due_periods(session, date(2026, 3, 1))
        issue_drafts(session, date(2026, 3, 1))
        (subscription,) = subscriptions.of_contract(session, contract)
        up = subscriptions.add_version(session, subscription, date(2026, 3, 10), D(15), D("150.00"), {}, None, None, "up")
        done = rebill(session, [(subscription, up)], date(2026, 3, 10), "Amendment up", company=COMPANY)
        (charge,) = done.invoices
        (line,) = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == charge.id)).all()
        assert (line.net_amount, line.period_start, line.period_end, line.quantity) == (
            D("35.48"), date(2026, 3, 10), date(2026, 3, 31), D(5))
        assert line.description == "Support: quantity 10 to 15 from 2026-03-10 (22 of 31 days)"
        issue_drafts(session, date(2026, 3, 10))
        down = subscriptions.add_version(session, subscription, date(2026, 3, 20), D(12), D("120.00"), {}, None, None,
                                         "down")
        done = rebill(session, [(subscription, down)], date(2026, 3, 20), "Amendment down", company=COMPANY)
        assert done.invoices == [] and [n.net_total for n in done.credit_notes] == [D("11.61")]
        (note,) = done.credit_notes
        assert note.original_id == charge.id                 # the latest invoice of the period first
        adjustments = session.exec(select(BillingAdjustment.amount).order_by(BillingAdjustment.id)).all()
        assert adjustments == [D("35.48"), D("-11.61")]
        bill_due_periods(session, date(2026, 4, 1))
        april = session.exec(select(InvoiceLine).join(Invoice).where(Invoice.state == "draft")).one()
        assert (april.net_amount, april.period_start) == (D("120.00"), date(2026, 4, 1))
        session.rollback()


def test_a_line_credited_in_full_already_is_passed_over(setup):
    """Up from 10 to 15 seats on 10 March (35.48 charged), down to 5 on 20 March (38.71: all of
    the charge, then 3.23 of March's own line), down to 2 on 25 March (6.77: the charge has
    nothing left, so all of it from March's line; it once asked the charge's invoice for 0)."""
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", date(2026, 1, 1), 12,
                                         [("monthly", 10, D("100.00"))])
        invoice_order(session, order, date(2026, 1, 1))
        bill_due_periods(session, date(2026, 3, 1))
        issue_drafts(session, date(2026, 3, 1))
        (subscription,) = subscriptions.of_contract(session, contract)
        notes = []
        for day, quantity in ((10, 15), (20, 5), (25, 2)):
            version = subscriptions.add_version(session, subscription, date(2026, 3, day), D(quantity),
                                                D(10) * quantity, {}, None, None, "change")
            notes += rebill(session, [(subscription, version)], date(2026, 3, day), "change", company=COMPANY).credit_notes
            issue_drafts(session, date(2026, 3, day))
        assert [(n.original_id == notes[-1].original_id, n.net_total) for n in notes] == [
            (True, D("3.23")), (False, D("35.48")), (True, D("6.77"))]       # one note per invoice, in id order
        bill_due_periods(session, date(2026, 3, 31))
        march = (D(100) * 9 + D(150) * 10 + D(50) * 5 + D(20) * 7) / 31
        assert invoiced(session, subscription) == D("200.00") + currency("USD").round(march)
        session.rollback()


def test_a_cancelled_subscription_credits_the_rest_of_its_period_and_bills_no_more(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["JPY"], "JPY", date(2026, 1, 1), 12,
                                         [("annual", 1, D("120000"))])
        invoice_order(session, order, date(2026, 1, 1))
        issue_drafts(session, date(2026, 1, 1))
        (subscription,) = subscriptions.of_contract(session, contract)
        gone = subscriptions.add_version(session, subscription, date(2026, 7, 1), D(0), D(0), {}, None, None, "removed")
        assert subscription.state == "cancelled" and subscription.cancelled_on == date(2026, 7, 1)
        done = rebill(session, [(subscription, gone)], date(2026, 6, 15), "Removed", company=COMPANY)
        # 181 of the 365 days used: 120,000 x 181/365 = 59,507; 60,493 credited
        assert [n.net_total for n in done.credit_notes] == [D("60493")]
        assert invoiced(session, subscription) == D("59507")
        with pytest.raises(Exception):
            subscriptions.add_version(session, subscription, date(2026, 8, 1), D(1), D(1), {}, None, None, "again")
        session.rollback()


def test_a_line_keeps_the_contract_price_unless_repriced_or_upgraded(setup):
    """The net unit price of the latest version (44.10) times the new quantity, rounded once;
    a renewal's raised by the contract's escalation; none for a line re-priced or whose
    configuration changed (an upgrade is priced by the rules)."""
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, _order = contract_order(session, user, accounts["USD"], "USD", date(2026, 1, 1), 12,
                                          [("monthly", 10, D("441.00"))])
        contract.escalation_percent = D("3.5")
        (sub,) = subscriptions.of_contract(session, contract)
        quote = accepted_quote(session, user, accounts["USD"], "USD")
        quote.kind, quote.contract_id = "amendment", contract.id
        lines = [QuoteLine(quote_id=quote.id, key=str(k), position=k, product="SUP", quantity=q, subscription_id=sub.id,
                           selections=selections, reprice=reprice)
                 for k, (q, selections, reprice) in enumerate([(15, {}, False), (3, {}, False), (0, {}, False),
                                                               (15, {}, True), (15, {"tier": "gold"}, False)])]
        assert subscriptions.contract_prices(session, quote, lines) == {"0": D("661.50"), "1": D("132.30"), "2": D(0)}
        quote.kind = "renewal"
        assert subscriptions.contract_prices(session, quote, lines[:1]) == {"0": D("684.65")}    # 661.50 + 3.5 %
        session.rollback()
