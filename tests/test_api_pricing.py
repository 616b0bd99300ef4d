"""/api/v1 pricing through the Flask test client: a draft priced from configured, saved and
plain lines; price books and rule sets listed, validated, loaded and activated; every bad
input a 4xx naming the field."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml

from catalog.store import load_demo_catalog, load_demo_price_books
from auth_helpers import sign_as
from core.db import session_scope
from core.settings import DEFAULT_DEMO_DIR
from rules.store import load_demo_rule_sets

pytestmark = pytest.mark.postgres

API = "/api/v1"
DAY = "2026-12-01"        # inside the EPYC300 promotion, before SPRING27
RULES_FILE = DEFAULT_DEMO_DIR / "rulesets" / "standard.yaml"


@pytest.fixture
def api(app, client):
    with session_scope(app.extensions["cpq_engine"]) as session:
        load_demo_catalog(session)
        load_demo_price_books(session)
        load_demo_rule_sets(session)
    sign_as(app, client)
    return client


def quote(client, **body):
    body.setdefault("price_book", "list-usd")
    body.setdefault("date", DAY)
    return client.post(f"{API}/pricing/quote", json=body)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def money(text: str) -> Decimal:
    return Decimal(text)


def test_a_draft_with_configured_saved_and_plain_lines(api):
    saved = ok(api.post(f"{API}/configurations", json={
        "product": "solar-installation", "selections": {"panel_count": 24}}), 201)
    result = ok(quote(api, customer={"id": "ACME", "tier": "gold"}, promo_codes=["EPYC300"],
                      lines=[{"id": "srv", "product": "rack-server", "quantity": 12,
                              "selections": {"cpu": "e9354", "gpu": "l4"}},
                             {"id": "sol", "configuration": saved["id"]},
                             {"id": "sup", "product": "SUP-MC-Y", "quantity": 12, "term_months": 36},
                             {"id": "trn", "product": "TRAINING-DAY", "quantity": 3,
                              "discount": {"percent": "5"}}],
                      discount={"amount": "500"}))
    assert result["currency"] == "USD" and result["price_book_version"] == 2
    lines = {line["id"]: line for line in result["lines"]}
    assert set(lines) == {"srv", "sol", "sup", "trn", "srv/rails-per-ten"}
    server = lines["srv"]
    assert server["complete"] is False                         # defaults filled in the rest
    assert [e["kind"] for e in server["elements"]][0] == "product"
    applied = {o["rule"] for o in server["considered"] if o["applied"]}
    assert {"server-volume", "tier-gold", "launch-epyc", "rails-per-ten"} <= applied
    assert lines["sup"]["charge"] == "annual" and lines["sup"]["periods"] == "3"
    assert lines["srv/rails-per-ten"]["net_total"] == "0.00"
    for line in result["lines"]:                               # every waterfall reconciles
        steps = sum((money(s["amount"]) for s in line["steps"]), Decimal(0))
        assert money(line["list_total"]) - steps == money(line["net_total"])
    totals = result["totals"]
    one_time = sum(money(ln["net_total"]) for ln in result["lines"] if ln["charge"] == "one_time")
    assert money(totals["one_time_net"]) == one_time
    assert money(totals["recurring"]["annual"]) == money(lines["sup"]["net_total"])
    assert money(totals["contract_value"]) == one_time + 3 * money(lines["sup"]["net_total"])
    header = [s for s in result["quote_steps"] if s["kind"] == "quote_manual"]
    assert header and money(header[0]["amount"]) == Decimal("500.00")
    assert [p["rule"] for p in result["promotions"]] == ["EPYC300"] and result["promotions"][0]["applied"]
    levels = {a["level"]: a for a in result["approvals"]}
    assert "sales_manager" in levels and levels["sales_manager"]["stage"] == 1
    assert all(a["reasons"] for a in result["approvals"])


def test_the_same_draft_prices_the_same_and_a_version_replays(api):
    body = {"lines": [{"product": "rack-server", "quantity": 5}], "customer": {"tier": "platinum"}}
    first = ok(quote(api, **body))
    assert ok(quote(api, **body)) == first
    src = yaml.safe_load(RULES_FILE.read_text())
    src["version"], src["max_line_discount_percent"] = 2, 10
    ok(api.post(f"{API}/rulesets?activate=true", data=json.dumps(src, default=str),
                content_type="application/json"), 201)
    capped = ok(quote(api, **body))
    assert capped["rule_set_version"] == 2 and capped["lines"][0]["net_total"] != first["lines"][0]["net_total"]
    replay = ok(quote(api, rule_set_version=1, **body))
    assert replay == first


@pytest.mark.parametrize("body, status, field", [
    ({"price_book": "nope", "lines": [{"product": "SUP-MC-Y"}]}, 422, "price_book"),
    ({"rule_set": "nope", "lines": [{"product": "SUP-MC-Y"}]}, 422, "rule_set"),
    ({"lines": []}, 422, "lines"),
    ({"lines": [{"quantity": 2}]}, 422, "lines[0].product"),
    ({"lines": [{"product": "NOPE"}]}, 422, "lines[0].product"),
    ({"lines": [{"product": "rack-server", "selections": {"cpu": "x9999"}}]}, 422, "lines[0].selections.cpu"),
    ({"lines": [{"product": "rack-server", "selections": {"nope": 1}}]}, 422, "lines[0].selections.nope"),
    ({"lines": [{"product": "rack-server", "selections": {"chassis": "c1u10sff", "gpu": "l40s"}}]},
     422, "lines[0].selections"),
    ({"lines": [{"product": "SUP-MC-Y", "selections": {"a": 1}}]}, 422, "lines[0].selections"),
    ({"lines": [{"product": "SUP-MC-Y", "term_months": 13}]}, 422, "lines[0].term_months"),
    ({"lines": [{"product": "SUP-MC-Y", "quantity": 0}]}, 422, "lines[0].quantity"),
    ({"lines": [{"product": "SUP-MC-Y", "quantity": "2"}]}, 422, "lines[0].quantity"),
    ({"lines": [{"product": "SUP-MC-Y", "discount": {"percent": 101}}]}, 422, "lines[0].discount.percent"),
    ({"lines": [{"product": "SUP-MC-Y", "discount": {"percent": 5, "amount": 1}}]}, 422, "lines[0].discount"),
    ({"lines": [{"product": "SUP-MC-Y", "discount": {"amount": "NaN"}}]}, 422, "lines[0].discount.amount"),
    ({"lines": [{"configuration": "nope"}]}, 422, "lines[0].configuration"),
    ({"lines": [{"id": "a", "product": "SUP-MC-Y"}, {"id": "a", "product": "SUP-MC-Y"}]}, 422, "lines"),
    ({"date": "2025-01-01", "lines": [{"product": "SUP-MC-Y"}]}, 422, "price_book"),
    ({"date": "someday", "lines": [{"product": "SUP-MC-Y"}]}, 422, "date"),
    ({"price_book_version": 0, "lines": [{"product": "SUP-MC-Y"}]}, 422, "price_book_version"),
    ({"price_book_version": 99, "lines": [{"product": "SUP-MC-Y"}]}, 422, "price_book"),
])
def test_bad_drafts_get_a_4xx_naming_the_field(api, body, status, field):
    error = error_of(quote(api, **body), status)
    assert field in error["fields"], error


def test_a_malformed_body_is_400(api):
    response = api.post(f"{API}/pricing/quote", data="{", content_type="application/json")
    assert error_of(response, 400)["code"] == "malformed_json"


def test_unknown_promo_codes_are_refused_with_a_reason_not_an_error(api):
    result = ok(quote(api, promo_codes=["nope", "SPRING27"], lines=[{"product": "SUP-MC-Y"}]))
    reasons = {p["rule"]: p["reason"] for p in result["promotions"]}
    assert reasons == {"NOPE": "unknown promo code", "SPRING27": "not valid before 2027-03-01"}


# ---- price books and rule sets -------------------------------------------------------------

def test_list_get_validate_load_and_activate_documents(api):
    books = ok(api.get(f"{API}/pricebooks"))
    assert {b["name"]: b["active"] for b in books} == {"list-eur": 2, "list-usd": 2, "partner-eur": 1}
    current = ok(api.get(f"{API}/rulesets/standard"))
    assert current["active"] and current["version"] == 1 and current["source"]["ruleset"] == "standard"
    text = RULES_FILE.read_text()
    valid = ok(api.post(f"{API}/rulesets/validate", data=text, content_type="application/yaml"))
    assert valid == {"name": "standard", "versions": [1], "active": None}
    again = ok(api.post(f"{API}/rulesets", data=text, content_type="application/yaml"), 201)
    assert again["version"] == 1 and again["active"]          # same content: a no-op
    v2 = ok(api.post(f"{API}/rulesets", data=text.replace("version: 1", "version: 2", 1),
                     content_type="application/yaml"), 201)
    assert v2["version"] == 2 and not v2["active"]
    assert ok(api.get(f"{API}/rulesets/standard"))["version"] == 1
    assert ok(api.post(f"{API}/rulesets/standard/versions/2/activate"))["active"]
    assert ok(api.get(f"{API}/rulesets"))[0] == {"name": "standard", "versions": [1, 2], "active": 2}
    assert ok(api.get(f"{API}/rulesets/standard/versions/1"))["active"] is False


def test_document_errors(api):
    bad = api.post(f"{API}/pricebooks", json={"pricebook": "x", "version": 1, "currency": "XYZ",
                                              "products": {"A": 9.999}})
    error = error_of(bad, 422)
    assert error["code"] == "invalid_price_book"
    assert "currency" in error["fields"] and "products.A" not in error["fields"]  # no currency: no check
    bad = api.post(f"{API}/pricebooks", json={"pricebook": "x", "version": 1, "currency": "USD",
                                              "products": {"A": 9.999}})
    assert error_of(bad, 422)["fields"]["products.A"] == ["9.999 has more decimals than USD allows (2)"]
    bad = api.post(f"{API}/rulesets/validate", data="rules: [\n", content_type="application/yaml")
    assert error_of(bad, 422)["code"] == "invalid_rule_set"
    assert error_of(api.post(f"{API}/rulesets", data=""), 400)["code"] == "empty_body"
    assert error_of(api.post(f"{API}/rulesets", data="{"), 400)["code"] == "malformed_json"
    changed = RULES_FILE.read_text().replace("max_line_discount_percent: 45", "max_line_discount_percent: 40")
    conflict = api.post(f"{API}/rulesets", data=changed, content_type="application/yaml")
    assert error_of(conflict, 409)["code"] == "version_conflict"
    assert error_of(api.get(f"{API}/rulesets/nope"), 404)["code"] == "not_found"
    assert error_of(api.get(f"{API}/rulesets/standard/versions/9"), 404)["code"] == "not_found"
    assert error_of(api.post(f"{API}/pricebooks/list-usd/versions/9/activate"), 404)["code"] == "not_found"
    assert api.get(f"{API}/nonsense").status_code == 404
