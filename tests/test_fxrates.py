"""Exchange rates: the ECB's two CSV formats (tests/ecb/, written by hand in them), the rate
lookup (stored, inverted, across the ECB's EUR base; effective dates; no rate), idempotent
imports, and the round trip through a cross rate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ecb
from core.db import session_scope
from core.errors import InvalidInput
from core.fxrates import Converter, NewRate, NoRate, rate, rates_on, record_rates
from core.money import currency
from core.validation import DocumentValidationError

pytestmark = pytest.mark.postgres

D = Decimal
FILES = Path(__file__).parent / "ecb"
DAILY = (FILES / "eurofxref.csv").read_text()
HISTORY = (FILES / "eurofxref-hist.csv").read_text()
LEGACY = ("BGN", "CYP", "EEK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "HRK", "TRL")


@pytest.fixture
def session(engine):
    with session_scope(engine) as session:
        yield session


def by_day_and_code(parsed) -> dict:
    return {(r.on, r.quote): r.rate for r in parsed.rates}


def errors_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(DocumentValidationError) as caught:
        ecb.parse(text, "rates.csv")
    assert caught.value.kind == "exchange_rates"
    return [(e.path, e.reason) for e in caught.value.errors]


# ---- the ECB's files --------------------------------------------------------------------------

def test_the_days_file_with_its_spaces_long_date_and_trailing_comma():
    parsed = ecb.parse(DAILY)
    rates = by_day_and_code(parsed)
    day = date(2026, 12, 5)
    assert len(rates) == 29 and {r.base for r in parsed.rates} == {"EUR"} and parsed.skipped == ()
    assert rates[day, "USD"] == D("1.0550") and rates[day, "JPY"] == D("161.85")
    assert rates[day, "GBP"] == D("0.85398") and rates[day, "IDR"] == D("16896.42") and rates[day, "ZAR"] == D("18.9905")
    assert {r.source for r in parsed.rates} == {"ECB"}


def test_the_history_with_na_legacy_columns_and_trailing_commas():
    parsed = ecb.parse(HISTORY)
    rates = by_day_and_code(parsed)
    assert parsed.skipped == LEGACY                                # no current ISO 4217 currency: reported
    assert not any(code in LEGACY for _day, code in rates)
    assert (date(2026, 12, 3), "JPY") not in rates                 # N/A: no rate that day
    assert (date(2026, 12, 3), "RUB") not in rates
    assert rates[date(2026, 12, 3), "USD"] == D("1.0498") and rates[date(2025, 12, 31), "JPY"] == D("183.76")
    assert rates[date(2026, 12, 5), "HUF"] == D("385.2")
    assert len({day for day, _code in rates}) == 4
    assert parsed.rates[0].where == "line 2, column 2 (USD)"


def test_both_formats_say_the_same_for_the_same_day():
    daily, history = by_day_and_code(ecb.parse(DAILY)), by_day_and_code(ecb.parse(HISTORY))
    assert daily == {key: value for key, value in history.items() if key[0] == date(2026, 12, 5)}


def test_windows_line_ends_a_byte_order_mark_and_blank_lines_are_read():
    text = "\ufeff" + DAILY.replace("\n", "\r\n") + "\r\n\r\n"
    assert by_day_and_code(ecb.parse(text)) == by_day_and_code(ecb.parse(DAILY))


@pytest.mark.parametrize("text, where, reason", [
    ("Date,USD,\n2026-12-05,abc,\n", "line 2, column 2 (USD)", "expected a rate such as 1.0550 or N/A, not 'abc'"),
    ("Date,USD,JPY,\n2026-12-05,1.05,-3,\n", "line 2, column 3 (JPY)", "expected a rate such as 1.0550 or N/A, not '-3'"),
    ("Date,USD,\n2026-12-05,0,\n", "line 2, column 2 (USD)", "a rate must be more than 0"),
    ("Date,USD,\n2026-12-05,1.0000001,\n", "line 2, column 2 (USD)", "1.0000001 has more than 6 decimals"),
    ("Date,USD,\n2026-12-05,1e3,\n", "line 2, column 2 (USD)", "expected a rate such as 1.0550 or N/A, not '1e3'"),
    ("Date,USD,\n2026-13-05,1.05,\n", "line 2, column 1 (Date)",
     "expected a date such as 2026-12-05 or 05 December 2026, not '2026-13-05'"),
    ("Date, USD, \n05 Decembre 2026, 1.05, \n", "line 2, column 1 (Date)",
     "expected a date such as 2026-12-05 or 05 December 2026, not '05 Decembre 2026'"),
    ("Date,USD,JPY\n2026-12-05,1.05\n", "line 2", "has 2 columns; the header (line 1) has 3"),
    ("Date,USD,JPY,\n2026-12-05,1.05,\n", "line 2, column 3 (JPY)", "is empty (the ECB writes N/A where there is no rate)"),
    ("Date,USD,\n2026-12-05,1.05,7,\n", "line 2, column 3", "'7' is past the last column"),
    ("Datum,USD,\n2026-12-05,1.05,\n", "line 1, column 1", "expected the header 'Date', not 'Datum'"),
    ("Date,USD,usd,\n2026-12-05,1.05,1.05,\n", "line 1, column 3", "expected a currency code such as USD, not 'usd'"),
    ("Date,USD,USD,\n2026-12-05,1.05,1.05,\n", "line 1, column 3", "USD is a column already"),
    ("Date,EUR,\n2026-12-05,1,\n", "line 1, column 2", "the ECB's rates are in EUR; EUR cannot be a column"),
    ("Date,USD,\n2026-12-05,1.05,\n2026-12-05,1.05,\n", "line 3, column 1 (Date)", "2026-12-05 is also on line 2"),
    ("Date,USD,\n", "line 1", "the header has no rates after it"),
])
def test_a_bad_file_is_refused_naming_line_and_column(text, where, reason):
    assert (where, reason) in errors_of(text)


def test_an_empty_file_and_every_problem_at_once():
    assert errors_of("  \n\n")[0][1].startswith("is empty")
    problems = errors_of("Date,USD,JPY,\n2026-12-05,x,y,\n2026-12-04,1.05,N/A,\n2026-12-03,1.05,z,\n")
    assert [where for where, _r in problems] == ["line 2, column 2 (USD)", "line 2, column 3 (JPY)",
                                                  "line 4, column 3 (JPY)"]


# ---- recording: idempotent, immutable ------------------------------------------------------

def test_importing_a_file_again_changes_nothing(session):
    first = ecb.import_rates(session, HISTORY, "eurofxref-hist.csv")
    assert first.created == len(ecb.parse(HISTORY).rates) and first.unchanged == 0
    assert (first.first, first.last) == (date(2025, 12, 31), date(2026, 12, 5)) and first.skipped == LEGACY
    again = ecb.import_rates(session, HISTORY, "eurofxref-hist.csv")
    assert (again.created, again.unchanged) == (0, first.created)
    daily = ecb.import_rates(session, DAILY, "eurofxref.csv")     # the same day in the other format
    assert (daily.created, daily.unchanged) == (0, 29)


def test_a_file_contradicting_a_stored_rate_stores_nothing(session):
    ecb.import_rates(session, DAILY)
    before = len(rates_on(session, date(2026, 12, 31)))
    changed = DAILY.replace("0.85398", "0.86000")
    with pytest.raises(DocumentValidationError) as caught:
        ecb.import_rates(session, changed, "eurofxref.csv")
    [error] = caught.value.errors
    assert error.path == "line 2, column 6 (GBP)"
    assert error.reason == "EUR->GBP on 2026-12-05 is 0.85398, not 0.86000: a stored rate never changes"
    assert len(rates_on(session, date(2026, 12, 31))) == before


# ---- the lookup -------------------------------------------------------------------------------

@pytest.fixture
def table(session):
    ecb.import_rates(session, HISTORY)
    return session


def test_a_stored_rate_and_its_inverse(table):
    usd = rate(table, "EUR", "USD", date(2026, 12, 5))
    assert (usd.rate, usd.on, usd.source, usd.requested) == (D("1.055"), date(2026, 12, 5), "ECB", date(2026, 12, 5))
    back = rate(table, "USD", "EUR", date(2026, 12, 5))
    assert back.rate == D("0.947867298578199") and back.source == "ECB, inverted"     # 15 significant digits


def test_a_cross_rate_through_the_ecbs_euro(table):
    gbp = rate(table, "USD", "GBP", date(2026, 12, 4))
    assert gbp.rate == (D("0.85211") / D("1.0512")).quantize(D("1e-15"))
    assert (gbp.on, gbp.source) == (date(2026, 12, 4), "ECB via EUR")


def test_the_latest_rate_on_or_before_the_day(table):
    assert rate(table, "EUR", "USD", date(2026, 12, 6)).on == date(2026, 12, 5)       # a Sunday: Saturday's rate
    assert rate(table, "EUR", "USD", date(2026, 12, 3)).rate == D("1.0498")
    assert rate(table, "EUR", "USD", date(2026, 6, 30)).on == date(2025, 12, 31)
    jpy = rate(table, "EUR", "JPY", date(2026, 12, 3))                                # N/A that day
    assert (jpy.rate, jpy.on) == (D("183.76"), date(2025, 12, 31))
    cross = rate(table, "USD", "JPY", date(2026, 12, 3))                              # the older leg's day
    assert cross.on == date(2025, 12, 31) and cross.rate == (D("183.76") / D("1.0498")).quantize(D("1e-12"))


def test_no_rate_is_a_clear_error(table):
    with pytest.raises(NoRate) as before:
        rate(table, "EUR", "USD", date(2025, 12, 30))
    assert before.value.field == "currency"
    assert before.value.reason.startswith("no exchange rate from EUR to USD on or before 2025-12-30")
    with pytest.raises(NoRate, match="no exchange rate from USD to KWD"):
        rate(table, "USD", "KWD", date(2026, 12, 5))
    with pytest.raises(InvalidInput, match="'XYZ' is not an ISO 4217 currency code"):
        rate(table, "XYZ", "USD", date(2026, 12, 5), "to")


def test_the_freshest_way_wins(table):
    record_rates(table, [NewRate("USD", "GBP", date(2020, 1, 2), D("0.76"), "bank")])
    assert rate(table, "USD", "GBP", date(2026, 12, 5)).source == "ECB via EUR"      # fresher than the bank's
    assert rate(table, "USD", "GBP", date(2021, 1, 1)).rate == D("0.76")             # the only one then
    record_rates(table, [NewRate("USD", "GBP", date(2026, 12, 5), D("0.81"), "bank")])
    assert rate(table, "USD", "GBP", date(2026, 12, 5)).source == "bank"             # same day: the stored pair


def test_same_currency_is_the_identity_and_the_table_on_a_day(table):
    assert rate(table, "USD", "USD", date(1990, 1, 1)).rate == 1
    rows = rates_on(table, date(2026, 12, 3))
    assert {(r.quote, r.effective_on) for r in rows if r.quote in ("USD", "JPY")} == {
        ("USD", date(2026, 12, 3)), ("JPY", date(2025, 12, 31))}
    assert rates_on(table, date(2025, 1, 1)) == []


def test_a_converter_looks_each_rate_up_once_and_lists_what_it_used(table):
    convert = Converter(table, "EUR")
    assert convert.exact(D("105.50"), "USD", date(2026, 12, 5)) == D("105.50") * D("0.947867298578199")
    convert.exact(D("1"), "USD", date(2026, 12, 5))
    convert.exact(D("1"), "EUR", date(2026, 12, 5))
    assert [(r.base, r.on) for r in convert.rates()] == [("USD", date(2026, 12, 5))]


# ---- the round trip -----------------------------------------------------------------------

CODES = ("USD", "JPY", "GBP", "CHF", "IDR", "ISK", "KWD")


@pytest.fixture(scope="module")
def rates_db(tmp_path_factory):
    """One table for every example: EUR against each code on one day (KWD added by hand)."""
    from core.db import create_engine, upgrade_database
    url = f"sqlite:///{tmp_path_factory.mktemp('fx') / 'fx.db'}"
    upgrade_database(url)
    engine = create_engine(url)
    with session_scope(engine) as s:
        ecb.import_rates(s, HISTORY)
        record_rates(s, [NewRate("EUR", "KWD", date(2026, 12, 5), D("0.3241"), "manual")])
    yield engine
    engine.dispose()


@settings(max_examples=200)
@given(st.sampled_from(CODES), st.sampled_from(CODES), st.integers(min_value=0, max_value=10**11))
def test_there_and_back_through_a_cross_rate_stays_within_a_minor_unit(rates_db, from_, to, units):
    """Converting an amount and the result back loses at most half a minor unit each way:
    within one minor unit of the start where the target's minor unit is worth no more than
    the start's, and within what half a target unit is worth back otherwise."""
    day = date(2026, 12, 5)
    start, target = currency(from_), currency(to)
    amount = units * start.quantum
    with session_scope(rates_db) as s:
        there, back = rate(s, from_, to, day), rate(s, to, from_, day)
    converted = target.round(there.convert(amount))
    returned = start.round(back.convert(converted))
    allowed = start.quantum + back.convert(target.quantum) / 2
    assert converted == converted.quantize(target.quantum)
    assert abs(returned - amount) <= allowed
    if back.convert(target.quantum) <= start.quantum:
        assert abs(returned - amount) <= start.quantum
