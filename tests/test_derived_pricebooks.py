"""Derived price books (catalog/derive.py): rounding rules in every currency's minor units
(JPY 0 decimals, KWD 3), the derived version and what it records, idempotent derivation, and
the same through the API and `cpq pricebooks derive`."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from auth_helpers import sign_as
from catalog.derive import Rounding, derive_price_book, parse_rounding
from catalog.pricebook import KIND
from catalog.store import get_price_book, load_demo_price_books
from cli.main import cli
from core import ecb, versioned
from core.db import session_scope
from core.errors import InvalidInput
from core.fxrates import NewRate, NoRate, record_rates
from core.money import currency

pytestmark = pytest.mark.postgres

D = Decimal
HISTORY = (Path(__file__).parent / "ecb" / "eurofxref-hist.csv").read_text()
USD, JPY, KWD, EUR = (currency(c) for c in ("USD", "JPY", "KWD", "EUR"))
DAY = date(2026, 12, 5)
USD_EUR = D("0.947867298578199")        # 1 / 1.0550, the inverted ECB rate of DAY
USD_JPY = D("153.412322274882")         # 161.85 / 1.0550, across the ECB's euro
USD_KWD = D("0.307203791469194")        # 0.3241 / 1.0550 (KWD recorded by hand: the ECB has none)


# ---- rounding rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule, cur, amount, expected", [
    (Rounding(), USD, D("10.005"), D("10.01")),                       # half up, to the cent
    (Rounding(), JPY, D("1234.5"), D("1235")),                        # no decimals
    (Rounding(), KWD, D("1.2345"), D("1.235")),                       # three decimals
    (Rounding(mode="down"), KWD, D("1.2349"), D("1.234")),
    (Rounding(mode="up"), JPY, D("1234.01"), D("1235")),
    (Rounding(step=D("0.05")), EUR, D("10.024"), D("10.00")),
    (Rounding(step=D("0.05")), EUR, D("10.025"), D("10.05")),
    (Rounding(step=D("0.05"), mode="up"), EUR, D("10.001"), D("10.05")),
    (Rounding(step=D("0.05"), mode="down"), EUR, D("10.049"), D("10.00")),
    (Rounding(step=D("10")), JPY, D("12345"), D("12350")),
    (Rounding(step=D("1")), USD, D("99.49"), D("99.00")),
    (Rounding(step=D("0.005")), KWD, D("1.2374"), D("1.235")),
    (Rounding(charm=D("0.99")), EUR, D("10.48"), D("9.99")),
    (Rounding(charm=D("0.99")), EUR, D("10.49"), D("10.99")),
    (Rounding(charm=D("0.99"), mode="up"), EUR, D("11.00"), D("11.99")),
    (Rounding(charm=D("0.99"), mode="down"), EUR, D("11.98"), D("10.99")),
    (Rounding(charm=D("0.99"), mode="down"), EUR, D("0.50"), D("0.99")),    # never below the ending
    (Rounding(charm=D("9")), USD, D("1234.56"), D("1239.00")),
    (Rounding(charm=D("990")), JPY, D("12345"), D("11990")),
    (Rounding(charm=D("990"), mode="up"), JPY, D("12345"), D("12990")),
    (Rounding(charm=D("0.999")), KWD, D("5.6"), D("5.999")),
    (Rounding(charm=D("0.99")), EUR, D("0"), D("0.00")),              # free stays free
    (Rounding(step=D("10"), mode="up"), JPY, D("0"), D("0")),
])
def test_a_rounding_rule(rule, cur, amount, expected):
    rule.check(cur)
    result = rule.apply(amount, cur)
    assert result == expected and result.as_tuple().exponent == -cur.minor_units


@pytest.mark.parametrize("rule, cur, field, reason", [
    (Rounding(step=D("0.5")), JPY, "rounding.step", "0.5 is finer than JPY's minor unit (0 decimals)"),
    (Rounding(charm=D("0.99")), JPY, "rounding.charm", "0.99 is finer than JPY's minor unit (0 decimals)"),
    (Rounding(step=D("0.0005")), KWD, "rounding.step", "0.0005 is finer than KWD's minor unit (3 decimals)"),
    (Rounding(step=D("0")), USD, "rounding.step", "must be more than 0"),
    (Rounding(step=D("1"), charm=D("0.99")), USD, "rounding", "give a step or a charm ending, not both"),
    (Rounding(mode="sideways"), USD, "rounding.mode", "expected one of nearest, up, down"),
])
def test_a_rule_that_cannot_make_minor_units_is_refused(rule, cur, field, reason):
    with pytest.raises(InvalidInput) as caught:
        rule.check(cur)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_the_cli_spelling_of_a_rule():
    assert parse_rounding("minor", "up") == Rounding(mode="up")
    assert parse_rounding("charm:.99") == Rounding(charm=D("0.99"))
    assert parse_rounding("step:10", "down") == Rounding(step=D("10"), mode="down")
    for bad in ("charm", "step:abc", "nearest:1", "minor:1"):
        with pytest.raises(InvalidInput, match="expected minor, step:AMOUNT"):
            parse_rounding(bad)


CURRENCIES = st.sampled_from([USD, JPY, KWD, EUR, currency("ISK"), currency("BHD")])
AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=4)
RATES = st.decimals(min_value=D("0.0001"), max_value=20000, places=6).filter(bool)


@st.composite
def rules(draw, cur):
    mode = draw(st.sampled_from(["nearest", "up", "down"]))
    kind = draw(st.sampled_from(["minor", "step", "charm"]))
    units = draw(st.integers(min_value=1, max_value=10**4))
    if kind == "step":
        return Rounding(step=units * cur.quantum, mode=mode)
    if kind == "charm":
        return Rounding(charm=(units - 1) * cur.quantum, mode=mode)
    return Rounding(mode=mode)


@given(st.data(), CURRENCIES, AMOUNTS, RATES)
def test_derived_prices_are_always_in_the_targets_minor_units(data, cur, amount, fx):
    """Whatever the rule: minor units, never negative, within one step of the exact price,
    and on the side the mode says (a charm price may sit at its ending, above the price)."""
    rule = data.draw(rules(cur))
    rule.check(cur)
    exact = amount * fx
    price = rule.apply(exact, cur)
    assert price == price.quantize(cur.quantum) and price >= 0
    step = rule.charm_unit if rule.charm is not None else (rule.step or cur.quantum)
    if not exact:
        assert price == 0
    elif rule.charm is not None and price == rule.charm:
        assert exact < rule.charm + step
    else:
        assert abs(price - exact) <= step
        assert price >= exact if rule.mode == "up" else True
        assert price <= exact if rule.mode == "down" else True


# ---- deriving a book ----------------------------------------------------------------------

@pytest.fixture
def session(engine):
    with session_scope(engine) as session:
        load_demo_price_books(session)
        ecb.import_rates(session, HISTORY)
        record_rates(session, [NewRate("EUR", "KWD", DAY, D("0.3241"), "manual")])
        yield session


def test_a_derived_book_converts_every_price_at_the_days_rate(session):
    source = get_price_book(session, "list-usd")
    row, created = derive_price_book(session, "list-usd", "EUR", "list-eur-derived", DAY)
    book = get_price_book(session, "list-eur-derived")
    assert created and book.version == 1 and book.currency == EUR and book.title == "List prices (USD) in EUR (derived)"
    for code, entry in source.products.items():
        assert book.products[code].price.amount == EUR.round(entry.price.amount * USD_EUR)
        if entry.price.cost is not None:
            assert book.products[code].price.cost == EUR.round(entry.price.cost * USD_EUR)
        assert (book.products[code].charge, book.products[code].term_months) == (entry.charge, entry.term_months)
    xg = source.options["rack-server"]["cpu"]["xg6430"]
    assert book.options["rack-server"]["cpu"]["xg6430"].price.amount == EUR.round(xg.price.amount * USD_EUR)
    assert book.options["rack-server"]["cpu"]["xg6430"].per == xg.per
    for part, price in source.components.items():
        assert book.components[part].amount == EUR.round(price.amount * USD_EUR)
    assert book.cost_from_bom == "cost" and book.cost_rate == D("0.947867299")
    assert book.derived_from == {"pricebook": "list-usd", "version": 2, "currency": "USD", "rate": str(USD_EUR),
                                 "rate_on": "2026-12-05", "rate_source": "ECB, inverted",
                                 "rounding": {"minor_unit": True, "mode": "nearest"}}
    assert (book.valid_from, book.channels) == (source.valid_from, source.channels)
    assert get_price_book(session, "list-usd").source == source.source          # the source is untouched


@pytest.mark.parametrize("target, rate, rule", [
    ("JPY", USD_JPY, Rounding(step=D("10"), mode="up")),
    ("JPY", USD_JPY, Rounding(charm=D("990"))),
    ("KWD", USD_KWD, Rounding()),
    ("KWD", USD_KWD, Rounding(charm=D("0.999"), mode="down")),
])
def test_jpy_and_kwd_books(session, target, rate, rule):
    source = get_price_book(session, "list-usd")
    derive_price_book(session, "list-usd", target, f"list-{target.lower()}", DAY, rule)
    book, cur = get_price_book(session, f"list-{target.lower()}"), currency(target)
    for code, entry in source.products.items():
        price = book.products[code].price.amount
        assert price == rule.apply(entry.price.amount * rate, cur)
        assert price.as_tuple().exponent == -cur.minor_units
    assert book.derived_from["rounding"] == rule.describe()


def test_deriving_again_changes_nothing_and_a_new_day_makes_a_version(session):
    first, created = derive_price_book(session, "list-usd", "EUR", "list-eur-derived", DAY, Rounding(charm=D("0.99")))
    again, created_again = derive_price_book(session, "list-usd", "EUR", "list-eur-derived", DAY, Rounding(charm=D("0.99")))
    assert created and not created_again and again.id == first.id
    later, created_later = derive_price_book(session, "list-usd", "EUR", "list-eur-derived", date(2026, 12, 7),
                                             Rounding(charm=D("0.99")))
    assert not created_later and later.id == first.id        # no newer rate than the 5th: the same book
    newer, created_newer = derive_price_book(session, "list-usd", "EUR", "list-eur-derived", date(2026, 12, 4),
                                             Rounding(charm=D("0.99")))
    assert created_newer and newer.version == 2
    assert versioned.active_version(session, KIND, "list-eur-derived") == 1            # loading never activates
    derive_price_book(session, "list-usd", "EUR", "list-eur-derived", date(2026, 12, 4), Rounding(charm=D("0.99")),
                      activate=True)
    assert versioned.active_version(session, KIND, "list-eur-derived") == 2
    assert derive_price_book(session, "list-eur-derived", "KWD", "list-kwd", DAY)[0].source["derived_from"][
        "pricebook"] == "list-eur-derived"                                           # derived from a derived one


def test_what_cannot_be_derived(session):
    with pytest.raises(NoRate, match="no exchange rate from USD to EUR on or before 2025-01-01"):
        derive_price_book(session, "list-usd", "EUR", "x", date(2025, 1, 1))
    with pytest.raises(InvalidInput, match="name: a derived price book needs a name of its own"):
        derive_price_book(session, "list-usd", "EUR", "list-usd", DAY)
    with pytest.raises(InvalidInput, match="currency: 'XXY' is not an ISO 4217"):
        derive_price_book(session, "list-usd", "XXY", "x", DAY)
    with pytest.raises(InvalidInput, match="rounding.step"):
        derive_price_book(session, "list-usd", "JPY", "x", DAY, Rounding(step=D("0.05")))
    assert versioned.latest_version(session, KIND, "x") is None


# ---- the API and the CLI ----------------------------------------------------------------------

@pytest.fixture
def loaded(app):
    with session_scope(app.extensions["cpq_engine"]) as session:
        load_demo_price_books(session)
        ecb.import_rates(session, HISTORY)


def test_deriving_through_the_api(app, client, loaded):
    sign_as(app, client, "admin")
    body = {"currency": "JPY", "name": "list-jpy", "on": "2026-12-05", "rounding": {"step": "100", "mode": "up"},
            "activate": True}
    made = client.post("/api/v1/pricebooks/list-usd/derive", json=body)
    assert made.status_code == 201, made.get_json()
    shown = made.get_json()
    assert shown["name"] == "list-jpy" and shown["version"] == 1 and shown["active"]
    assert shown["source"]["currency"] == "JPY" and shown["source"]["products"]["rack-server"]["price"] == "299200"
    assert shown["source"]["derived_from"]["rate"] == str(USD_JPY)
    assert shown["source"]["derived_from"]["rate_source"] == "ECB via EUR"
    again = client.post("/api/v1/pricebooks/list-usd/derive", json=body)
    assert again.status_code == 200 and again.get_json()["version"] == 1
    assert client.get("/api/v1/pricebooks/list-jpy").get_json()["source"]["derived_from"]["pricebook"] == "list-usd"


@pytest.mark.parametrize("body, field", [
    ({"currency": "JPY", "name": "list-jpy", "rounding": {"charm": "0.99"}}, "rounding.charm"),
    ({"currency": "EUR", "name": "list-eur-x", "rounding": {"step": "1", "charm": "0.99"}}, "rounding.charm"),
    ({"currency": "EUR", "name": "list-eur-x", "rounding": {"step": "0"}}, "rounding.step"),
    ({"currency": "EUR", "name": "list-eur-x", "rounding": {"mode": "up-ish"}}, "rounding.mode"),
    ({"currency": "EUR", "name": "List EUR"}, "name"),
    ({"currency": "EURO", "name": "list-eur-x"}, "currency"),
    ({"name": "list-eur-x"}, "currency"),
    ({"currency": "EUR", "name": "list-eur-x", "on": "2025-01-01"}, "currency"),      # no rate then
    ({"currency": "EUR", "name": "list-eur-x", "version": 7}, None),                   # 404
])
def test_a_bad_derivation_is_a_4xx_naming_the_field(app, client, loaded, body, field):
    sign_as(app, client, "admin")
    response = client.post("/api/v1/pricebooks/list-usd/derive", json={"on": "2026-12-05"} | body)
    if field is None:
        assert response.status_code == 404
    else:
        assert response.status_code == 422, response.get_json()
        assert field in response.get_json()["error"]["fields"]
    assert client.get("/api/v1/pricebooks/list-eur-x").status_code == 404


def test_only_admins_derive(app, client, loaded):
    sign_as(app, client, "finance")
    assert client.post("/api/v1/pricebooks/list-usd/derive", json={"currency": "EUR", "name": "x"}).status_code == 403


def test_cpq_pricebooks_derive(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    for args in (["db", "upgrade"], ["models", "load-demo"], ["rates", "import", str(Path(__file__).parent / "ecb" / "eurofxref-hist.csv")]):
        assert runner.invoke(cli, args, env=env).exit_code == 0
    args = ["pricebooks", "derive", "list-usd", "--currency", "eur", "--name", "list-eur-derived", "--on", "2026-12-05",
            "--rounding", "charm:.99", "--rounding-mode", "up"]
    made = runner.invoke(cli, args, env=env)
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines() == [
        "price book list-eur-derived version 1 (EUR): active",
        f"from list-usd version 2 (USD) at {USD_EUR} (ECB, inverted, effective 2026-12-05)"]
    again = json.loads(runner.invoke(cli, args + ["--json"], env=env).stdout)
    assert again["version"] == 1 and again["source"]["derived_from"]["rounding"] == {"charm": "0.99", "mode": "up"}
    assert again["source"]["products"]["rack-server"]["price"].endswith(".99")
    bad = runner.invoke(cli, args[:-4] + ["--rounding", "charm:x"], env=env)
    assert bad.exit_code == 1 and "rounding: expected minor, step:AMOUNT" in bad.stderr
