"""Usage ingestion and rating against the database (billing/usage.py, billing/rating.py):
records stored once, bad batches refused whole with every bad row named, periods and their
grace, rating into draft invoices exactly and once, usage so far, and the daily job."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from billing import rating, usage
from billing_flow import postgres_only
from billing.models import Invoice, InvoiceLine
from billing.usage_models import UsageCharge, UsagePeriod, UsageRecord, closes_at, period_of
from core.db import aware, session_scope
from core.errors import InvalidTransition
from core.validation import DocumentValidationError
from sales.accounts import get_account
from tasks import jobs
from usage_flow import CLOSED, MARCH, NUMBER, record, rows, setup_usage

pytestmark = pytest.mark.postgres

D = Decimal
PERIOD = date(2026, 3, 1)


@pytest.fixture
def db(engine):
    with session_scope(engine) as session:
        setup_usage(session)
    return engine


def ingest(engine, *records, now=MARCH, **options):
    with session_scope(engine) as session:
        return usage.ingest(session, rows(*records), now, **options)


def refused(engine, *records, now=MARCH, **options) -> list[tuple[str, str]]:
    with pytest.raises(DocumentValidationError) as caught:
        ingest(engine, *records, now=now, **options)
    return [(e.path, e.reason) for e in caught.value.errors]


def stored(engine) -> list[tuple[str, Decimal, date]]:
    with session_scope(engine) as session:
        return [(r.idempotency_key, r.quantity, r.period)
                for r in session.exec(select(UsageRecord).order_by(UsageRecord.idempotency_key))]


# ingestion ---------------------------------------------------------------------------------------

def test_records_are_stored_once_and_a_duplicate_is_harmless(db):
    first = ingest(db, record("a", "2.5"), record("b", 3), record("c", "0.000001", meter="storage_gb"))
    assert (first.received, first.accepted, first.duplicates) == (3, 3, ())
    again = ingest(db, record("a", "2.5"), record("d", 1), record("d", 1))
    assert (again.received, again.accepted, again.duplicates) == (3, 1, (("ACME", "a"), ("ACME", "d")))
    assert stored(db) == [("a", D("2.5"), PERIOD), ("b", 3, PERIOD), ("c", D("0.000001"), PERIOD), ("d", 1, PERIOD)]


def test_a_key_is_unique_per_account_not_across_accounts(db):
    with session_scope(db) as session:
        get_account(session, "NOADDR")            # same currency, same book
    assert ingest(db, record("k"), record("k", account="NOADDR")).accepted == 2


def test_a_bad_batch_stores_nothing_and_names_every_bad_row(db):
    problems = refused(db, record("ok"), record("", "-1", meter="Bad Meter", account="NOBODY"),
                       record("x", "1.0000001", event_time="2026-03-14T09:30:00"), record("y", meter="unpriced"),
                       record("z", account="NOBODY"), {"account": "ACME", "extra": 1}, "not an object",
                       record("w", subscription_id=0, event_time="2026-03-25T00:00:00Z"))
    assert problems == [
        ("records[1].meter", "must match ^[a-z][a-z0-9_]{0,39}$"),
        ("records[1].idempotency_key", "is required"),
        ("records[1].quantity", NUMBER),
        ("records[2].quantity", "at most 6 decimals"),
        ("records[2].event_time", "expected an ISO 8601 time with its UTC offset, such as 2026-03-14T09:30:00Z"),
        ("records[3].meter", "no price book of account ACME prices meter 'unpriced'"),
        ("records[4].account", "unknown account 'NOBODY'"),
        ("records[5].extra", "unknown field; expected one of account, meter, quantity, event_time, idempotency_key, "
                             "subscription_id"),
        ("records[5].meter", "is required"),
        ("records[5].idempotency_key", "is required"),
        ("records[5].quantity", "is required"),
        ("records[5].event_time", "is required"),
        ("records[6]", "expected an object with account, meter, quantity, event_time, idempotency_key, subscription_id"),
        ("records[7].event_time", "is later than the time it was received (2026-03-20T12:00:00+00:00)"),
        ("records[7].subscription_id", "expected an integer from 1 to 2147483647"),
    ]
    assert stored(db) == []


def test_a_record_of_another_currency_needs_a_book_in_it(db):
    assert refused(db, record("e", account="EURO")) == [
        ("records[0].meter", "no price book of account EURO prices meter 'api_calls'")]


def test_the_subscription_id_is_kept_as_reported(db):
    ingest(db, record("s", subscription_id=42))
    with session_scope(db) as session:
        assert session.exec(select(UsageRecord.subscription_id)).one() == 42


def test_a_later_batch_that_fails_takes_the_earlier_batches_with_it(db, monkeypatch):
    monkeypatch.setattr(usage, "BATCH", 2)
    problems = refused(db, record("a"), record("b"), record("c"), record("d", "x"))
    assert problems == [("records[3].quantity", NUMBER)]
    assert stored(db) == []
    assert ingest(db, record("a"), record("b"), record("c")).accepted == 3     # in two batches


# periods -----------------------------------------------------------------------------------------

def test_a_late_record_within_the_grace_goes_to_its_period(db):
    april_2nd = datetime(2026, 4, 2, 8, 0, tzinfo=timezone.utc)
    ingest(db, record("april", event_time="2026-03-31T23:59:59-00:30"),      # 1 April, 00:29:59 UTC
           record("late", event_time="2026-04-01T00:30:00+02:00"), now=april_2nd)   # 31 March, 22:30 UTC
    assert [(k, p) for k, _q, p in stored(db)] == [("april", date(2026, 4, 1)), ("late", PERIOD)]
    assert closes_at(PERIOD, 3) == datetime(2026, 4, 4, tzinfo=timezone.utc)


def test_a_record_past_the_grace_is_refused_naming_the_period(db):
    assert refused(db, record("too-late"), now=CLOSED) == [
        ("records[0].event_time", "usage period 2026-03 is closed: it took late records until 2026-04-04 00:00 UTC "
                                  "(3 days after its end)")]
    assert ingest(db, record("longer"), now=CLOSED, grace_days=5).accepted == 1


def test_a_rated_period_takes_no_more_records_but_duplicates_stay_harmless(db):
    ingest(db, record("a"))
    with session_scope(db) as session:
        rating.rate_period(session, PERIOD, CLOSED)
    assert refused(db, record("b"), now=CLOSED, grace_days=30) == [
        ("records[0].event_time", "usage period 2026-03 is closed: it was rated on 2026-04-04")]
    assert ingest(db, record("a"), now=CLOSED, grace_days=30).duplicates == (("ACME", "a"),)
    assert ingest(db, record("a"), now=CLOSED).duplicates == (("ACME", "a"),)


# rating ------------------------------------------------------------------------------------------

def march_usage(engine):
    ingest(engine, *[record(f"api-{i}", 1, event_time=f"2026-03-{i + 1:02d}T10:00:00Z") for i in range(12)],
           record("gb-1", "120.5", meter="storage_gb"), record("gb-2", "129.5", meter="storage_gb"),
           record("sms-1", 1001, meter="sms"), record("other", 7, account="NOADDR"),
           record("april", 3, event_time="2026-04-01T00:00:00Z", account="ACME"),
           now=datetime(2026, 4, 1, 12, tzinfo=timezone.utc))


def test_rating_drafts_an_invoice_line_per_meter_with_its_usage_summary(db):
    march_usage(db)
    with session_scope(db) as session:
        run = rating.rate_period(session, PERIOD, CLOSED)
        assert run.failed == [rating.Unrated("NOADDR", "billing_address.country: is needed to find the tax jurisdiction")]
        [invoice] = [session.get(Invoice, i) for i in run.invoices]
        lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                             .order_by(InvoiceLine.position)).all()
        assert [(ln.product, ln.quantity, ln.net_amount, ln.tax_category, ln.tax_amount) for ln in lines] == [
            ("API-CALLS", 12, D("41.60"), "standard", D("2.60")),
            ("API-CALLS", 1, D("8.40"), "standard", D("0.52")),                  # the true-up to 50.00
            ("SMS", 1001, D("55.00"), "standard", D("3.44")),
            ("STORAGE", 250, D("0.23"), "services", 0)]                          # 150 x 0.0015 = 0.225
        assert lines[0].description == ("API calls, 2026-03: 12 call: 10 (0-10) at 1.00 + 10.00; "
                                         "2 (over 10) at 0.80 + 20.00")
        assert lines[1].description == "API calls, 2026-03: minimum commitment 50.00 (usage 41.60), true-up"
        assert lines[3].description == "Storage, 2026-03: 250 GB-day; 100 included; 150 billed: 150 (over 0) at 0.0015"
        assert all((ln.period_start, ln.period_end) == (PERIOD, date(2026, 3, 31)) for ln in lines)
        assert (invoice.state, invoice.net_total, invoice.reason) == ("draft", D("105.23"), "Usage 2026-03")
        assert invoice.gross_total == invoice.net_total + invoice.tax_total == D("111.79")   # 6.25% of 105.00
        charges = session.exec(select(UsageCharge).order_by(UsageCharge.meter)).all()
        assert [(c.meter, c.records, c.quantity, c.allowance_used, c.billable, c.amount, c.true_up)
                for c in charges] == [("api_calls", 12, 12, 0, 12, D("41.60"), D("8.40")),
                                      ("sms", 1, 1001, 0, 1001, D("55.00"), 0),
                                      ("storage_gb", 2, 250, 100, 150, D("0.23"), 0)]
        assert charges[1].steps == [{"above": "0", "up_to": None, "quantity": "11", "unit_price": "5.00",
                                     "flat_fee": "0", "amount": "55.00"}]
        closed = session.get(UsagePeriod, PERIOD)
        assert (aware(closed.rated_at), closed.complete) == (CLOSED, False)   # NOADDR is left for the next run


def test_rating_twice_does_nothing_and_the_account_left_out_is_rated_once_fixed(db):
    march_usage(db)
    with session_scope(db) as session:
        first = rating.rate_period(session, PERIOD, CLOSED)
    with session_scope(db) as session:
        assert (rating.rate_period(session, PERIOD, CLOSED).invoices, len(first.invoices)) == ([], 1)
        get_account(session, "NOADDR").billing_address = {"country": "US", "region": "NY", "city": "Albany"}
    with session_scope(db) as session:
        fixed = rating.rate_period(session, PERIOD, CLOSED + timedelta(days=1))
        assert (len(fixed.invoices), fixed.failed) == (1, [])
        assert session.get(Invoice, fixed.invoices[0]).net_total == D("50.00")   # 7 calls: 17.00, minimum 50.00
        assert session.get(UsagePeriod, PERIOD).complete
    with session_scope(db) as session:
        assert rating.rate_period(session, PERIOD, CLOSED + timedelta(days=2)).invoices == []
        assert len(session.exec(select(Invoice)).all()) == 2


def test_a_period_is_rated_only_once_its_grace_has_ended(db):
    march_usage(db)
    with session_scope(db) as session, pytest.raises(InvalidTransition, match="takes late records until 2026-04-04"):
        rating.rate_period(session, PERIOD, CLOSED - timedelta(seconds=1))
    with session_scope(db) as session:
        assert rating.rate_period(session, date(2026, 2, 1), CLOSED).invoices == []   # no usage at all


def test_usage_so_far_is_priced_as_rating_will_charge_it(db):
    march_usage(db)
    with session_scope(db) as session:
        acme = get_account(session, "ACME")
        before = rating.running_usage(session, acme, PERIOD, MARCH)
        assert (before.state, before.invoice_id, before.total) == ("open", None, D("105.23"))
        assert [(m.meter, m.records, m.quantity, m.rated.total) for m in before.meters] == [
            ("api_calls", 12, 12, D("50.00")), ("sms", 1, 1001, D("55.00")), ("storage_gb", 2, 250, D("0.23"))]
        assert rating.running_usage(session, acme, PERIOD, CLOSED).state == "closing"
        assert rating.running_usage(session, acme, date(2026, 4, 1), CLOSED).total == D("50.00")   # 3 calls, minimum
        run = rating.rate_period(session, PERIOD, CLOSED)
    with session_scope(db) as session:
        after = rating.running_usage(session, get_account(session, "ACME"), PERIOD, CLOSED)
        assert (after.state, after.invoice_id, after.total) == ("rated", run.invoices[0], before.total)
        assert [(m.name, m.unit, m.rated.steps) for m in after.meters] == [
            (m.name, m.unit, m.rated.steps) for m in before.meters]


def test_a_meter_that_lost_its_price_is_shown_without_one(db):
    ingest(db, record("a"))
    with session_scope(db) as session:
        session.exec(select(UsageRecord)).one().meter = "gone"
    with session_scope(db) as session:
        [meter] = rating.running_usage(session, get_account(session, "ACME"), PERIOD, MARCH).meters
        assert (meter.rated, meter.problem) == (None, "no price book of account ACME prices meter 'gone' in 2026-03")


def test_the_daily_job_rates_the_periods_whose_grace_has_ended(db):
    march_usage(db)
    done = {}
    jobs.run(db, date(2026, 4, 3), {}, done.__setitem__)
    assert done["usage"] == []
    jobs.run(db, date(2026, 4, 4), {}, done.__setitem__)
    assert done["usage"] == ["2026-03: 1 draft invoices",
                             "2026-03: NOADDR not rated (billing_address.country: is needed to find the tax "
                             "jurisdiction)"]
    jobs.run(db, date(2026, 4, 5), {}, done.__setitem__)
    assert done["usage"] == ["2026-03: 0 draft invoices",
                             "2026-03: NOADDR not rated (billing_address.country: is needed to find the tax "
                             "jurisdiction)"]
    with session_scope(db) as session:
        assert period_of(datetime(2026, 4, 1, tzinfo=timezone.utc)) == session.get(UsagePeriod, date(2026, 4, 1)).period


def test_a_batch_waits_for_a_rating_in_progress_and_then_finds_the_period_closed(db, database_url):
    postgres_only(database_url)
    ingest(db, record("a"))
    locked, release = threading.Event(), threading.Event()
    outcome = {}

    def rate():
        with session_scope(db) as session:
            rating.rate_period(session, PERIOD, CLOSED)
            locked.set()
            release.wait(30)

    def late_batch():
        try:
            ingest(db, record("b"), now=CLOSED, grace_days=30)      # open by the clock: the lock decides
        except DocumentValidationError as exc:
            outcome["refused"] = [e.reason for e in exc.errors]

    rater = threading.Thread(target=rate)
    rater.start()
    assert locked.wait(30)
    batch = threading.Thread(target=late_batch)
    batch.start()
    batch.join(1)
    assert batch.is_alive()                                     # waiting for the period's row
    release.set()
    rater.join(30)
    batch.join(30)
    assert outcome == {"refused": ["usage period 2026-03 is closed: it was rated on 2026-04-04"]}
    assert [k for k, _q, _p in stored(db)] == ["a"]


def test_a_batch_in_progress_keeps_its_accounts_from_being_deleted(db, database_url):
    """usage_record has no foreign key (billing/usage_models.py): a batch locks its accounts."""
    postgres_only(database_url)
    with session_scope(db) as session:
        usage.ingest(session, rows(record("a")), MARCH)
        with db.connect() as other:
            other.execute(sa.text("SET lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                other.execute(sa.text("DELETE FROM account WHERE code = 'ACME'"))


def test_rating_waits_for_a_batch_in_progress_and_bills_it(db, database_url):
    postgres_only(database_url)
    ingest(db, record("a"))
    written, release = threading.Event(), threading.Event()

    def slow_batch():                                           # still in its transaction when rating starts
        with session_scope(db) as session:
            usage.ingest(session, rows(record("b", 4)), CLOSED, grace_days=30)
            written.set()
            release.wait(30)

    batch = threading.Thread(target=slow_batch)
    batch.start()
    assert written.wait(30)
    runs = []
    rater = threading.Thread(target=lambda: runs.append(_rate(db)))
    rater.start()
    rater.join(1)
    assert rater.is_alive()                                     # waiting for the batch's shared lock
    release.set()
    batch.join(30)
    rater.join(30)
    with session_scope(db) as session:
        assert session.exec(select(UsageCharge.quantity)).one() == 5


def _rate(engine):
    with session_scope(engine) as session:
        return rating.rate_period(session, PERIOD, CLOSED)
