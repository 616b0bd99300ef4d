"""billing.collections: aging buckets to the day, days sales outstanding, and the dunning job
(levels, letters, late fees through billing.invoices, idempotent however often it runs)."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError
from sqlmodel import select

from billing import collections, ledger
from billing.collections import (DEFAULT_POLICY, DunningLevel, DunningPolicy, aging, bucket, dso,
                                 render_letter, run_dunning)
from billing.credit_notes import credit_note
from billing.invoices import issue_fee_invoice
from billing.models import DunningNotice, Invoice, InvoiceLine
from billing.payments import check_account, mark_uncollectible
from billing.tax import load_demo_tax_rates
from core.db import session_scope
from core.errors import InvalidInput
from sales.accounts import create_account
from billing_flow import acme, in_threads, issue, make_account, pay, postgres_only, session  # noqa: F401

pytestmark = pytest.mark.postgres

D = Decimal
TODAY = date(2026, 6, 30)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.fixture
def rates(session):
    load_demo_tax_rates(session)


# ---- aging -------------------------------------------------------------------------------

@pytest.mark.parametrize("days, expected", [
    (-10, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
    (61, "61-90"), (90, "61-90"), (91, "90+"), (400, "90+")])
def test_bucket_boundaries(days, expected):
    assert bucket(days) == expected


def test_aging_buckets_open_balances_by_days_past_due(session, acme):
    for days, gross in [(-5, "1.00"), (0, "2.00"), (1, "4.00"), (30, "8.00"), (31, "16.00"), (60, "32.00"),
                        (61, "64.00"), (90, "128.00"), (91, "256.00"), (365, "512.00")]:
        issue(session, acme, gross, ago(days))
    partly = issue(session, acme, "1000.00", ago(45))
    pay(session, acme, "999.99", "BANK-1", allocations=[(partly, D("999.99"))])
    paid = issue(session, acme, "50.00", ago(100))
    pay(session, acme, "50.00", "BANK-2", allocations=[(paid, D(50))])
    gone = issue(session, acme, "70.00", ago(200))
    mark_uncollectible(session, gone, "insolvent", TODAY)
    pay(session, acme, "7.77", "BANK-3", allocations=[])            # credit, not aged
    report = aging(session, TODAY)
    aged = report.accounts["ACME"]
    assert aged.buckets == {"current": D(3), "1-30": D(12), "31-60": D("48.01"), "61-90": D(192), "90+": D(768)}
    assert (aged.total, aged.credit, aged.balance) == (D("1023.01"), D("7.77"), D("1015.24"))
    assert aged.balance == ledger.balance(session, acme.id)       # aging reconciles to the ledger
    assert report.totals["USD"].buckets == aged.buckets


def test_aging_is_per_account_and_currency(session, acme):
    globex = make_account(session, "GLOBEX")
    euro = make_account(session, "EUROCO", "EUR")
    issue(session, acme, "100.00", ago(10))
    issue(session, globex, "200.00", ago(40))
    issue(session, euro, "300.00", ago(10))
    pay(session, globex, "20.00", "G-1", allocations=[])
    report = aging(session, TODAY)
    assert list(report.accounts) == ["ACME", "EUROCO", "GLOBEX"]
    assert report.accounts["EUROCO"].currency == "EUR"
    usd, eur = report.totals["USD"], report.totals["EUR"]
    assert (usd.buckets["1-30"], usd.buckets["31-60"], usd.credit, usd.balance) == (D(100), D(200), D(20), D(280))
    assert (eur.buckets["1-30"], eur.balance) == (D(300), D(300))
    only = aging(session, TODAY, globex)
    assert list(only.accounts) == ["GLOBEX"] and list(only.totals) == ["USD"]
    assert only.totals["USD"].balance == D(180)
    assert aging(session, TODAY, make_account(session, "EMPTY")).accounts == {}


def test_aging_counts_open_credit_notes_as_credit(session, acme, rates):
    invoice = issue_fee_invoice(session, acme, D("40.00"), "USD", "Setup", ago(60))
    pay(session, acme, "40.00", "BANK-1")
    credit_note(session, invoice, D("15.00"), "goodwill", ago(5))    # on a paid invoice: all credit
    aged = aging(session, TODAY).accounts["ACME"]
    assert (aged.total, aged.credit, aged.balance) == (D(0), D(15), D(-15))
    assert aged.balance == ledger.balance(session, acme.id)


# ---- days sales outstanding --------------------------------------------------------------

def test_dso_is_receivables_over_credit_sales_times_days(session, acme):
    issue(session, acme, "1000.00", ago(-30), issued=ago(100))     # before the period: not a sale in it
    issue(session, acme, "600.00", ago(-30), issued=ago(60))
    issue(session, acme, "1200.00", ago(-30), issued=ago(20))
    issue(session, acme, "999.00", ago(-30), issued=ago(90))       # 90 days back: just outside
    issue(session, acme, "333.00", ago(-30), issued=ago(89))       # 89 days back: inside
    issue(session, acme, "777.00", ago(-60), issued=TODAY + timedelta(days=1))    # tomorrow: not yet
    pay(session, acme, "2000.00", "BANK-1", on=ago(10))
    pay(session, acme, "50.00", "BANK-LATE", on=TODAY + timedelta(days=1))
    figure = dso(session, TODAY)["USD"]
    assert (figure.receivables, figure.credit_sales, figure.days) == (D(2132), D(2133), 90)
    assert figure.value == D("90.0")                                   # 2132 / 2133 x 90 = 89.96
    assert dso(session, TODAY, days=30)["USD"].value == D("53.3")         # 2132 / 1200 x 30 = 53.3


def test_dso_is_per_currency_and_none_without_sales(session, acme):
    euro = make_account(session, "EUROCO", "EUR")
    issue(session, euro, "500.00", ago(-30), issued=ago(200))
    issue(session, acme, "300.00", ago(-30), issued=ago(30))
    figures = dso(session, TODAY)
    assert (figures["EUR"].receivables, figures["EUR"].credit_sales, figures["EUR"].value) == (D(500), D(0), None)
    assert figures["USD"].value == D("90.0")
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InvalidInput) as err:
            dso(session, TODAY, days=bad)
        assert err.value.field == "days"


# ---- dunning -----------------------------------------------------------------------------

def notices(session) -> list[tuple[int, int, int]]:
    rows = session.exec(select(DunningNotice).order_by(DunningNotice.id))
    return [(n.invoice_id, n.level, n.days_overdue) for n in rows]


def test_first_reminder_after_seven_days_with_its_letter(session, acme):
    late = issue(session, acme, "1234.50", ago(7))
    issue(session, acme, "10.00", ago(6))                         # not late enough yet
    paid = issue(session, acme, "10.00", ago(30))
    pay(session, acme, "10.00", "BANK-1", allocations=[(paid, D(10))])
    [action] = run_dunning(session, TODAY).notices
    assert (action.invoice_id, action.level, action.days_overdue, action.amount_due, action.fee,
            action.fee_invoice_id) == (late.id, 1, 7, D("1234.50"), D(0), None)
    notice = session.get(DunningNotice, action.notice_id)
    assert (notice.sent_on, notice.days_overdue, late.dunning_level) == (TODAY, 7, 1)
    for text in ("Dear ACME Industries,", f"invoice {late.number}", "due on 2026-06-23", "7 days",
                 "USD 1,234.50", "Customer account: ACME", "Date: 2026-06-30"):
        assert text in notice.letter, (text, notice.letter)
    assert "late fee" not in notice.letter
    assert run_dunning(session, TODAY).notices == []            # a second run the same day: nothing
    assert len(notices(session)) == 1


def test_levels_rise_with_time_and_charge_late_fees_from_level_two(session, acme, rates):
    invoice = issue(session, acme, "2000.00", ago(7))
    pay(session, acme, "400.00", "BANK-1")                         # 1600.00 still open
    assert [a.level for a in run_dunning(session, TODAY).notices] == [1]
    assert run_dunning(session, TODAY + timedelta(days=13)).notices == []     # 20 days overdue
    [second] = run_dunning(session, TODAY + timedelta(days=14)).notices
    assert (second.level, second.days_overdue, second.amount_due, second.fee) == (2, 21, D(1600), D("24.00"))
    fee = session.get(Invoice, second.fee_invoice_id)
    assert (fee.kind, fee.state, fee.gross_total, fee.account_id) == ("invoice", "open", D(24), acme.id)
    assert invoice.number in session.exec(select(InvoiceLine.description)
                                          .where(InvoiceLine.invoice_id == fee.id)).one()
    assert [(e.kind, e.amount) for e in ledger.entries(session, acme.id)][-1] == ("late_fee", D(24))
    letter = session.get(DunningNotice, second.notice_id).letter
    assert "late fee of USD 24.00" in letter and fee.number in letter and "21 days overdue" in letter
    assert run_dunning(session, TODAY + timedelta(days=14)).notices == []
    assert run_dunning(session, TODAY + timedelta(days=37)).notices == []     # 44 days overdue
    [third] = run_dunning(session, TODAY + timedelta(days=38)).notices
    assert (third.level, third.fee, invoice.dunning_level) == (3, D("24.00"), 3)
    assert "Final notice" in session.get(DunningNotice, third.notice_id).letter
    assert run_dunning(session, TODAY + timedelta(days=400)).notices == []    # no level 4; fees not dunned
    assert [n[1] for n in notices(session)] == [1, 2, 3]
    assert check_account(session, acme.id) == []


def test_an_invoice_found_late_gets_the_level_it_reached_and_the_minimum_fee(session, acme, rates):
    small = issue(session, acme, "100.00", ago(50))
    [action] = run_dunning(session, TODAY).notices
    assert (action.invoice_id, action.level, action.fee) == (small.id, 3, D("15.00"))   # 1.50 < the USD minimum
    assert notices(session) == [(small.id, 3, 50)]


def test_a_currency_without_a_minimum_pays_the_rate_alone(session, rates):
    account = make_account(session, "MAPLE", "CAD")
    issue(session, account, "100.00", ago(21))
    [action] = run_dunning(session, TODAY).notices
    assert (action.fee, action.currency) == (D("1.50"), "CAD")


def test_an_invoice_that_cannot_be_dunned_is_reported_and_the_others_are_not_held_up(session, acme, rates):
    nowhere = create_account(session, {"code": "NOWHERE", "name": "Nowhere Ltd", "currency": "USD",
                                       "billing_address": {"country": "US"}})   # no state: the fee cannot be taxed
    stuck = issue(session, nowhere, "100.00", ago(30))
    fine = issue(session, acme, "100.00", ago(30))
    run = run_dunning(session, TODAY)
    assert [a.invoice_id for a in run.notices] == [fine.id]
    assert run.failed == [(stuck.number, "billing_address.region: is needed to find the tax jurisdiction in US")]
    assert (stuck.dunning_level, notices(session)) == (0, [(fine.id, 2, 30)])
    assert check_account(session, nowhere.id) == []


def test_a_custom_policy(session, acme):
    policy = DunningPolicy(levels=(DunningLevel(1, 1, "dunning_1.txt"), DunningLevel(2, 3, "dunning_3.txt")),
                           fee_percent=D(0))
    issue(session, acme, "10.00", ago(3))
    [action] = run_dunning(session, TODAY, policy).notices
    assert (action.level, action.fee) == (2, D(0))
    for levels in [(), (DunningLevel(1, 10, "a"), DunningLevel(2, 10, "b")),
                   (DunningLevel(2, 10, "a"), DunningLevel(1, 20, "b")), (DunningLevel(0, 5, "a"),)]:
        with pytest.raises(ValueError):
            DunningPolicy(levels=levels, fee_percent=D(1))
    with pytest.raises(ValueError):
        DunningPolicy(levels=DEFAULT_POLICY.levels, fee_percent=D(1), minimum_fee={"USD": D("0.001")})


def test_letters_render_in_a_sandbox_and_need_every_value(session):
    with pytest.raises(SecurityError):
        collections._letters("en").from_string("{{ x.__class__.__mro__[1].__subclasses__() }}").render(x="")
    with pytest.raises(UndefinedError):
        render_letter("dunning_1.txt", account="A")


def test_concurrent_dunning_runs_write_each_notice_and_fee_once(engine, database_url):
    postgres_only(database_url)
    with session_scope(engine) as session:
        load_demo_tax_rates(session)
        account = make_account(session)
        account_id, invoice_ids = account.id, [issue(session, account, "500.00", ago(25)).id for _ in range(3)]
    start = threading.Barrier(3)

    def work():
        with session_scope(engine) as session:
            start.wait(10)
            return len(run_dunning(session, TODAY).notices)

    assert sorted(in_threads(*[work] * 3)) == [0, 0, 3]
    with session_scope(engine) as session:
        assert sorted(n[:2] for n in notices(session)) == [(i, 2) for i in invoice_ids]
        assert len([e for e in ledger.entries(session, account_id) if e.kind == "late_fee"]) == 3
        assert check_account(session, account_id) == []
