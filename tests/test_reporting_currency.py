"""Reports in a reporting currency (billing/reporting.py) through the API: aging, DSO, the
revenue report and a ledger balance with ?currency=, each converted amount beside its rate,
figures rounded once and reconciling; the CPQ_REPORTING_CURRENCY default; the dashboard's
selector."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_helpers import sign_as
from billing.revenue import PeriodRow
from billing.reporting import revenue_in, split
from billing_flow import issue, make_account, pay
from core import ecb
from core.db import session_scope
from core.fxrates import NoRate, rate
from core.money import currency
from core.settings import Settings
from quote_flow import call, customer, env, ok, sent  # noqa: F401
from test_billing_api import chain  # noqa: F401

pytestmark = pytest.mark.postgres

D = Decimal
HISTORY = (Path(__file__).parent / "ecb" / "eurofxref-hist.csv").read_text()
TODAY = date(2026, 12, 5)
EUR = currency("EUR")


@pytest.fixture
def books(app, client):
    """Three accounts in USD, GBP and JPY with open invoices, a payment on account, and the ECB's rates."""
    with session_scope(app.extensions["cpq_engine"]) as session:
        ecb.import_rates(session, HISTORY)
        usd, gbp, jpy = (make_account(session, code, cur) for code, cur in (("ACME", "USD"), ("BRIT", "GBP"), ("NIPPON", "JPY")))
        issue(session, usd, "1000.01", TODAY - timedelta(days=10))              # 1-30
        issue(session, usd, "333.33", TODAY + timedelta(days=5))                # current
        issue(session, gbp, "2500.00", TODAY - timedelta(days=45))              # 31-60
        issue(session, jpy, "123457", TODAY - timedelta(days=100))              # 90+
        pay(session, gbp, "100.00", "on-account", on=TODAY - timedelta(days=3), allocations=[])
    sign_as(app, client, "finance")
    return client


def get(client, path):
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_aging_in_euros_every_account_beside_its_rate(app, books):
    report = get(books, f"/collections/aging?today={TODAY}&currency=EUR")
    assert report["totals"]["USD"]["total"] == "1333.34"                   # the per-currency report is unchanged
    shown = report["reporting"]
    assert shown["currency"] == "EUR" and shown["basis"] == "every amount at the rate effective on the report date, 2026-12-05"
    assert shown["accounts"]["BRIT"]["from"] == "GBP" and shown["accounts"]["BRIT"]["currency"] == "EUR"
    assert shown["accounts"]["ACME"]["rate"] == {"from": "USD", "to": "EUR", "rate": "0.947867298578199",
                                                 "on": "2026-12-05", "source": "ECB, inverted", "requested": "2026-12-05"}
    assert [r["from"] for r in shown["rates"]] == ["GBP", "JPY", "USD"]
    with session_scope(app.extensions["cpq_engine"]) as session:
        rates = {code: rate(session, code, "EUR", TODAY).rate for code in ("USD", "GBP", "JPY")}
    for bucket in ("current", "1-30", "31-60", "61-90", "90+"):
        exact = [D(report["accounts"][code]["buckets"][bucket]) * rates[report["accounts"][code]["currency"]]
                 for code in ("ACME", "BRIT", "NIPPON")]
        parts = [D(shown["accounts"][code]["buckets"][bucket]) for code in ("ACME", "BRIT", "NIPPON")]
        total = D(shown["totals"]["buckets"][bucket])
        assert total == EUR.round(sum(exact)) and sum(parts) == total          # rounded once; the rows add up
        assert all(abs(part - value) < EUR.quantum for part, value in zip(parts, exact))
    assert D(shown["accounts"]["ACME"]["buckets"]["1-30"]) == EUR.round(D("1000.01") * rates["USD"])
    assert D(shown["accounts"]["BRIT"]["credit"]) == D(shown["totals"]["credit"]) == EUR.round(D("100") * rates["GBP"])
    assert D(shown["totals"]["balance"]) == D(shown["totals"]["total"]) - D(shown["totals"]["credit"])
    assert get(books, f"/collections/aging?today={TODAY}")["reporting"] is None


def test_dso_in_euros_is_one_figure_over_every_currency(app, books):
    [row] = get(books, f"/collections/dso?today={TODAY}&days=365&currency=EUR")
    assert row["currency"] == "EUR" and row["basis"].endswith("2026-12-05") and row["days"] == 365
    conversions = {c["from"]: c for c in row["conversions"]}
    assert set(conversions) == {"USD", "GBP", "JPY"}
    assert conversions["JPY"]["original"] == {"receivables": "123457", "credit_sales": "123457"}
    assert conversions["JPY"]["rate"]["source"] == "ECB, inverted"
    assert sum(D(c["converted"]["receivables"]) for c in conversions.values()) == D(row["receivables"])
    assert D(row["value"]) == (D(row["receivables"]) / D(row["credit_sales"]) * 365).quantize(D("0.1"))
    assert [r["currency"] for r in get(books, f"/collections/dso?today={TODAY}&days=365")] == ["GBP", "JPY", "USD"]


def test_a_ledger_balance_in_another_currency(books):
    ledger = get(books, f"/accounts/NIPPON/ledger?currency=USD&today={TODAY}")
    assert ledger["balance"] == "123457" and ledger["reporting"]["currency"] == "USD"
    assert ledger["reporting"]["rate"]["source"] == "ECB via EUR"
    assert D(ledger["reporting"]["balance"]) == currency("USD").round(D("123457") * D("1.055") / D("161.85"))
    assert get(books, "/accounts/NIPPON/ledger")["reporting"] is None


def test_without_a_rate_or_with_a_bad_currency_a_report_is_a_422_naming_currency(books):
    missing = books.get("/api/v1/collections/aging?today=2025-06-30&currency=EUR")
    assert missing.status_code == 422
    assert missing.get_json()["error"]["fields"]["currency"][0].startswith("no exchange rate from USD to EUR on or before 2025-06-30")
    bad = books.get("/api/v1/collections/dso?currency=EURO")
    assert bad.status_code == 422 and "currency" in bad.get_json()["error"]["fields"]


def test_the_default_reporting_currency_is_a_setting(app, books):
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], reporting_currency="GBP")
    assert get(books, f"/collections/dso?today={TODAY}")[0]["currency"] == "GBP"
    assert get(books, f"/collections/aging?today={TODAY}")["reporting"]["currency"] == "GBP"
    assert len(get(books, f"/collections/dso?today={TODAY}&currency=original")) == 3
    assert get(books, f"/collections/dso?today={TODAY}&currency=JPY")[0]["currency"] == "JPY"


# ---- revenue -----------------------------------------------------------------------------------

def test_revenue_months_convert_at_their_month_end(engine):
    with session_scope(engine) as session:
        ecb.import_rates(session, HISTORY)
        rows = [PeriodRow("GBP", "2026-11", D("100.00"), D("100.00"), D("900.00")),
                PeriodRow("GBP", "2026-12", D("100.00"), D("200.00"), D("800.00")),
                PeriodRow("JPY", "2026-12", D("10000"), D("10000"), D("90000")),
                PeriodRow("USD", "2025-12", D("5.00"), D("5.00"), D("0.00"))]
        converted = revenue_in(session, rows, "EUR")
        gbp_dec5 = rate(session, "GBP", "EUR", date(2026, 12, 31))
        with pytest.raises(NoRate):
            revenue_in(session, [PeriodRow("USD", "2025-11", D(1), D(1), D(0))], "EUR")
    assert [r.period for r in converted] == ["2025-12", "2026-11", "2026-12"]
    november = converted[1]                            # no rate in November but the 2025-12-31 one
    assert november.conversions[0].rate.on == date(2025, 12, 31) and november.basis.startswith("each month's")
    december = converted[2]
    assert [c.from_currency for c in december.conversions] == ["GBP", "JPY"]
    assert december.conversions[0].rate == gbp_dec5 and gbp_dec5.on == date(2026, 12, 5)
    for name in ("recognised", "cumulative", "deferred"):
        exact = sum((c.rate.convert(c.original[name]) for c in december.conversions), D(0))
        assert getattr(december, name) == EUR.round(exact)
        assert sum(c.converted[name] for c in december.conversions) == getattr(december, name)


def test_the_revenue_report_in_euros_through_the_api(chain):
    env, _quote, contract, order = chain
    with session_scope(env.engine) as session:
        ecb.import_rates(session, HISTORY)
    ok(call(env, "post", f"/orders/{order}/lines/1/shipments", "erp", {"quantity": "10"}), 201)
    ok(call(env, "post", f"/orders/{order}/lines/1/delivery", "erp", {}))
    ok(call(env, "post", f"/contracts/{contract}/revenue-schedule", "finance"))
    through = date.today().replace(day=1) + timedelta(days=400)
    native = ok(call(env, "get", f"/revenue?contract={contract}&through={through:%Y-%m}", "finance"))
    euros = ok(call(env, "get", f"/revenue?contract={contract}&through={through:%Y-%m}&currency=EUR", "finance"))
    assert [r["period"] for r in euros] == [r["period"] for r in native]
    for usd, eur in zip(native, euros):
        [conversion] = eur["conversions"]
        assert eur["currency"] == "EUR" and conversion["from"] == "USD" and conversion["currency"] == "EUR"
        assert conversion["original"] == {k: usd[k] for k in ("recognised", "cumulative", "deferred")}
        assert conversion["converted"] == {k: eur[k] for k in ("recognised", "cumulative", "deferred")}
        assert conversion["rate"]["requested"] == f"{eur['period']}-{_last_day(eur['period']):02d}"
        assert D(eur["deferred"]) == EUR.round(D(usd["deferred"]) * D(conversion["rate"]["rate"]))


def _last_day(period: str) -> int:
    return calendar.monthrange(int(period[:4]), int(period[5:]))[1]


# ---- the dashboard -----------------------------------------------------------------------------

def test_the_dashboard_offers_a_reporting_currency_and_prints_the_rates(env):
    with session_scope(env.engine) as session:
        ecb.import_rates(session, HISTORY)
    won, token = sent(env)
    ok(customer(env, token, "accept"))
    headers = {"Authorization": f"Bearer {env.tokens['finance']}"}
    native = env.client.get("/app/dashboard", headers=headers).get_data(as_text=True)
    assert 'name="currency"' in native and '<option value="EUR">EUR</option>' in native
    assert "Pipeline value by status (USD)" in native and "Rates used" not in native
    page = env.client.get("/app/dashboard?currency=EUR", headers=headers)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and won
    assert "Pipeline value by status (in EUR)" in html and "Pipeline value by status (USD)" not in html
    assert "Average deal size (in EUR)" in html and "Rates used" in html
    assert "1 USD = 0.947867298578199 EUR" in html and "ECB, inverted" in html
    assert '<option value="EUR" selected>EUR</option>' in html
    bad = env.client.get("/app/dashboard?currency=EURO", headers=headers)
    assert bad.status_code == 422 and b"currency" in bad.data
    gone = env.client.get("/app/dashboard?currency=KWD", headers=headers).get_data(as_text=True)
    assert "no exchange rate from USD to KWD" in gone and "Pipeline value by status (USD)" in gone


# ---- rounding once, reconciling -----------------------------------------------------------------

@given(st.sampled_from(["EUR", "JPY", "KWD"]),
       st.lists(st.decimals(min_value=-10**9, max_value=10**9, places=8), min_size=1, max_size=12))
def test_a_figure_is_rounded_once_and_its_parts_add_up_to_it(code, exact):
    cur = currency(code)
    parts, total = split(exact, cur)
    assert total == cur.round(sum(exact, D(0))) and sum(parts, D(0)) == total
    assert all(part == part.quantize(cur.quantum) and abs(part - value) < cur.quantum for part, value in zip(parts, exact))


def test_the_default_reporting_currency_comes_from_the_environment():
    assert Settings.from_env({"CPQ_REPORTING_CURRENCY": "eur"}).reporting_currency == "EUR"
    assert Settings.from_env({}).reporting_currency == ""
    with pytest.raises(ValueError, match="CPQ_REPORTING_CURRENCY: 'EURO' is not an ISO 4217 currency code"):
        Settings.from_env({"CPQ_REPORTING_CURRENCY": "euro"})
