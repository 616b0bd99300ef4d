"""billing.terms and billing.tax without invoices: payment terms codes, the tax rates format
and its errors, jurisdictions from billing addresses, reverse charge, inclusive prices, and
tax computed per rate group that always reconciles (a property test in JPY, USD and KWD)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.tax import (CATEGORIES, STANDARD, compute, get_tax_rates, load_demo_tax_rates, load_tax_rates_dict,
                         load_tax_rates_file, save_tax_rates)
from billing.terms import parse_terms
from core.db import session_scope
from core.errors import InvalidInput, NotFound, VersionConflict
from core.money import currency
from core.settings import DEFAULT_DEMO_DIR
from core.validation import DocumentValidationError

D = Decimal
DEMO = DEFAULT_DEMO_DIR / "tax" / "rates.yaml"
ISSUED = date(2026, 1, 31)


@pytest.fixture(scope="module")
def demo():
    return load_tax_rates_file(DEMO)


def variant(demo, **changes):
    return load_tax_rates_dict({**demo.source, **changes})


# ---- payment terms -------------------------------------------------------------------------

@pytest.mark.parametrize("code, due, discount_date, percent, label", [
    ("net30", date(2026, 3, 2), None, None, "Net 30 days"),
    ("NET45", date(2026, 3, 17), None, None, "Net 45 days"),
    ("net_60", date(2026, 4, 1), None, None, "Net 60 days"),
    ("2/10net30", date(2026, 3, 2), date(2026, 2, 10), D(2), "2% within 10 days, net 30 days"),
    ("1.5/15-net45", date(2026, 3, 17), date(2026, 2, 15), D("1.5"), "1.5% within 15 days, net 45 days"),
    ("due_on_receipt", ISSUED, None, None, "Due on receipt"),
    ("net0", ISSUED, None, None, "Due on receipt"),
])
def test_terms_give_due_and_discount_dates(code, due, discount_date, percent, label):
    terms = parse_terms(code)
    assert terms.due_date(ISSUED) == due
    assert terms.discount_date(ISSUED) == discount_date
    assert terms.discount_percent == percent
    assert terms.label() == label


@pytest.mark.parametrize("code, reason", [
    ("net", "unknown payment terms"), ("net30days", "unknown payment terms"), ("30", "unknown payment terms"),
    ("2/10", "unknown payment terms"), ("100/10net30", "unknown payment terms"), ("", "unknown payment terms"),
    ("net400", "at most 365 days"), ("3/30net30", "must end before the net period"),
    ("0/10net30", "more than 0 %"), (None, "expected a payment terms code"), (30, "expected a payment terms code"),
])
def test_bad_terms_name_the_field(code, reason):
    with pytest.raises(InvalidInput, match=reason) as err:
        parse_terms(code)
    assert err.value.field == "payment_terms"
    with pytest.raises(InvalidInput) as err:
        parse_terms(code, "accounts[3].payment_terms")
    assert err.value.field == "accounts[3].payment_terms"


def test_the_discount_is_rounded_once_in_the_currency():
    terms = parse_terms("2/10net30")
    assert terms.discount_amount(D("1062.50"), currency("USD")) == D("21.25")
    assert terms.discount_amount(D("1001"), currency("JPY")) == D("20")
    assert terms.discount_amount(D("10.025"), currency("KWD")) == D("0.201")
    assert parse_terms("net30").discount_amount(D("100"), currency("USD")) == 0


# ---- the rates file ------------------------------------------------------------------------

def test_demo_rates_load(demo):
    assert (demo.name, demo.version, demo.label) == ("standard", 1, "standard version 1")
    assert demo.seller == {"country": "US", "region": "IL", "tax_id": "US-36-4321987"}
    assert demo.jurisdictions["DE"].rates == {"standard": 19, "reduced": 7, "services": 19, "digital": 19}
    assert demo.jurisdictions["FR"].rates["reduced"] == D("5.5")
    assert demo.jurisdictions["CA-QC"].rates["standard"] == D("14.975")
    assert len(demo.reverse_charge_countries) == 27 and "GB" not in demo.reverse_charge_countries


def test_every_error_of_a_rates_file_is_reported_with_its_path(demo):
    bad = {
        "tax_rates": "Standard", "version": 0, "colour": "red",
        "seller": {"country": "Germany", "vat": "x"},
        "reverse_charge": {"countries": ["DE", "fr"]},
        "jurisdictions": {
            "us-tx": {"name": "Texas", "rates": {}},
            "DE": {"name": "Germany", "rates": {"standard": 19, "reduced": "seven", "services": 19,
                                                 "exempt": 0, "luxury": 25}},
            "FR": {"rates": {"standard": 120, "reduced": 5.55555, "services": 20, "digital": -1},
                   "inclusive_segments": ["retail"]},
        },
        "default": "export",
    }
    with pytest.raises(DocumentValidationError) as err:
        load_tax_rates_dict(bad, file="rates.yaml")
    found = {(e.path, e.reason.split(";")[0]) for e in err.value.errors}
    assert err.value.kind == "tax rates" and all(e.file == "rates.yaml" for e in err.value.errors)
    for path, reason in [
        ("colour", "unknown field"), ("tax_rates", "'Standard' must match ^[a-z0-9][a-z0-9_-]*$"),
        ("version", "must be an integer from 1 to 2147483647"),
        ("seller.country", "expected an ISO 3166 two-letter country code in capitals"),
        ("seller.vat", "unknown field"), ("reverse_charge.countries[1]", "expected an ISO 3166 two-letter "
                                                                          "country code in capitals"),
        ("reverse_charge.note", "is required"),
        ("jurisdictions.us-tx", "jurisdiction codes must match ^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$ (country, or country-region)"),
        ("jurisdictions.DE.rates.reduced", "expected a number"),
        ("jurisdictions.DE.rates.exempt", "exempt supplies are never taxed"),
        ("jurisdictions.DE.rates.luxury", "unknown tax category"),
        ("jurisdictions.DE.rates.digital", "is required (0 for a zero-rated category)"),
        ("jurisdictions.FR.name", "is required"), ("jurisdictions.FR.rates.standard", "must be at most 100"),
        ("jurisdictions.FR.rates.reduced", "at most 4 decimals"), ("jurisdictions.FR.rates.digital", "must be at least 0"),
        ("jurisdictions.FR.inclusive_segments[0]", "expected one of enterprise, mid_market, smb, public, partner, "
                                                   "consumer"),
        ("default", "expected a mapping"),
    ]:
        assert (path, reason) in found, (path, reason, sorted(found))


def test_a_rates_file_that_is_not_yaml_or_not_there(tmp_path):
    broken = tmp_path / "rates.yaml"
    broken.write_text("tax_rates: [unclosed\n")
    with pytest.raises(DocumentValidationError, match=r"rates.yaml: line 2, column 1: invalid YAML"):
        load_tax_rates_file(broken)
    with pytest.raises(DocumentValidationError, match="cannot read file"):
        load_tax_rates_file(tmp_path / "missing.yaml")


# ---- jurisdictions and how a buyer is taxed ------------------------------------------------

@pytest.mark.parametrize("address, code", [
    ({"country": "US", "region": "TX"}, "US-TX"),
    ({"country": "US", "region": "tx"}, "US-TX"),
    ({"country": "US", "region": "OR"}, "US"),              # no nexus: the country's own entry
    ({"country": "CA", "region": "ON"}, "CA-ON"),
    ({"country": "DE", "region": "BY"}, "DE"),              # regions matter only where rates are per region
    ({"country": "JP"}, "JP"),
    ({"country": "BR"}, "*"),                               # not listed: the default (export)
])
def test_jurisdiction_from_the_billing_address(demo, address, code):
    assert demo.jurisdiction(address).code == code


@pytest.mark.parametrize("address, field", [
    ({}, "billing_address.country"),
    ({"city": "Austin"}, "billing_address.country"),
    ({"country": "US"}, "billing_address.region"),
    ({"country": "CA", "region": "BC"}, "billing_address.region"),       # no CA-BC and no CA entry
])
def test_an_address_without_a_jurisdiction_names_the_field(demo, address, field):
    with pytest.raises(InvalidInput) as err:
        demo.jurisdiction(address)
    assert err.value.field == field


def test_countries_not_listed_are_an_error_without_a_default(demo):
    rates = load_tax_rates_dict({k: v for k, v in demo.source.items() if k != "default"})
    with pytest.raises(InvalidInput, match="standard version 1 have no rates for BR") as err:
        rates.jurisdiction({"country": "BR"})
    assert err.value.field == "billing_address.country"


@pytest.mark.parametrize("seller, buyer, tax_id, reverse", [
    ("DE", "FR", "FR40303265045", True),        # intra-community B2B
    ("DE", "FR", None, False),                  # a consumer pays French VAT
    ("DE", "DE", "DE811234567", False),         # domestic
    ("DE", "GB", "GB123456789", False),         # not in the reverse-charge area
    ("DE", "US", "US-84-1234567", False),
    ("US", "FR", "FR40303265045", False),       # the seller is outside the area
    ("FR", "DE", "DE811234567", True),
])
def test_reverse_charge_for_business_buyers_across_member_states(demo, seller, buyer, tax_id, reverse):
    rates = variant(demo, seller={"country": seller})
    address = {"country": buyer, "region": "TX"}
    taxation = rates.taxation(address, tax_id, None)
    assert taxation.reverse_charge is reverse
    if reverse:
        assert taxation.note.startswith("Reverse charge") and not taxation.inclusive
        assert {taxation.rate(c) for c in CATEGORIES} == {0}
    else:
        assert taxation.rate("standard") == rates.jurisdiction(address).rates["standard"]


def test_rates_by_category_inclusive_segments_and_notes(demo):
    germany = demo.taxation({"country": "DE"}, None, "consumer")
    assert germany.inclusive and germany.note == ""
    assert [germany.rate(c) for c in CATEGORIES] == [19, 7, 19, 19, 0]
    assert not demo.taxation({"country": "DE"}, "DE811234567", "enterprise").inclusive
    assert not demo.taxation({"country": "US", "region": "TX"}, None, "consumer").inclusive
    assert demo.taxation({"country": "BR"}, None, None).note.startswith("Export")
    with pytest.raises(InvalidInput) as err:
        germany.rate("luxury", "lines[2].tax_category")
    assert err.value.field == "lines[2].tax_category"


# ---- computing -----------------------------------------------------------------------------

USD = currency("USD")


def test_tax_is_rounded_once_per_rate_group_and_allocated_to_lines():
    result = compute([(D("0.05"), "standard", D("6.25"))] * 3 + [(D("10.00"), "services", D(0)),
                                                                  (D("3.00"), "exempt", D(0))], USD, False, False)
    assert result.tax == D("0.01")                         # per line it would have been 3 x 0.00
    assert [ln.tax for ln in result.lines] == [D("0.01"), 0, 0, 0, 0]
    assert [(g.code, g.rate, g.base, g.tax) for g in result.groups] == [
        ("S", D("6.25"), D("0.15"), D("0.01")), ("Z", 0, D("10.00"), 0), ("E", 0, D("3.00"), 0)]
    assert (result.net, result.gross) == (D("13.15"), D("13.16"))


def test_inclusive_prices_extract_the_tax_from_each_group():
    result = compute([(D("119.00"), "standard", D(19)), (D("10.00"), "standard", D(19)),
                      (D("10.70"), "reduced", D(7))], currency("EUR"), True, False)
    assert result.gross == D("139.70")                     # the prices the buyer saw
    assert [(g.base, g.tax) for g in result.groups] == [(D("108.40"), D("20.60")), (D("10.00"), D("0.70"))]
    assert [(ln.net, ln.tax) for ln in result.lines] == [
        (D("100.00"), D("19.00")), (D("8.40"), D("1.60")), (D("10.00"), D("0.70"))]


def test_reverse_charged_lines_form_their_own_group():
    result = compute([(D("100"), "standard", D(0)), (D("5"), "exempt", D(0))], USD, False, True)
    assert [(g.code, g.tax) for g in result.groups] == [("AE", 0), ("E", 0)]
    assert [g.as_dict(USD)["label"] for g in result.groups] == ["Reverse charge", "Exempt"]


def test_amounts_must_be_in_minor_units():
    with pytest.raises(ValueError):
        compute([(D("1.005"), "standard", D(19))], USD, False, False)
    with pytest.raises(ValueError):
        compute([(D("-1"), "standard", D(19))], USD, False, False)


RATES = [D(0), D(5), D("5.5"), D(7), D(10), D("13.5"), D("14.975"), D(19), D(20), D(23)]


@st.composite
def invoices(draw):
    cur = currency(draw(st.sampled_from(["JPY", "USD", "KWD"])))
    reverse = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(1, 25))):
        category = draw(st.sampled_from(CATEGORIES))
        rate = D(0) if reverse or category == "exempt" else draw(st.sampled_from(RATES))
        lines.append((cur.quantum * draw(st.integers(0, 10**9)), category, rate))
    return cur, lines, draw(st.booleans()), reverse


@settings(max_examples=300)
@given(invoices())
def test_totals_always_reconcile_to_the_minor_unit(case):
    cur, lines, inclusive, reverse = case
    result = compute(lines, cur, inclusive, reverse)
    assert result.net == sum(ln.net for ln in result.lines) == sum(g.base for g in result.groups)
    assert result.tax == sum(ln.tax for ln in result.lines) == sum(g.tax for g in result.groups)
    assert result.gross == result.net + result.tax
    assert all(cur.is_exact(x) for ln in result.lines for x in (ln.net, ln.tax))
    for (amount, _category, rate), line in zip(lines, result.lines):
        assert (line.gross if inclusive else line.net) == amount
        assert line.tax >= 0 and line.rate == rate
    for group in result.groups:
        priced = group.base + group.tax if inclusive else group.base
        factor = group.rate / (100 + group.rate) if inclusive else group.rate / 100
        assert group.tax == cur.round(priced * factor)     # EN 16931: the group's tax, rounded once
        assert group.code in (("AE", "E") if reverse else ("S", "Z", "E"))


# ---- stored versions -----------------------------------------------------------------------

@pytest.mark.postgres
def test_rates_are_stored_as_versions_and_the_active_one_is_used(engine, demo):
    with session_scope(engine) as session:
        with pytest.raises(NotFound):
            get_tax_rates(session)
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)                         # again: a no-op
        assert get_tax_rates(session).digest == demo.digest
        save_tax_rates(session, variant(demo, version=2, seller={"country": "DE"}))
        assert get_tax_rates(session, STANDARD).version == 1                   # loaded, not active yet
        save_tax_rates(session, variant(demo, version=2, seller={"country": "DE"}), activate=True)
        assert get_tax_rates(session).seller == {"country": "DE"}
        assert get_tax_rates(session, version=1).seller["country"] == "US"
        with pytest.raises(VersionConflict):
            save_tax_rates(session, variant(demo, version=2, seller={"country": "FR"}))
