"""Consolidated invoicing (billing.consolidation, billing.billing_days): an account invoiced
per billing day gets one invoice per currency on that day for everything due (order lines,
recurring periods, rated usage), each line keeping its source, and its lines and totals are
those of the separate invoices it replaces, to the minor unit."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from billing import billing_days, consolidation, invoices, order_billing, rating, usage
from billing.invoices import Charge, Draft
from billing.models import BillingPeriod, Invoice, InvoiceLine
from billing.tax import load_demo_tax_rates
from billing.usage_models import UsageCharge, UsagePeriod
from core.db import session_scope
from core.errors import InvalidTransition
from core.settings import DEFAULT_DEMO_DIR
from core.money import currency
from core.users import create_user
from sales.accounts import Account, create_account, get_account, update_account
from sales.order_models import Order
from tasks import jobs
from billing_flow import order_for
from usage_flow import TEXAS, record, rows, setup_usage

pytestmark = pytest.mark.postgres

D = Decimal
BERLIN = {"city": "Berlin", "country": "DE"}
CURRENCIES = ("USD", "EUR", "JPY", "KWD")
SEGMENTS = ("enterprise", "consumer")                          # net prices, and prices with German VAT in them


@pytest.fixture
def twins(engine):
    """For each segment, two accounts alike but for their consolidation setting."""
    with session_scope(engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        for segment in SEGMENTS:
            for how in ("per_document", "per_billing_day"):
                create_account(session, {"code": f"{how[4:7].upper()}-{segment}", "name": segment, "currency": "EUR",
                                         "segment": segment, "billing_address": BERLIN,
                                         "invoice_consolidation": how, "billing_day": 5})
    return engine


def _amount(code: str):
    cur = currency(code)
    return st.integers(0, 10 ** 7).map(lambda minor: D(minor).scaleb(-cur.minor_units))


CHARGE = st.tuples(st.integers(1, 5), st.sampled_from(["standard", "reduced", "exempt", "services"]),
                   st.sampled_from([None, date(2026, 3, 1)]))
DOCUMENT = st.sampled_from(CURRENCIES).flatmap(
    lambda code: st.tuples(st.just(code), st.lists(st.tuples(CHARGE, _amount(code)), min_size=1, max_size=4)))


def _drafts(account, documents) -> list[Draft]:
    out = []
    for n, (code, charges) in enumerate(documents):
        out.append(Draft(account, [Charge(f"doc {n} line {i}", D(quantity), amount, category, f"P-{i}",
                                          period_start=start, period_end=start and date(2026, 3, 31))
                                   for i, ((quantity, category, start), amount) in enumerate(charges)],
                         currency(code), "net30", f"Document {n}"))
    return out


def _line(line: InvoiceLine) -> tuple:
    return (line.description, line.quantity, line.net_amount, line.tax_amount, line.tax_rate, line.tax_category,
            line.period_start)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=st.lists(DOCUMENT, min_size=1, max_size=6), segment=st.sampled_from(SEGMENTS),
       issued=st.booleans())
def test_a_consolidated_invoice_is_the_sum_of_the_invoices_it_replaces(twins, documents, segment, issued):
    with Session(twins) as session:                          # rolled back: nothing is rendered
        separate_account, consolidated_account = (get_account(session, f"{how}-{segment}") for how in ("DOC", "BIL"))
        separate = consolidation.draft_all(session, _drafts(separate_account, documents), date(2026, 4, 5))
        consolidated = consolidation.draft_all(session, _drafts(consolidated_account, documents), date(2026, 4, 5))
        if issued:                                # issuing taxes again, per part
            for invoice in {i.id: i for i in separate + consolidated}.values():
                invoices.issue(session, invoice, date(2026, 4, 5), company={"name": "Seller"})
        assert len(separate) == len(documents) == len({i.id for i in separate})
        by_currency = {i.currency: i for i in consolidated}
        assert len({i.id for i in consolidated}) == len(by_currency) == len({code for code, _ in documents})
        expected_lines, expected = defaultdict(list), defaultdict(lambda: [D(0), D(0), D(0)])
        for invoice in separate:
            expected_lines[invoice.currency] += [_line(ln) for ln in invoices.lines_of(session, invoice)]
            sums = expected[invoice.currency]
            for k, total in enumerate((invoice.net_total, invoice.tax_total, invoice.gross_total)):
                sums[k] += total
        for code, invoice in by_currency.items():
            lines = invoices.lines_of(session, invoice)
            assert [_line(ln) for ln in lines] == expected_lines[code]
            assert [invoice.net_total, invoice.tax_total, invoice.gross_total] == expected[code]
            assert invoice.gross_total == sum(ln.net_amount + ln.tax_amount for ln in lines)
            assert sum(D(g["tax"]) for g in invoice.tax_breakdown) == invoice.tax_total
            parts = [d for d, (c, _) in enumerate(documents) if c == code]
            assert sorted({ln.part for ln in lines}) == (list(range(len(parts))) if len(parts) > 1 else [0])


@pytest.fixture
def billed(engine):
    """ACME (per billing day, the 5th) and TWIN (per document), alike otherwise: each with an
    order of a one-time line and a monthly line from 15 March, and the same usage in March."""
    with session_scope(engine) as session:
        setup_usage(session)
        user = create_user(session, "rep@example.com", "Rep", "rep")[0].id
        update_account(session, "ACME", {"invoice_consolidation": "per_billing_day", "billing_day": 5})
        create_account(session, {"code": "TWIN", "name": "Twin", "currency": "USD", "billing_address": TEXAS})
        orders = {}
        for code in ("ACME", "TWIN"):
            account = get_account(session, code)
            orders[code] = order_for(session, account.id, user, [("a", "one_time", 3, "999.99"),
                                                                ("s", "monthly", 7, "123.45", 12, "services")]).id
        usage.ingest(session, rows(*[record(f"{code}-{n}", quantity, meter, account=code)
                                     for code in ("ACME", "TWIN")
                                     for n, (quantity, meter) in enumerate([("12", "api_calls"), ("250", "sms"),
                                                                            ("130.5", "storage_gb")])]),
                     datetime(2026, 3, 20, tzinfo=timezone.utc))
    return orders


def test_the_billing_day_gathers_everything_due_on_one_invoice_that_keeps_each_source(engine, billed):
    april = [date(2026, 4, d) for d in range(1, 6)]
    with session_scope(engine) as session:
        twin = [i.id for i in order_billing.bill_due_periods(session, april[0])]
        assert twin == []                                     # nothing is scheduled before the first invoice
        twin.append(order_billing.invoice_order(session, session.get(Order, billed["TWIN"]), april[4]).id)
        assert all(billing_days.bill(session, day, _midnight(day)).invoices == [] for day in april[:4])
        runs = rating.close_due_periods(session, _midnight(april[3]))
        twin += runs[0].invoices
        assert len(runs[0].invoices) == 1                     # TWIN's; ACME's usage waits for its billing day
        assert not session.get(UsagePeriod, date(2026, 3, 1)).complete
        day = billing_days.bill(session, april[4], _midnight(april[4]))
        assert len(day.invoices) == 1 and day.with_usage == {day.invoices[0].id} and day.failed == []
        invoice = day.invoices[0]
        lines = invoices.lines_of(session, invoice)
        separate = [ln for i in twin for ln in invoices.lines_of(session, session.get(Invoice, i))]
        assert [_line(ln) for ln in lines] == [_line(ln) for ln in separate]
        assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == tuple(
            sum(getattr(session.get(Invoice, i), name) for i in twin) for name in ("net_total", "tax_total", "gross_total"))
        assert invoice.order_id is None and invoice.reason.startswith("Order O-") and "Usage 2026-03" in invoice.reason
        order_lines = [ln for ln in lines if ln.order_id == billed["ACME"]]
        assert [(ln.order_line_key, ln.period_start) for ln in order_lines] == [
            ("a", None), ("s", date(2026, 3, 15)), ("s", date(2026, 4, 1))]
        assert {ln.part for ln in order_lines} == {0} and {ln.part for ln in lines if ln.order_id is None} == {1}
        periods = session.exec(select(BillingPeriod).where(BillingPeriod.order_id == billed["ACME"],
                                                           BillingPeriod.invoice_id.is_not(None))).all()
        assert {p.invoice_id for p in periods} == {invoice.id} and len(periods) == 2
        charges = session.exec(select(UsageCharge).where(UsageCharge.account_id == invoice.account_id)).all()
        assert len(charges) == 3 and {c.invoice_id for c in charges} == {invoice.id}
        assert billing_days.bill(session, april[4], _midnight(april[4])).invoices == []     # billed once
        assert rating.close_due_periods(session, _midnight(april[4]))[0].invoices == []
        assert session.get(UsagePeriod, date(2026, 3, 1)).complete
        with pytest.raises(InvalidTransition, match="nothing is due"):
            order_billing.invoice_order(session, session.get(Order, billed["ACME"]), april[4])
        may = order_billing.bill_due_periods(session, date(2026, 5, 1))        # ACME's May waits for 5 May
        assert [i.account_id for i in may] == [get_account(session, "TWIN").id]


def test_the_daily_jobs_issue_a_consolidated_invoice_without_usage_and_leave_one_with_usage_for_review(engine, billed):
    done = {}
    jobs.run(engine, date(2026, 4, 5), {"name": "Seller"}, lambda step, lines: done.setdefault(step, lines))
    assert len(done["billing day"]) == 1 and "bills usage, for review" in done["billing day"][0]
    with session_scope(engine) as session:
        update_account(session, "ACME", {"billing_day": 6})
        order = order_for(session, get_account(session, "ACME").id,
                          create_user(session, "rep2@example.com", "Rep", "rep")[0].id, [("b", "one_time", 1, "10.00")]).id
    done.clear()
    jobs.run(engine, date(2026, 4, 6), {"name": "Seller"}, lambda step, lines: done.setdefault(step, lines))
    assert len(done["billing day"]) == 1 and done["billing day"][0].endswith(": issued"), done
    with session_scope(engine) as session:
        issued = session.exec(select(InvoiceLine).where(InvoiceLine.order_id == order)).one()
        assert session.get(Invoice, issued.invoice_id).state == "open"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone.utc)


@pytest.mark.parametrize("how, due, invoiced", [
    ("per_document", date(2026, 3, 20), date(2026, 3, 20)),
    ("per_billing_day", date(2026, 3, 10), date(2026, 3, 15)),
    ("per_billing_day", date(2026, 3, 15), date(2026, 3, 15)),
    ("per_billing_day", date(2026, 3, 16), date(2026, 4, 15)),
    ("per_billing_day", date(2026, 12, 31), date(2027, 1, 15)),
])
def test_what_is_due_is_invoiced_on_the_accounts_billing_day(how, due, invoiced):
    account = Account(code="A", name="A", currency="USD", invoice_consolidation=how, billing_day=15)
    assert consolidation.billing_date(account, due) == invoiced
