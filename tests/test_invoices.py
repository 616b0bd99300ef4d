"""billing.order_billing, billing.invoices, billing.credit_notes and billing.schedule against the
database: drafting from orders (on order, on shipment, milestones), recurring periods with
proration, issuing (gap-free numbers, also concurrently on PostgreSQL, given back on
rollback), immutability, credit notes, voiding, fee invoices, taxes by jurisdiction with
reverse charge and inclusive prices, and the PDF."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlmodel import select

from billing import invoices, ledger, remittance, schedule
from billing.credit_notes import creditable, credit_note, void
from billing.invoices import issue, issue_fee_invoice
from billing.models import BillingPeriod, Invoice, InvoiceLine, LedgerEntry
from billing.order_billing import bill_due_periods, invoice_order
from billing.tax import load_demo_tax_rates, load_tax_rates_dict, load_tax_rates_file, save_tax_rates
from core import docstore
from core.db import session_scope
from core.errors import ImmutableRecord, InvalidInput, InvalidTransition
from core.money import currency
from core.settings import DEFAULT_DEMO_DIR
from core.users import create_user
from sales import documents, subscriptions
from sales.accounts import Account, create_account
from billing_flow import order_for
from sales.order_models import Order, OrderLine

pytestmark = pytest.mark.postgres

TODAY = date(2026, 3, 15)
COMPANY = {"name": "Test Seller", "address": ["1 Street", "Springfield"], "email": "billing@seller.example",
           "website": "seller.example", "colour": "#123456"}
D = Decimal

ACCOUNTS = [
    {"code": "ACME", "name": "Acme Corp", "currency": "USD", "tax_id": "US-84-1234567",
     "billing_address": {"street": "500 Industrial Way", "city": "Austin", "region": "TX", "country": "US"}},
    {"code": "GLOBEX", "name": "Globex GmbH", "currency": "EUR", "tax_id": "DE811234567",
     "billing_address": {"street": "Solarstrasse 12", "city": "Freiburg", "country": "DE"}},
    {"code": "LEFRANC", "name": "Lefranc SARL", "currency": "EUR", "tax_id": "FR40303265045",
     "billing_address": {"city": "Lyon", "country": "FR"}},
    {"code": "MARIE", "name": "Marie Curie", "currency": "EUR", "segment": "consumer",
     "billing_address": {"city": "Paris", "country": "FR"}},
    {"code": "TANAKA", "name": "Tanaka KK", "currency": "JPY", "billing_address": {"city": "Tokyo", "country": "JP"}},
    {"code": "SABAH", "name": "Sabah Trading", "currency": "KWD", "billing_address": {"city": "Kuwait City", "country": "KW"}},
    {"code": "NOWHERE", "name": "No Address Ltd", "currency": "USD"},
]


@pytest.fixture
def env(engine):
    with session_scope(engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        user_id = create_user(session, "rep@example.com", "Rep", "rep")[0].id
        accounts = {raw["code"]: create_account(session, raw).id for raw in ACCOUNTS}
    return SimpleNamespace(engine=engine, user=user_id, accounts=accounts)


def eu_seller(session, version=2):
    """The demo rates with the seller established in Germany (so EU reverse charge applies)."""
    demo = load_tax_rates_file(DEFAULT_DEMO_DIR / "tax" / "rates.yaml")
    source = {**demo.source, "version": version, "seller": {"country": "DE", "tax_id": "DE999999999"}}
    save_tax_rates(session, load_tax_rates_dict(source), activate=True)


def make_order(session, env, account="ACME", lines=(), billing="on_order", milestones=(), terms="net30",
               state="open", contract_start: date | None = None) -> Order:
    """An order with `lines` given as (key, charge, quantity, net_total[, term_months, tax_category])."""
    return order_for(session, env.accounts[account], env.user, lines, billing=billing, milestones=milestones,
                     terms=terms, state=state, contract_start=contract_start)


def rendered(engine, invoice_id: int, fmt: str = "pdf"):
    """An issued invoice's document (bytes, facts), rendered once its transaction committed."""
    with session_scope(engine) as session:
        return docstore.content(session, "invoice", invoice_id, fmt), docstore.facts(session, "invoice", invoice_id, fmt)


def issue_now(session, invoice, today=TODAY):
    return issue(session, invoice, today, company=COMPANY)


def lines(session, invoice):
    return invoices.lines_of(session, invoice)


def assert_reconciles(invoice, rows):
    """Totals equal the sums of the lines and of the tax breakdown, to the minor unit."""
    assert invoice.net_total == sum(ln.net_amount for ln in rows)
    assert invoice.tax_total == sum(ln.tax_amount for ln in rows)
    assert invoice.gross_total == invoice.net_total + invoice.tax_total
    assert invoice.net_total == sum(D(g["base"]) for g in invoice.tax_breakdown)
    assert invoice.tax_total == sum(D(g["tax"]) for g in invoice.tax_breakdown)
    cur = currency(invoice.currency)
    for amount in (invoice.net_total, invoice.tax_total, *(ln.tax_amount for ln in rows)):
        assert cur.is_exact(amount)


# ---- schedules (pure) ------------------------------------------------------------------------

@pytest.mark.parametrize("start, charge, expected", [
    (date(2026, 3, 15), "monthly", [("2026-03-15", "2026-03-31", "54.84")] + [None] * 11
     + [("2027-03-01", "2027-03-14", "45.16")]),
    (date(2026, 3, 15), "quarterly", [("2026-03-15", "2026-03-31", "18.89"), None, None, None,
                                      ("2027-01-01", "2027-03-14", "81.11")]),
    (date(2026, 3, 15), "semiannual", [("2026-03-15", "2026-03-31", "9.34"), None,   # 17/182: October to March
                                       ("2026-10-01", "2027-03-14", "90.66")]),
    (date(2026, 3, 15), "annual", [("2026-03-15", "2026-03-31", "4.66"), ("2026-04-01", "2027-03-14", "95.34")]),
    (date(2026, 1, 1), "quarterly", [None] * 4),
])
def test_periods_start_on_the_first_and_partial_ones_are_prorated_by_days(start, charge, expected):
    periods = schedule.plan(start, charge, D("100.00"), currency("USD"), term_months=12)
    assert len(periods) == len(expected)
    for period, want in zip(periods, expected):
        if want is None:                                   # a full period at the full price
            assert period.start.day == 1 and period.days == period.full_days and period.amount == D("100.00")
        else:
            assert (period.start.isoformat(), period.end.isoformat(), str(period.amount)) == want
            assert period.days < period.full_days
    assert all(b.start == a.end + timedelta(days=1) for a, b in zip(periods, periods[1:]))
    assert sum(p.amount for p in periods) == D("100.00") * 12 // schedule.PERIOD_MONTHS[charge]


def test_a_schedule_bills_its_periods_exactly_the_last_taking_the_rest():
    # a month from 31 January ends on 27 February: 1/31 of 10.00 is 0.32, and February the rest
    # of the month sold (by its own days, 27/28, the month would have billed 9.97)
    periods = schedule.plan(date(2026, 1, 31), "monthly", D("10.00"), currency("USD"), term_months=1)
    assert [(p.days, p.full_days) for p in periods] == [(1, 31), (27, 28)]
    assert [p.amount for p in periods] == [D("0.32"), D("9.68")]
    jpy = schedule.plan(date(2026, 3, 10), "monthly", D("999"), currency("JPY"), term_months=12)
    assert sum(p.amount for p in jpy) == 999 * 12 and all(p.amount == p.amount.to_integral() for p in jpy)


# ---- on order ------------------------------------------------------------------------------

def test_on_order_bills_one_time_lines_and_the_first_period_then_issues(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("hw", "one_time", 3, "1000.00"),
                                                ("svc", "one_time", 1, "500.00", None, "services"),
                                                ("sup", "monthly", 2, "100.00", 12)])
        draft = invoice_order(session, order, TODAY)
        assert (draft.state, draft.number, draft.kind) == ("draft", None, "invoice")
        rows = lines(session, draft)
        assert [(ln.order_line_key, ln.quantity, ln.net_amount, ln.tax_rate) for ln in rows] == [
            ("hw", 3, D("1000.00"), D("6.25")), ("svc", 1, D("500.00"), 0), ("sup", 2, D("54.84"), D("6.25"))]
        assert rows[2].period_start == date(2026, 3, 15) and rows[2].period_end == date(2026, 3, 31)
        assert "prorated: 17 of 31 days" in rows[2].description
        assert rows[0].unit_price == D("333.333333")
        # tax per rate group: 6.25% of (1000.00 + 54.84) = 65.9275 -> 65.93, split over the lines
        assert draft.tax_total == D("65.93") and draft.net_total == D("1554.84")
        assert [ln.tax_amount for ln in rows] == [D("62.50"), 0, D("3.43")]
        assert_reconciles(draft, rows)

        invoice = issue_now(session, draft)
        assert (invoice.state, invoice.number, invoice.series) == ("open", "INV-2026-00001", "INV-2026")
        assert (invoice.issue_date, invoice.due_date) == (TODAY, date(2026, 4, 14))
        assert invoice.discount_date is None and invoice.discount_percent is None
        assert invoice.seller["name"] == "Test Seller" and invoice.seller["country"] == "US"
        assert invoice.buyer["tax_id"] == "US-84-1234567" and invoice.buyer["billing_address"]["region"] == "TX"
        assert invoice.buyer["tax"]["jurisdiction"] == "US-TX"
        assert docstore.facts(session, "invoice", invoice.id).status == "pending"   # rendered after the commit
        assert ledger.balance(session, invoice.account_id) == invoice.gross_total == D("1620.77")
        entry = session.exec(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id)).one()
        assert (entry.kind, entry.amount, entry.on) == ("invoice", D("1620.77"), TODAY)
        with pytest.raises(InvalidTransition, match="nothing is due"):
            invoice_order(session, order, TODAY)
        with pytest.raises(InvalidTransition, match="open: cannot issue"):
            issue_now(session, invoice)
        invoice_id = invoice.id
    pdf, facts = rendered(env.engine, invoice_id)
    assert pdf.startswith(b"%PDF") and facts.sha256 == documents.sha256(pdf) and facts.status == "ready"
    assert rendered(env.engine, invoice_id, "cii")[0].startswith(b"<?xml")


def test_a_draft_issued_in_its_own_transaction_leaves_its_lines_as_drafted(env):
    """Issuing taxes the lines again; as drafted, in the same transaction, they stay clean:
    the issuing flush and the issued-invoice guard have no line to go through."""
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("hw", "one_time", 3, "1000.00"), ("sup", "monthly", 2, "100.00", 12)])
        draft = invoice_order(session, order, TODAY)
        drafted = [(ln.net_amount, ln.tax_amount, ln.tax_rate, ln.unit_price) for ln in lines(session, draft)]
        flushed = []
        sa.event.listen(session, "before_flush", lambda s, *_: flushed.extend(
            type(obj).__name__ for obj in s.dirty))
        invoice = issue_now(session, draft)
        assert flushed == ["Invoice"]
        assert [(ln.net_amount, ln.tax_amount, ln.tax_rate, ln.unit_price) for ln in lines(session, invoice)] == drafted


def test_an_invoice_marks_the_periods_it_bills_with_one_update(env):
    """The periods an invoice takes are marked by one UPDATE, not dirtied for a flush; the
    session's periods say what is stored."""
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("sup", "monthly", 2, "100.00", 12), ("q", "quarterly", 1, "300.00", 12)])
        flushed = []
        sa.event.listen(session, "before_flush", lambda s, *_: flushed.extend(
            type(obj).__name__ for obj in s.dirty | s.new))
        draft = invoice_order(session, order, TODAY)
        assert "BillingPeriod" not in flushed
        periods = session.exec(select(BillingPeriod).where(BillingPeriod.invoice_id == draft.id)).all()
        stored = session.connection().execute(sa.select(BillingPeriod.__table__.c.id).where(
            BillingPeriod.__table__.c.invoice_id == draft.id)).scalars().all()
        assert len(periods) == 2 and sorted(p.id for p in periods) == sorted(stored)
        assert all(p.invoice_id == draft.id and p not in session.dirty for p in periods)


def test_a_recurring_lines_subscription_and_its_versions_are_read_in_one_statement(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("sup", "monthly", 2, "100.00", 12)])
        line = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).one()
        subscription = subscriptions.for_line(session, order, line)
        expected = (subscription, subscriptions.versions_of(session, subscription))
        statements = []
        sa.event.listen(env.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        assert subscriptions.line_versions(session, order, line) == expected and len(expected[1]) == 1
        assert len(statements) == 1


def test_recurring_periods_are_billed_once_when_due(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("sup", "quarterly", 1, "300.00", 12)])
        first = invoice_order(session, order, TODAY)
        assert [ln.net_amount for ln in lines(session, first)] == [D("56.67")]    # 17/90 of a quarter
        assert bill_due_periods(session, date(2026, 3, 31)) == []
        due = bill_due_periods(session, date(2026, 7, 1))                         # April and July
        assert len(due) == 1 and due[0].order_id == order.id
        assert [(ln.period_start, ln.net_amount) for ln in lines(session, due[0])] == [
            (date(2026, 4, 1), D("300.00")), (date(2026, 7, 1), D("300.00"))]
        assert bill_due_periods(session, date(2026, 7, 1)) == []                  # billed once
        rest = bill_due_periods(session, date(2030, 1, 1))
        periods = session.exec(select(BillingPeriod).where(BillingPeriod.order_id == order.id)).all()
        assert all(p.invoice_id is not None for p in periods) and len(periods) == 5
        assert sum(p.amount for p in periods) == D("1200.00")                     # the 12-month term exactly
        last = lines(session, rest[0])[-1]
        assert (last.period_end, last.net_amount) == (date(2027, 3, 14), D("243.33"))   # 300.00 - 56.67
        assert last.description == "Item sup (last 73 days of the term)"
        issued = issue_now(session, due[0])
        assert issued.number == "INV-2026-00001"          # drafts take numbers in the order they are issued


def test_recurring_lines_run_from_the_contract_start(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("sup", "monthly", 1, "31.00", 3)], contract_start=date(2026, 5, 1))
        invoice = invoice_order(session, order, TODAY)
        assert [(ln.period_start, ln.period_end, ln.net_amount) for ln in lines(session, invoice)] == [
            (date(2026, 5, 1), date(2026, 5, 31), D("31.00"))]           # billed in advance, at order


@pytest.mark.parametrize("account, charge, net, term, start", [
    ("ACME", "monthly", "100.00", 12, date(2024, 2, 15)),       # 15/29 of February, then 14 days of a 28-day one
    ("ACME", "monthly", "100.00", 12, date(2023, 2, 28)),
    ("ACME", "annual", "365.00", 24, date(2024, 3, 15)),        # the first year has a 29 February
    ("TANAKA", "quarterly", "9999", 12, date(2024, 2, 10)),     # quarters of 91 days (December to February), then 90
    ("SABAH", "monthly", "10.005", 36, date(2024, 2, 10)),
])
def test_a_recurring_line_bills_its_contract_value_over_its_term(env, account, charge, net, term, start):
    with session_scope(env.engine) as session:
        order = make_order(session, env, account, lines=[("sup", charge, 1, net, term)], contract_start=start)
        invoice_order(session, order, start)
        bill_due_periods(session, start + timedelta(days=31 * term))
        line = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).one()
        periods = session.exec(select(BillingPeriod).where(BillingPeriod.order_id == order.id)).all()
        billed = session.exec(select(InvoiceLine).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                              .where(Invoice.order_id == order.id)).all()
        assert all(p.invoice_id is not None for p in periods) and len(billed) == len(periods)
        assert sum(p.amount for p in periods) == sum(ln.net_amount for ln in billed) == line.contract_value


def test_a_recurring_line_is_billed_over_whole_periods(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("sup", "quarterly", 1, "300.00", 4)])
        with pytest.raises(InvalidInput) as raised:
            invoice_order(session, order, TODAY)
        assert raised.value.field == "lines.sup.term_months" and "whole periods of 3 months" in raised.value.reason


# ---- on shipment and milestones ------------------------------------------------------------

def test_on_shipment_bills_shipped_quantities_and_the_last_takes_the_remainder(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, billing="on_shipment",
                           lines=[("hw", "one_time", 3, "100.00"), ("sup", "monthly", 1, "10.00", 12)])
        hw = session.exec(select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.key == "hw")).one()
        first = invoice_order(session, order, TODAY)                       # nothing shipped yet
        assert [ln.order_line_key for ln in lines(session, first)] == ["sup"]
        amounts = []
        for shipped in ("1", "2", "3"):
            hw.shipped_quantity = D(shipped)
            session.add(hw)
            invoice = invoice_order(session, order, TODAY)
            [line] = lines(session, invoice)
            assert (line.order_line_key, line.quantity) == ("hw", 1)
            amounts.append(line.net_amount)
        assert amounts == [D("33.33"), D("33.34"), D("33.33")] and sum(amounts) == D("100.00")
        with pytest.raises(InvalidTransition, match="nothing is due"):
            invoice_order(session, order, TODAY)


MILESTONES = [{"label": "Signature", "percent": 30}, {"label": "Delivery", "percent": "33.33"},
              {"label": "Acceptance", "percent": 36.67}]


def test_milestones_split_every_line_and_sum_exactly(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, billing="milestones", milestones=MILESTONES,
                           lines=[("hw", "one_time", 7, "1000.01"), ("svc", "one_time", 1, "333.33", None, "services")])
        totals = {}
        for name in ("Acceptance", "Signature", "Delivery"):                 # any order
            invoice = invoice_order(session, order, TODAY, milestone=name)
            assert name in invoice.reason
            totals[name] = {ln.order_line_key: ln.net_amount for ln in lines(session, invoice)}
            assert_reconciles(invoice, lines(session, invoice))
        assert sum(t["hw"] for t in totals.values()) == D("1000.01")
        assert sum(t["svc"] for t in totals.values()) == D("333.33")
        assert totals["Signature"] == {"hw": D("300.00"), "svc": D("100.00")}
        with pytest.raises(InvalidTransition, match="already invoiced"):
            invoice_order(session, order, TODAY, milestone="Delivery")
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, order, TODAY, milestone="Launch")
        assert err.value.field == "milestone"
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, order, TODAY)
        assert err.value.field == "milestone"


@pytest.mark.parametrize("milestones, field", [
    ([{"label": "A", "percent": 50}, {"label": "B", "percent": 40}], "milestones"),
    ([{"label": "A", "percent": 50}, {"label": "A", "percent": 50}], "milestones"),
    ([{"label": "A", "percent": 0}, {"label": "B", "percent": 100}], "milestones[0].percent"),
    ([{"percent": 100}], "milestones[0].label"),
    ([], "milestones"),
])
def test_bad_milestones_are_refused_naming_the_field(env, milestones, field):
    with session_scope(env.engine) as session:
        order = make_order(session, env, billing="milestones", milestones=milestones,
                           lines=[("hw", "one_time", 1, "100.00")])
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, order, TODAY, milestone="A")
        assert err.value.field == field


def test_what_cannot_be_invoiced(env):
    with session_scope(env.engine) as session:
        held = make_order(session, env, state="credit_hold", lines=[("hw", "one_time", 1, "100.00")])
        with pytest.raises(InvalidTransition) as err:
            invoice_order(session, held, TODAY)
        assert err.value.state == "credit_hold"
        plain = make_order(session, env, lines=[("hw", "one_time", 1, "100.00")])
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, plain, TODAY, milestone="Signature")
        assert err.value.field == "milestone"
        bad_terms = make_order(session, env, terms="net30days", lines=[("hw", "one_time", 1, "100.00")])
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, bad_terms, TODAY)
        assert err.value.field == "payment_terms"
        unknown_category = make_order(session, env, lines=[("hw", "one_time", 1, "100.00", None, "luxury")])
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, unknown_category, TODAY)
        assert err.value.field == "lines[1].tax_category"
        no_address = make_order(session, env, account="NOWHERE", lines=[("hw", "one_time", 1, "100.00")])
        with pytest.raises(InvalidInput) as err:
            invoice_order(session, no_address, TODAY)
        assert err.value.field == "billing_address.country"


# ---- taxes on invoices ---------------------------------------------------------------------

def test_eu_reverse_charge_zero_rates_business_buyers_in_other_member_states(env):
    with session_scope(env.engine) as session:
        eu_seller(session)
        cross_border = invoice_order(session, make_order(session, env, account="LEFRANC",
                                                         lines=[("hw", "one_time", 1, "1000.00")]), TODAY)
        domestic = invoice_order(session, make_order(session, env, account="GLOBEX",
                                                     lines=[("hw", "one_time", 1, "1000.00")]), TODAY)
        consumer = invoice_order(session, make_order(session, env, account="MARIE",
                                                     lines=[("hw", "one_time", 1, "1200.00")]), TODAY)
        assert (cross_border.reverse_charge, cross_border.tax_total) == (True, 0)
        assert cross_border.tax_breakdown == [{"category": "AE", "label": "Reverse charge", "rate": "0",
                                               "base": "1000.00", "tax": "0.00"}]
        assert (domestic.reverse_charge, domestic.tax_total) == (False, D("190.00"))
        assert (consumer.reverse_charge, consumer.tax_inclusive) == (False, True)
        invoice = issue_now(session, cross_border)
        assert invoice.seller["tax_id"] == "DE999999999" and invoice.buyer["tax_id"] == "FR40303265045"
        html = documents.render_html(invoices.document_data(invoice, lines(session, invoice), None), invoices.TEMPLATE)
        assert "Reverse charge: VAT to be accounted for by the recipient" in html
        assert "FR40303265045" in html and "DE999999999" in html


def test_inclusive_prices_extract_the_tax_and_keep_the_gross(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, account="MARIE", lines=[("hw", "one_time", 1, "119.00"),
                                                                 ("book", "one_time", 3, "10.55", None, "reduced")])
        invoice = issue_now(session, invoice_order(session, order, TODAY))
        rows = lines(session, invoice)
        assert invoice.tax_inclusive and invoice.gross_total == D("129.55")       # what the customer was quoted
        assert [(ln.net_amount, ln.tax_amount, ln.unit_price) for ln in rows] == [
            (D("99.17"), D("19.83"), D("119.00")), (D("10.00"), D("0.55"), D("3.516667"))]
        assert_reconciles(invoice, rows)


@pytest.mark.parametrize("account, amounts, net, tax", [
    ("TANAKA", ["1001", "333", "7"], D("1341"), D("134")),           # JPY, 10%: no minor units
    ("SABAH", ["10.001", "0.333"], D("10.334"), D("0")),             # KWD, 3 decimals, no VAT
    ("ACME", ["0.05", "0.05", "0.05"], D("0.15"), D("0.01")),        # per line: 3 x 0.00 would lose it
])
def test_totals_reconcile_in_each_currency(env, account, amounts, net, tax):
    with session_scope(env.engine) as session:
        order = make_order(session, env, account=account,
                           lines=[(str(i), "one_time", 1, a) for i, a in enumerate(amounts)])
        invoice = issue_now(session, invoice_order(session, order, TODAY))
        assert (invoice.net_total, invoice.tax_total) == (net, tax)
        assert_reconciles(invoice, lines(session, invoice))


def test_early_payment_discount_terms(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, terms="2/10net30", lines=[("hw", "one_time", 1, "1000.00")])
        invoice = issue_now(session, invoice_order(session, order, TODAY))
        assert (invoice.payment_terms, invoice.due_date) == ("2/10net30", date(2026, 4, 14))
        assert (invoice.discount_date, invoice.discount_percent) == (date(2026, 3, 25), 2)
        doc = invoices.document_data(invoice, lines(session, invoice), None)
        assert doc["terms"] == "2% within 10 days, net 30 days"
        assert doc["discount"] == {"percent": "2", "date": "2026-03-25", "amount": "21.25"}


# ---- numbering and immutability --------------------------------------------------------------

def drafts(engine, env, count: int) -> list[int]:
    with session_scope(engine) as session:
        return [invoice_order(session, make_order(session, env, lines=[("hw", "one_time", 1, "10.00")]), TODAY).id
                for _ in range(count)]


def issue_id(engine, invoice_id: int, today=TODAY) -> str:
    with session_scope(engine) as session:
        return issue_now(session, session.get(Invoice, invoice_id), today).number


def test_numbers_are_gap_free_per_series_and_year_and_a_rolled_back_issue_gives_its_number_back(env):
    a, b, c, d = drafts(env.engine, env, 4)
    assert issue_id(env.engine, a) == "INV-2026-00001"
    with pytest.raises(RuntimeError):
        with session_scope(env.engine) as session:
            assert issue_now(session, session.get(Invoice, b)).number == "INV-2026-00002"
            raise RuntimeError("the transaction fails after the issue")
    with session_scope(env.engine) as session:
        assert session.get(Invoice, b).state == "draft"
        assert ledger.balance(session, env.accounts["ACME"]) == D("10.63")      # only the first one
    assert issue_id(env.engine, c) == "INV-2026-00002"
    assert issue_id(env.engine, b, date(2027, 1, 2)) == "INV-2027-00001"
    with session_scope(env.engine) as session:
        note = credit_note(session, session.get(Invoice, c), None, "cancelled", TODAY, company=COMPANY)
        assert (note.number, note.series) == ("CN-2026-00001", "CN-2026")
    assert issue_id(env.engine, d) == "INV-2026-00003"


def test_concurrent_issues_on_postgresql_take_consecutive_numbers(env, database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgresql://...): SQLite serialises writers anyway")
    threads_count, per_thread = 4, 3
    ids = drafts(env.engine, env, threads_count * per_thread)
    start = threading.Barrier(threads_count)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def work(mine: list[int]) -> None:
        try:
            start.wait()
            for invoice_id in mine:
                numbers.append(issue_id(env.engine, invoice_id))
        except BaseException as exc:       # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ids[i::threads_count],)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(numbers) == [f"INV-2026-{n:05d}" for n in range(1, threads_count * per_thread + 1)]
    with session_scope(env.engine) as session:
        issued = session.exec(select(Invoice).where(Invoice.id.in_(ids))).all()
        assert sorted(i.number for i in issued) == sorted(numbers) and {i.state for i in issued} == {"open"}
        assert ledger.balance(session, env.accounts["ACME"]) == D("10.63") * len(ids)


def test_an_issued_invoice_never_changes_but_payments_may_track_it(env):
    [invoice_id] = drafts(env.engine, env, 1)
    issue_id(env.engine, invoice_id)
    changes = [
        lambda s, i: setattr(i, "gross_total", D("1.00")),
        lambda s, i: setattr(i, "due_date", date(2027, 1, 1)),
        lambda s, i: setattr(i, "buyer", {"name": "someone else"}),
        lambda s, i: setattr(i, "state", "draft"),
        lambda s, i: setattr(lines(s, i)[0], "net_amount", D("1.00")),
        lambda s, i: s.delete(lines(s, i)[0]),
        lambda s, i: s.add(InvoiceLine(invoice_id=i.id, position=9, description="extra", quantity=D(1),
                                       unit_price=D(1), net_amount=D(1), tax_category="standard",
                                       tax_rate=D(0), tax_amount=D(0))),
        lambda s, i: s.delete(i),
    ]
    for change in changes:
        with pytest.raises(ImmutableRecord):
            with session_scope(env.engine) as session:
                change(session, session.get(Invoice, invoice_id))
                session.flush()
    with session_scope(env.engine) as session:                 # what payments and dunning write
        invoice = session.get(Invoice, invoice_id)
        invoice.amount_paid, invoice.state, invoice.dunning_level = D("5.00"), "partially_paid", 1
    with session_scope(env.engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert (invoice.amount_paid, invoice.state, invoice.dunning_level) == (D("5.00"), "partially_paid", 1)
        assert invoice.gross_total == D("10.63") and lines(session, invoice)[0].net_amount == D("10.00")


def test_drafts_may_change(env):
    [invoice_id] = drafts(env.engine, env, 1)
    with session_scope(env.engine) as session:
        invoice = session.get(Invoice, invoice_id)
        invoice.reason = "edited"
        session.delete(lines(session, invoice)[0])
        session.flush()
        with pytest.raises(InvalidTransition, match="no lines"):
            issue_now(session, invoice)


# ---- credit notes and voiding ----------------------------------------------------------------

def issued_invoice(session, env, order_lines, account="ACME") -> Invoice:
    return issue_now(session, invoice_order(session, make_order(session, env, account=account, lines=order_lines),
                                            TODAY))


def test_a_full_credit_note_mirrors_the_original_and_settles_it(env):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [("hw", "one_time", 3, "1000.00"), ("sup", "monthly", 1, "99.99", 12)])
        note = credit_note(session, invoice, None, "Order cancelled", TODAY, company=COMPANY)
        assert (note.kind, note.original_id, note.state) == ("credit_note", invoice.id, "paid")
        assert (note.net_total, note.tax_total, note.gross_total) == (
            invoice.net_total, invoice.tax_total, invoice.gross_total)
        assert note.tax_breakdown == invoice.tax_breakdown
        assert [(ln.position, ln.quantity, ln.net_amount, ln.tax_amount) for ln in lines(session, note)] == [
            (ln.position, ln.quantity, ln.net_amount, ln.tax_amount) for ln in lines(session, invoice)]
        assert (invoice.state, invoice.amount_paid) == ("paid", invoice.gross_total)
        assert ledger.balance(session, invoice.account_id) == 0
        assert note.buyer == invoice.buyer and note.due_date == TODAY
        html = documents.render_html(invoices.document_data(note, lines(session, note), invoice), invoices.TEMPLATE)
        assert f"Credit note for invoice {invoice.number} of 2026-03-15" in html and "Order cancelled" in html
        with pytest.raises(InvalidInput, match="nothing is left"):
            credit_note(session, invoice, None, "again", TODAY, company=COMPANY)
        with pytest.raises(InvalidTransition):
            credit_note(session, note, None, "a credit note of a credit note", TODAY, company=COMPANY)


def test_partial_credits_never_exceed_the_original_and_net_to_zero(env):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [("hw", "one_time", 7, "100.00"),
                                                ("svc", "one_time", 1, "50.00", None, "services")])
        assert invoice.gross_total == D("156.25")
        units = [credit_note(session, invoice, {1: D(1)}, "returned", TODAY, company=COMPANY) for _ in range(6)]
        assert {n.net_total for n in units} == {D("14.28"), D("14.29")}          # 1/n of what is left, each time
        with pytest.raises(InvalidInput) as err:
            credit_note(session, invoice, {1: D(2)}, "more than is left", TODAY, company=COMPANY)
        assert err.value.field == "lines.1"
        last = credit_note(session, invoice, {1: D(1)}, "returned", TODAY, company=COMPANY)
        assert sum(n.net_total for n in units + [last]) == D("100.00")         # the last takes what is left
        with pytest.raises(InvalidInput) as err:
            credit_note(session, invoice, D("50.01"), "too much", TODAY, company=COMPANY)
        assert err.value.field == "amount" and "at most USD 50.00" in err.value.reason
        for bad, field in [({3: D(1)}, "lines.3"), ({2: D(0)}, "lines.2"), ({}, "lines"), (D("-1"), "amount"),
                           (D("0.001"), "amount"), (D("60"), "amount")]:
            with pytest.raises(InvalidInput) as err:
                credit_note(session, invoice, bad, "bad", TODAY, company=COMPANY)
            assert err.value.field == field
        with pytest.raises(InvalidInput) as err:
            credit_note(session, invoice, D("1"), "  ", TODAY, company=COMPANY)
        assert err.value.field == "reason"
        adjustment = credit_note(session, invoice, D("20.00"), "goodwill", TODAY, company=COMPANY)
        [line] = lines(session, adjustment)
        assert (line.quantity, line.position, line.net_amount) == (0, 2, D("20.00"))
        assert line.description.startswith("Price adjustment")
        rest = credit_note(session, invoice, None, "the rest", TODAY, company=COMPANY)
        notes = units + [last, adjustment, rest]
        for field in ("net_total", "tax_total", "gross_total"):
            assert sum(getattr(n, field) for n in notes) == getattr(invoice, field)
        assert ledger.balance(session, invoice.account_id) == 0
        assert invoice.state == "paid" and invoice.amount_paid == invoice.gross_total


def test_an_amount_credit_gives_back_tax_in_proportion(env):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [("hw", "one_time", 1, "1000.00"),
                                                ("svc", "one_time", 1, "1000.00", None, "services")])
        assert invoice.gross_total == D("2062.50")
        note = credit_note(session, invoice, D("103.13"), "10% off the first", TODAY, company=COMPANY)
        assert note.gross_total == D("103.13")
        assert [(ln.position, ln.net_amount, ln.tax_amount) for ln in lines(session, note)] == [
            (1, D("50.00"), D("3.13")), (2, D("50.00"), 0)]
        assert (invoice.state, invoice.amount_paid) == ("partially_paid", D("103.13"))
        assert ledger.balance(session, invoice.account_id) == D("1959.37")


def test_a_credit_beyond_what_is_owed_is_account_credit(env):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [("hw", "one_time", 1, "100.00")])
        invoice.amount_paid, invoice.state = D("106.25"), "paid"               # paid in full
        note = credit_note(session, invoice, D("6.25"), "overcharged", TODAY, company=COMPANY)
        assert (note.state, note.amount_paid) == ("open", 0)                  # the customer's credit
        assert ledger.balance(session, invoice.account_id) == D("100.00")     # 106.25 owed, less the note


def test_void_credits_everything_and_makes_it_billable_again(env):
    with session_scope(env.engine) as session:
        order = make_order(session, env, lines=[("hw", "one_time", 2, "100.00"), ("sup", "monthly", 1, "31.00", 12)])
        invoice = issue_now(session, invoice_order(session, order, TODAY))
        note = void(session, invoice, "wrong customer", TODAY, company=COMPANY)
        assert invoice.state == "void" and note.gross_total == invoice.gross_total
        assert ledger.balance(session, invoice.account_id) == 0
        again = invoice_order(session, order, TODAY)                         # the same again, on a new invoice
        assert [(ln.order_line_key, ln.net_amount) for ln in lines(session, again)] == [
            ("hw", D("100.00")), ("sup", D("17.00"))]
        with pytest.raises(InvalidTransition) as err:
            void(session, invoice, "twice", TODAY, company=COMPANY)
        assert err.value.state == "void"
        with pytest.raises(InvalidTransition) as err:
            void(session, again, "a draft", TODAY, company=COMPANY)
        assert err.value.state == "draft"
        credited = issue_now(session, again)
        credit_note(session, credited, D("1.00"), "partly credited", TODAY, company=COMPANY)
        with pytest.raises(InvalidTransition) as err:
            void(session, credited, "after a credit", TODAY, company=COMPANY)
        assert err.value.state == "partially_paid"


# ---- fee invoices and the PDF ------------------------------------------------------------------

def test_fee_invoice_is_exempt_issued_at_once_and_posted_as_a_late_fee(env):
    with session_scope(env.engine) as session:
        original = issued_invoice(session, env, [("hw", "one_time", 1, "100.00")])
        account = session.get(Account, env.accounts["ACME"])
        fee = issue_fee_invoice(session, account, D("15.00"), "USD", "Late fee", TODAY,
                                original_invoice_id=original.id)
        assert (fee.state, fee.number, fee.gross_total, fee.tax_total) == ("open", "INV-2026-00002", D("15.00"), 0)
        [line] = lines(session, fee)
        assert (line.tax_category, line.product) == ("exempt", invoices.FEE_PRODUCT)
        assert line.description == fee.reason == "Late fee (invoice INV-2026-00001)"
        assert fee.due_date == date(2026, 4, 14) and fee.original_id is None
        named = issue_fee_invoice(session, account, D("5.00"), "USD", "Late fee on INV-2026-00001", TODAY,
                                  original_invoice_id=original.id)
        assert named.reason == "Late fee on INV-2026-00001"
        assert fee.tax_breakdown[0]["category"] == "E"
        entry = session.exec(select(LedgerEntry).where(LedgerEntry.invoice_id == fee.id)).one()
        assert (entry.kind, entry.amount) == ("late_fee", D("15.00"))
        for amount, field in [(D("0"), "amount"), (D("1.001"), "amount")]:
            with pytest.raises(InvalidInput) as err:
                issue_fee_invoice(session, account, amount, "USD", "Late", TODAY)
            assert err.value.field == field
        with pytest.raises(InvalidInput) as err:
            issue_fee_invoice(session, account, D(1), "USD", "Late", TODAY, original_invoice_id=original.id + 999)
        assert err.value.field == "original_invoice_id"


def test_the_pdf_shows_what_the_invoice_says(env):
    with session_scope(env.engine) as session:
        eu_seller(session)
        invoice = issued_invoice(session, env, [("hw", "one_time", 2, "1000.00"),
                                                ("book", "one_time", 1, "100.00", None, "reduced"),
                                                ("sup", "monthly", 1, "31.00", 12)], account="GLOBEX")
        doc = invoices.document_data(invoice, lines(session, invoice), None)
        html = documents.render_html(doc, invoices.TEMPLATE)
        for text in ("Invoice INV-2026-00001", "Globex GmbH", "DE811234567", "Freiburg", "Test Seller",
                     "DE999999999", "Germany", "Net 30 days", "2026-04-14", "Standard rate (S)", "19%", "7%",
                     "EUR 1,117.00", "EUR 200.23", "EUR 1,317.23", "Service period 2026-03-15 to 2026-03-31"):
            assert text in html, text
        assert "Reverse charge" not in html and "Credit note" not in html
        invoice_id = invoice.id
    pdf, _facts = rendered(env.engine, invoice_id)
    assert documents.render_pdf(doc, invoices.TEMPLATE) == pdf                    # deterministic
    assert documents.page_count(pdf) == 1


def test_a_credit_note_taxes_its_own_base_per_category(env):
    """EN 16931 BR-CO-17: each document's VAT is its category base times the rate, rounded
    once. The invoice spreads round(0.30 x 7%) = 0.02 over its lines as 0.01, 0.01, 0.00, so
    crediting the third line on its line tax would credit no VAT at all."""
    with session_scope(env.engine) as session:
        eu_seller(session)
        invoice = issued_invoice(session, env, [(k, "one_time", 1, "0.10", None, "reduced") for k in "abc"],
                                 account="GLOBEX")
        assert [ln.tax_amount for ln in lines(session, invoice)] == [D("0.01"), D("0.01"), D("0.00")]
        third = lines(session, invoice)[2].position
        note = credit_note(session, invoice, {third: D(1)}, "returned", TODAY, company=COMPANY)
        assert (note.net_total, note.tax_total) == (D("0.10"), D("0.01"))
        assert [(g["base"], g["tax"]) for g in note.tax_breakdown] == [("0.10", "0.01")]
        rest = credit_note(session, invoice, None, "the rest", TODAY, company=COMPANY)
        assert sum(n.tax_total for n in (note, rest)) == invoice.tax_total      # the last takes what is left


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.lists(st.integers(1, 400), min_size=1, max_size=4),
       credits=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=5))
def test_every_credit_note_but_the_last_taxes_its_own_base_and_all_net_to_zero(env, prices, credits):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [(f"l{i}", "one_time", 3, str(D(p) / 100)) for i, p in enumerate(prices)])
        positions = [ln.position for ln in lines(session, invoice)]
        notes = []
        for index, units in credits:
            try:
                notes.append(credit_note(session, invoice, {positions[index % len(positions)]: D(units)}, "returned",
                                         TODAY, company=COMPANY))
            except InvalidInput:
                continue                               # more units than are left: refused, nothing written
            if creditable(session, invoice):             # not the last: its VAT is its own base's
                rate = lines(session, notes[-1])[0].tax_rate
                for group in notes[-1].tax_breakdown:
                    assert D(group["tax"]) == currency("USD").round(D(group["base"]) * rate / 100)
        if creditable(session, invoice):
            notes.append(credit_note(session, invoice, None, "the rest", TODAY, company=COMPANY))
        for total in ("net_total", "tax_total", "gross_total"):
            assert sum(getattr(n, total) for n in notes) == getattr(invoice, total)


def test_an_invoice_carries_its_payment_reference_and_in_euros_a_sepa_qr_code(env):
    seller = {**COMPANY, "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}
    with session_scope(env.engine) as session:
        eu_seller(session)
        order = make_order(session, env, "GLOBEX", [("hw", "one_time", 1, "1000.00")])
        invoice = issue(session, invoice_order(session, order, TODAY), TODAY, company=seller)
        reference = invoice.payment_reference
        assert reference == remittance.invoice_reference(invoice.number)
        doc = invoices.document_data(invoice, lines(session, invoice), None)
        assert doc["payment"]["reference"] == remittance.printed(reference)
        assert doc["payment"]["qr"].startswith("<svg") and doc["payment"]["iban"] == seller["iban"]
        html = documents.render_html(doc, invoices.TEMPLATE)
        assert "How to pay" in html and remittance.printed(reference) in html and "SEPA credit transfer QR" in html
        assert "COBADEFFXXX. Or scan the code" in html      # two sentences, not run together
        usd = issue(session, invoice_order(session, make_order(session, env, "ACME", [("hw", "one_time", 1, "5.00")]),
                                           TODAY), TODAY, company=seller)
        assert invoices.document_data(usd, lines(session, usd), None)["payment"]["qr"] is None   # not in euros
        invoice_id = invoice.id
    xml, _ = rendered(env.engine, invoice_id, "cii")
    assert f"<ram:PaymentReference>{reference}</ram:PaymentReference>".encode() in xml
    assert b"<ram:IBANID>DE89370400440532013000</ram:IBANID>" in xml and b"<ram:TypeCode>58</ram:TypeCode>" in xml


def test_a_credit_note_has_no_payment_reference(env):
    with session_scope(env.engine) as session:
        invoice = issued_invoice(session, env, [("hw", "one_time", 1, "10.00")])
        note = credit_note(session, invoice, None, "returned", TODAY, company=COMPANY)
        assert invoice.payment_reference and note.payment_reference is None
        assert invoices.document_data(note, lines(session, note), invoice)["payment"] is None
