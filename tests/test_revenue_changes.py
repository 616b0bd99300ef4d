"""Revenue of changed contracts (billing/revenue_changes.py): an amendment adding distinct
products at their standalone price is a separate contract; any other is accounted for
prospectively; credit notes lower the transaction price from their date; a termination stops
recognition on its day and never recognises more than remains billed. Each group's months
sum to its transaction price exactly, and months before a change never move."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from billing import revenue
from billing.amendments import rebill
from billing.credit_notes import credit_note
from billing.invoices import lines_of
from billing.models import Invoice, RevenueLine
from billing.order_billing import bill_due_periods, invoice_order
from core.money import currency
from sales import subscriptions
from sales.order_models import Order
from subscription_flow import (COMPANY, DAY, accepted_quote, contract_order, invoiced, issue_drafts,  # noqa: F401
                               order_of, setup)

pytestmark = pytest.mark.postgres

START = date(2026, 1, 1)
SOLD = [("monthly", 10, D("400.00"), D("500.00"))]       # 20 % off the list price


def rows(session, contract) -> dict[tuple[str, str], D]:
    return {(r.obligation, r.period): r.amount
            for r in session.exec(select(RevenueLine).where(RevenueLine.contract_id == contract.id))}


def amendment(session, user, contract, day):
    quote = accepted_quote(session, user, contract.account_id, contract.currency)
    quote.kind, quote.contract_id, quote.effective_date = "amendment", contract.id, day
    session.add(quote)
    session.flush()
    return quote


def change(session, contract, quote, quantity, amount, today):
    (sub,) = [s for s in subscriptions.of_contract(session, contract) if s.order_id != quote.id]
    version = subscriptions.add_version(session, sub, quote.effective_date, D(quantity), amount, {}, None, quote.id,
                                        "change")
    rebill(session, [(sub, version)], today, "amendment", company=COMPANY)
    return sub


def added(session, user, contract, quote, net, listed):
    """What an amendment adds: its order (linked to the contract), co-termed from its day."""
    order = order_of(session, quote, contract, [("monthly", 1, net, listed)], contract.term_months)
    line = session.exec(select(Order).where(Order.id == order.id)).one()
    subscriptions.create_for_order(session, line, revenue_lines(session, order), quote.effective_date, contract.end_date)
    return order


def revenue_lines(session, order):
    from sales.order_models import OrderLine
    lines = list(session.exec(select(OrderLine).where(OrderLine.order_id == order.id)))
    for line in lines:                                 # co-termed: its value from the day to the end
        line.contract_value = line.net_total * 6
    return lines


def by_month(amounts: dict, key: str | None = None) -> dict[str, D]:
    out = defaultdict(D)
    for (k, month), amount in amounts.items():
        if key is None or k == key:
            out[month] += amount
    return dict(out)


def test_a_quantity_change_reallocates_what_is_left_prospectively(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", START, 12, SOLD)
        revenue.schedule(session, contract)
        before = rows(session, contract)
        assert sum(before.values()) == D("4800.00")
        quote = amendment(session, user, contract, date(2026, 7, 1))
        change(session, contract, quote, 15, D("600.00"), date(2026, 7, 1))
        revenue.schedule(session, contract)
        after = rows(session, contract)
        # January to June keep what they recognised: 4,800.00 x 181/365 = 2,380.27
        assert {k: v for k, v in after.items() if k[1] < "2026-07"} == {k: v for k, v in before.items() if k[1] < "2026-07"}
        assert sum(v for k, v in after.items() if k[1] < "2026-07") == D("2380.27")
        # the changed price: 6 x 400.00 + 6 x 600.00 = 6,000.00; what is left, 3,619.73, from July by days
        assert sum(after.values()) == contract.transaction_price == D("6000.00")
        assert by_month(after)["2026-07"] == currency("USD").round(D("3619.73") * 31 / 184)
        report = {r.period: r for r in revenue.report(session, contract, "2026-12")}
        assert report["2026-12"].deferred == 0 and report["2026-06"].deferred == D("6000.00") - D("2380.27")
        session.rollback()


def test_an_addition_at_its_standalone_price_is_a_separate_contract(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, _order = contract_order(session, user, accounts["USD"], "USD", START, 12, SOLD)
        revenue.schedule(session, contract)
        before = rows(session, contract)
        quote = amendment(session, user, contract, date(2026, 7, 1))
        added(session, user, contract, quote, D("100.00"), D("100.00"))          # at list: 600.00 co-termed
        revenue.schedule(session, contract)
        after = rows(session, contract)
        assert {k: v for k, v in after.items() if k[0] == "1"} == before        # the original is untouched
        new = {k: v for k, v in after.items() if k[0] != "1"}
        assert {k[0] for k in new} == {f"{quote.number}/1"}
        assert min(k[1] for k in new) == "2026-07" and sum(new.values()) == D("600.00")
        assert contract.transaction_price == D("5400.00")
        session.rollback()


def test_an_addition_at_a_discount_is_folded_in_prospectively(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, _order = contract_order(session, user, accounts["USD"], "USD", START, 12, SOLD)
        revenue.schedule(session, contract)
        before = rows(session, contract)
        quote = amendment(session, user, contract, date(2026, 7, 1))
        added(session, user, contract, quote, D("80.00"), D("100.00"))           # 20 % off: 480.00
        revenue.schedule(session, contract)
        after = rows(session, contract)
        original_after_july = {k: v for k, v in after.items() if k[0] == "1" and k[1] >= "2026-07"}
        assert original_after_july != {k: v for k, v in before.items() if k[1] >= "2026-07"}   # reallocated
        assert sum(after.values()) == contract.transaction_price == D("5280.00")
        # what is left (5,280.00 - 2,380.27) is shared by standalone price: 6 x 500.00 and 6 x 100.00
        left = sum(v for k, v in after.items() if k[1] >= "2026-07")
        assert left == D("2899.73")
        assert sum(v for k, v in after.items() if k[0] != "1") == currency("USD").round(left / 6)
        session.rollback()


def test_a_credit_note_lowers_the_price_from_its_day(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", START, 12, SOLD)
        invoice_order(session, order, START)
        bill_due_periods(session, date(2026, 4, 1))
        issue_drafts(session, date(2026, 4, 1))
        revenue.schedule(session, contract)
        before = rows(session, contract)
        april = session.exec(select(Invoice).where(Invoice.kind == "invoice").order_by(Invoice.id.desc())).first()
        credit_note(session, april, D("100.00") + april.tax_total * 100 / april.net_total, "goodwill", date(2026, 4, 15),
                    company=COMPANY)
        after = rows(session, contract)                    # refreshed by the credit note
        assert {k: v for k, v in after.items() if k[1] < "2026-04"} == {k: v for k, v in before.items() if k[1] < "2026-04"}
        note = session.exec(select(Invoice).where(Invoice.kind == "credit_note")).one()
        assert contract.transaction_price == D("4800.00") - note.net_total == sum(after.values())
        session.rollback()


def test_a_termination_stops_recognition_and_never_exceeds_what_remains_billed(setup):
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", START, 12, SOLD)
        invoice_order(session, order, START)
        bill_due_periods(session, date(2026, 4, 1))
        issue_drafts(session, date(2026, 4, 1))             # January to April billed: 1,600.00
        contract.state, contract.terminated_on = "terminated", date(2026, 3, 31)
        revenue.schedule(session, contract)
        earned = rows(session, contract)
        assert max(k[1] for k in earned) == "2026-03"
        assert sum(earned.values()) == contract.transaction_price == D("1183.56")     # 4,800.00 x 90/365
        invoices = session.exec(select(Invoice).where(Invoice.kind == "invoice").order_by(Invoice.id)).all()
        april = next(ln for ln in lines_of(session, invoices[-1]) if ln.period_start == date(2026, 4, 1))
        credit_note(session, invoices[-1], {april.position: april.quantity}, "April, not served", date(2026, 4, 2),
                    company=COMPANY)
        assert rows(session, contract) == earned            # 1,200.00 still billed: nothing earned is more
        for invoice in invoices:
            credit_note(session, invoice, None, "all credited", date(2026, 5, 4), company=COMPANY)
        assert sum(rows(session, contract).values()) == contract.transaction_price == 0    # nothing remains billed
        assert by_month(rows(session, contract)) == {**by_month(earned), "2026-05": D("-1183.56")}
        session.rollback()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(code=st.sampled_from(["USD", "JPY", "KWD"]), units=st.integers(1, 10**6),
       changes=st.lists(st.tuples(st.integers(0, 364), st.integers(0, 20)), max_size=4))
def test_billed_equals_recognised_through_any_amendments(setup, code, units, changes):
    """Whatever quantities change on whatever days, the subscription bills and the contract
    recognises the same total, and no month before a change moves."""
    engine, user, accounts = setup
    unit = currency(code).quantum * units
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts[code], code, START, 12,
                                         [("monthly", 4, unit * 4, unit * 5)])
        invoice_order(session, order, START)
        issue_drafts(session, START)
        revenue.schedule(session, contract)
        (sub,) = subscriptions.of_contract(session, contract)
        last = START
        for offset, quantity in sorted(changes):
            day = START + offset * DAY
            if sub.state != "active":
                break
            before = rows(session, contract)
            quote = amendment(session, user, contract, day)
            version = subscriptions.add_version(session, sub, day, D(quantity), unit * quantity, {}, None, quote.id, "c")
            today = max(last, day)
            bill_due_periods(session, today)
            issue_drafts(session, today)
            rebill(session, [(sub, version)], today, "amendment", company=COMPANY)
            issue_drafts(session, today)
            revenue.schedule(session, contract)
            after = rows(session, contract)
            month = f"{day.year:04d}-{day.month:02d}"
            assert {k: v for k, v in after.items() if k[1] < month} == {k: v for k, v in before.items() if k[1] < month}
            last = today
        bill_due_periods(session, contract.end_date)
        issue_drafts(session, contract.end_date)
        revenue.schedule(session, contract)
        assert sum(rows(session, contract).values()) == contract.transaction_price == invoiced(session, sub)
        session.rollback()
