"""/api/v1/accounts: create, read, change and list customer accounts; import them from CSV,
YAML or JSON, all or nothing, with every bad row and field named."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlmodel import select

from core.db import session_scope
from core.users import create_user
from sales import accounts
from sales.accounts import Account, Contact

pytestmark = pytest.mark.postgres

API = "/api/v1"

ACME = {"code": "ACME", "name": "Acme Corp", "currency": "USD", "segment": "enterprise", "tier": "gold",
        "tax_id": "US-123", "credit_limit": "100000.00", "payment_terms": "net45",
        "billing_address": {"street": "1 Road", "city": "Austin", "region": "TX", "postal_code": "78701",
                            "country": "us"},
        "contacts": [{"name": "Jo Buyer", "email": "Jo@Acme.com", "primary": True, "phone": "+1 555 0100"},
                     {"name": "Al Finance", "email": "al@acme.com", "title": "CFO"}]}


@pytest.fixture
def api(app, client):
    with session_scope(app.extensions["cpq_engine"]) as session:
        _rep, rep = create_user(session, "rep@example.com", "Rep", "rep")
        _fin, fin = create_user(session, "fin@example.com", "Fin", "finance")
        _app, approver = create_user(session, "ap@example.com", "Approver", "approver", ("sales_manager",),
                                     defined_levels=("sales_manager",))
    client.tokens = {"rep": rep, "finance": fin, "approver": approver}
    client.engine = app.extensions["cpq_engine"]
    return client


def call(api, method, path, body=None, who="finance", **kwargs):
    headers = {"Authorization": f"Bearer {api.tokens[who]}"} if who else {}
    if body is not None:
        kwargs["json"] = body
    return getattr(api, method)(f"{API}{path}", headers=headers, **kwargs)


def upload(api, text, content_type, who="finance"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return api.post(f"{API}/accounts/import", data=data, content_type=content_type,
                    headers={"Authorization": f"Bearer {api.tokens[who]}"})


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def count(api) -> tuple[int, int]:
    with session_scope(api.engine) as session:
        return len(session.exec(select(Account)).all()), len(session.exec(select(Contact)).all())


# ---- one by one ------------------------------------------------------------------------------

def test_create_get_update_and_list(api):
    created = ok(call(api, "post", "/accounts", ACME), 201)
    assert created["code"] == "ACME" and created["currency"] == "USD" and Decimal(created["credit_limit"]) == 100000
    assert created["billing_address"]["country"] == "US"
    assert created["shipping_address"] == created["billing_address"]          # defaults to billing
    assert [(c["email"], c["primary"]) for c in created["contacts"]] == [("jo@acme.com", True), ("al@acme.com", False)]
    assert created["created_at"] and created["updated_at"]
    assert ok(call(api, "get", "/accounts/ACME")) | {"credit_limit": None} == created | {"credit_limit": None}

    changed = ok(call(api, "patch", "/accounts/ACME", {"name": "Acme Corporation", "credit_limit": "250000"},
                      who="finance"))
    assert changed["name"] == "Acme Corporation" and Decimal(changed["credit_limit"]) == 250000
    assert changed["contacts"] == created["contacts"] and changed["tax_id"] == "US-123"   # the rest stays
    replaced = ok(call(api, "patch", "/accounts/ACME", {"contacts": [{"name": "New", "email": "new@acme.com"}]}))
    assert [c["email"] for c in replaced["contacts"]] == ["new@acme.com"]
    assert count(api) == (1, 1)

    ok(call(api, "post", "/accounts", {"code": "GLOBEX", "name": "Globex", "currency": "EUR"}), 201)
    ok(call(api, "post", "/accounts", {"code": "INITECH", "name": "Initech Acme Division", "currency": "GBP"}), 201)
    assert [a["code"] for a in ok(call(api, "get", "/accounts"))] == ["ACME", "GLOBEX", "INITECH"]
    assert [a["code"] for a in ok(call(api, "get", "/accounts?search=acme"))] == ["ACME", "INITECH"]
    assert [a["code"] for a in ok(call(api, "get", "/accounts?search=GLOB"))] == ["GLOBEX"]
    assert ok(call(api, "get", "/accounts?search=nothing")) == []
    assert [a["code"] for a in ok(call(api, "get", "/accounts?limit=1&offset=1"))] == ["GLOBEX"]


@pytest.mark.parametrize("body, field", [
    ({"currency": "XXX"}, "currency"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "US"}, "currency"),
    ({"contacts": [{"name": "Jo", "email": "not-an-email"}]}, "contacts[0].email"),
    ({"contacts": [{"email": "jo@acme.com"}]}, "contacts[0].name"),
    ({"credit_limit": "-1"}, "credit_limit"),
    ({"credit_limit": "1.001"}, "credit_limit"),
    ({"contacts": [{"name": "A", "email": "a@acme.com", "primary": True},
                   {"name": "B", "email": "b@acme.com", "primary": True}]}, "contacts"),
    ({"segment": "galactic"}, "segment"),
    ({"billing_address": {"country": "USA"}}, "billing_address.country"),
    ({"billing_address": {"planet": "Mars"}}, "billing_address.planet"),
    ({"code": "has space"}, "code"),
    ({"code": "import"}, "code"),
    ({"colour": "red"}, "colour"),
])
def test_bad_accounts_get_a_422_naming_the_field(api, body, field):
    base = {"code": "ACME", "name": "Acme", "currency": "USD"}
    error = error_of(call(api, "post", "/accounts", {**base, **body}), 422)
    assert field in error["fields"], error
    assert count(api) == (0, 0)


def test_required_fields_are_named(api):
    error = error_of(call(api, "post", "/accounts", {"name": "Acme"}), 422)
    assert {"code", "currency"} <= set(error["fields"])


def test_a_duplicate_code_is_422(api):
    ok(call(api, "post", "/accounts", ACME), 201)
    error = error_of(call(api, "post", "/accounts", {**ACME, "name": "Another"}), 422)
    assert "code" in error["fields"]
    assert ok(call(api, "get", "/accounts/ACME"))["name"] == "Acme Corp"
    assert count(api) == (1, 2)


def test_updates_are_validated_and_the_code_cannot_change(api):
    ok(call(api, "post", "/accounts", ACME), 201)
    assert "code" in error_of(call(api, "patch", "/accounts/ACME", {"code": "OTHER"}), 422)["fields"]
    assert "currency" in error_of(call(api, "patch", "/accounts/ACME", {"currency": "XYZ"}), 422)["fields"]
    error = error_of(call(api, "patch", "/accounts/ACME", {"contacts": [{"name": "x", "email": "bad"}]}), 422)
    assert "contacts[0].email" in error["fields"]
    assert error_of(call(api, "patch", "/accounts/NOPE", {"name": "x"}), 404)["code"] == "not_found"
    assert error_of(call(api, "get", "/accounts/NOPE"), 404)["code"] == "not_found"
    assert ok(call(api, "get", "/accounts/ACME"))["currency"] == "USD"
    assert count(api) == (1, 2)


def test_the_import_path_answers_for_its_own_method_only(api):
    refused = call(api, "put", "/accounts/import", [])
    assert refused.status_code == 405 and set(refused.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert call(api, "get", "/accounts/import").status_code == 405


def test_only_finance_sets_a_credit_limit(api):
    error = error_of(call(api, "post", "/accounts", ACME, who="rep"), 403)
    assert "credit_limit" in error["message"] and count(api) == (0, 0)
    assert ok(call(api, "post", "/accounts", {**ACME, "credit_limit": None}, who="rep"), 201)["credit_limit"] is None
    ok(call(api, "patch", "/accounts/ACME", {"credit_limit": "1000"}), 200)
    assert ok(call(api, "patch", "/accounts/ACME", {"name": "Acme Inc", "credit_limit": "1000.00"}, who="rep"))
    assert error_of(call(api, "patch", "/accounts/ACME", {"credit_limit": "900000"}, who="rep"), 403)
    assert error_of(call(api, "patch", "/accounts/ACME", {"credit_limit": None}, who="rep"), 403)
    rows = [{"code": "NEWCO", "name": "New Co", "currency": "USD"},
            {"code": "ACME", "name": "Acme Inc", "currency": "USD", "credit_limit": "5000"}]
    assert error_of(upload(api, json.dumps(rows), "application/json", who="rep"), 403)
    assert count(api) == (1, 2)
    assert Decimal(ok(call(api, "get", "/accounts/ACME"))["credit_limit"]) == 1000


def test_payment_terms_must_be_a_terms_code(api):
    ok(call(api, "post", "/accounts", ACME), 201)
    error = error_of(call(api, "patch", "/accounts/ACME", {"payment_terms": "NET 30 days"}), 422)
    assert "payment_terms" in error["fields"]


def test_the_credit_limit_leaves_in_the_currencys_minor_units(api):
    ok(call(api, "post", "/accounts", {"code": "ACME", "name": "Acme", "currency": "USD", "credit_limit": "250000"}),
       201)
    assert ok(call(api, "get", "/accounts/ACME"))["credit_limit"] == "250000.00"


def test_accounts_need_a_user_and_the_role(api):
    assert error_of(call(api, "get", "/accounts", who=None), 401)["code"] == "unauthorized"
    assert error_of(call(api, "post", "/accounts", ACME, who=None), 401)["code"] == "unauthorized"
    assert error_of(call(api, "post", "/accounts", ACME, who="approver"), 403)["code"] == "forbidden"
    assert error_of(upload(api, "[]", "application/json", who="approver"), 403)["code"] == "forbidden"
    assert ok(call(api, "post", "/accounts", ACME, who="finance"), 201)["code"] == "ACME"
    assert len(ok(call(api, "get", "/accounts", who="approver"))) == 1      # anyone may read


def test_search_is_literal(api):
    ok(call(api, "post", "/accounts", {"code": "A_1", "name": "Underscore", "currency": "USD"}), 201)
    ok(call(api, "post", "/accounts", {"code": "AB1", "name": "Letters", "currency": "USD"}), 201)
    assert [a["code"] for a in ok(call(api, "get", "/accounts?search=a_1"))] == ["A_1"]
    assert ok(call(api, "get", "/accounts?search=%25")) == []


# ---- import ----------------------------------------------------------------------------------

CSV = """code,name,currency,segment,credit_limit,billing_street,billing_city,billing_country,contact_name,contact_email,contact_phone,contact_primary
ACME,Acme Corp,USD,enterprise,50000,1 Road,Austin,us,Jo Buyer,jo@acme.com,+1 555 0100,true
ACME,,,,,,,,Al Finance,al@acme.com,,
GLOBEX,Globex,EUR,smb,,,Berlin,de,,,,
"""


def test_import_csv_with_contacts_on_repeated_rows_and_billing_columns(api):
    assert ok(upload(api, CSV, "text/csv")) == {"created": ["ACME", "GLOBEX"], "updated": []}
    acme = ok(call(api, "get", "/accounts/ACME"))
    assert acme["billing_address"] == {"street": "1 Road", "city": "Austin", "country": "US"}
    assert Decimal(acme["credit_limit"]) == 50000 and acme["segment"] == "enterprise"
    assert [(c["name"], c["email"], c["phone"], c["primary"]) for c in acme["contacts"]] == [
        ("Jo Buyer", "jo@acme.com", "+1 555 0100", True), ("Al Finance", "al@acme.com", None, False)]
    globex = ok(call(api, "get", "/accounts/GLOBEX"))
    assert globex["contacts"] == [] and globex["billing_address"] == {"city": "Berlin", "country": "DE"}
    assert count(api) == (2, 2)


def test_import_yaml_and_json(api):
    yaml_text = """
accounts:
  - code: ACME
    name: Acme Corp
    currency: USD
    credit_limit: 1000.50
    contacts:
      - {name: Jo Buyer, email: jo@acme.com, primary: true}
  - {code: GLOBEX, name: Globex, currency: EUR}
"""
    assert ok(upload(api, yaml_text, "application/yaml")) == {"created": ["ACME", "GLOBEX"], "updated": []}
    assert Decimal(ok(call(api, "get", "/accounts/ACME"))["credit_limit"]) == Decimal("1000.50")
    rows = [{"code": "INITECH", "name": "Initech", "currency": "GBP",
             "billing_address": {"city": "London", "country": "gb"}}]
    assert ok(upload(api, json.dumps(rows), "application/json")) == {"created": ["INITECH"], "updated": []}
    assert ok(call(api, "get", "/accounts/INITECH"))["shipping_address"] == {"city": "London", "country": "GB"}
    assert count(api) == (3, 1)


def test_reimport_updates_by_code(api):
    ok(upload(api, CSV, "text/csv"))
    rows = [{"code": "ACME", "name": "Acme Corporation", "currency": "USD",
             "contacts": [{"name": "Kim New", "email": "kim@acme.com", "primary": True}]},
            {"code": "NEWCO", "name": "New Co", "currency": "USD"}]
    assert ok(upload(api, json.dumps(rows), "application/json")) == {"created": ["NEWCO"], "updated": ["ACME"]}
    acme = ok(call(api, "get", "/accounts/ACME"))
    assert acme["name"] == "Acme Corporation"
    assert [c["email"] for c in acme["contacts"]] == ["kim@acme.com"]     # the file's contacts replace them
    assert count(api) == (3, 1)
    assert ok(upload(api, CSV, "text/csv")) == {"created": [], "updated": ["ACME", "GLOBEX"]}
    assert count(api) == (3, 2)


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_one_bad_row_among_good_ones_changes_nothing(api, kind):
    ok(call(api, "post", "/accounts", ACME), 201)
    before = count(api)
    rows = [{"code": "ACME", "name": "Renamed", "currency": "USD"},
            {"code": "GOOD", "name": "Good", "currency": "USD"},
            {"code": "BAD", "name": "Bad", "currency": "XYZ"},
            {"code": "ALSO", "name": "Also good", "currency": "EUR"}]
    if kind == "json":
        response = upload(api, json.dumps(rows), "application/json")
    else:
        text = "code,name,currency\n" + "".join(f"{r['code']},{r['name']},{r['currency']}\n" for r in rows)
        response = upload(api, text, "text/csv")
    error = error_of(response, 422)
    assert error["code"] == "invalid_accounts"
    assert list(error["fields"]) == ["accounts[2].currency"]
    assert count(api) == before
    assert ok(call(api, "get", "/accounts/ACME"))["name"] == "Acme Corp"


def test_every_bad_row_is_named(api):
    rows = [{"code": "A1", "name": "A", "currency": "USD", "contacts": [{"name": "x", "email": "bad"}]},
            {"code": "A2", "name": "", "currency": "USD", "credit_limit": -5},
            "not an object",
            {"code": "A1", "name": "Again", "currency": "USD"},
            {"code": "A5", "name": "A", "currency": "USD", "colour": "red"}]
    error = error_of(upload(api, json.dumps(rows), "application/json"), 422)
    assert set(error["fields"]) == {"accounts[0].contacts[0].email", "accounts[1].name", "accounts[1].credit_limit",
                                    "accounts[2]", "accounts[4].colour"}
    rows[0]["contacts"][0]["email"] = "x@a1.com"
    rows[1:] = [rows[3]]
    error = error_of(upload(api, json.dumps(rows), "application/json"), 422)
    assert error["fields"] == {"accounts[1].code": ["A1 is also in accounts[0]"]}
    assert count(api) == (0, 0)


@pytest.mark.parametrize("body, content_type, status", [
    ("", "application/yaml", 400),
    ("   \n", "text/csv", 400),
    ("[", "application/json", 400),
    ("{a: [", "application/yaml", 422),
    ("42", "application/json", 422),
    ("[]", "text/csv", 422),                      # a header of no column, and no rows
    ("code,name,currency\n", "text/csv", 422),
    ("[]", "application/json", 422),
    ("accounts: []", "application/yaml", 422),
])
def test_unreadable_files_are_4xx(api, body, content_type, status):
    response = upload(api, body, content_type)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["fields"]
    assert count(api) == (0, 0)


def test_a_csv_with_a_byte_order_mark_imports(api):
    assert ok(upload(api, "\ufeff" + CSV, "text/csv"))["created"] == ["ACME", "GLOBEX"]


def test_a_file_that_is_not_utf8_is_refused(api):
    response = upload(api, "code,name,currency\nM1,Müller GmbH,EUR\n".encode("latin-1"), "text/csv")
    assert error_of(response, 400)["code"] == "malformed_body"
    assert count(api) == (0, 0)


@pytest.mark.parametrize("row, field", [
    ({"tax_id": "T" * 41}, "accounts[0].tax_id"),
    ({"contacts": [{"name": "Jo", "email": "jo@acme.com", "phone": "5" * 41}]}, "accounts[0].contacts[0].phone"),
    ({"contacts": [{"name": "Jo", "email": "jo@acme.com", "title": "t" * 101}]}, "accounts[0].contacts[0].title"),
])
def test_an_import_enforces_field_lengths(api, row, field):
    rows = [{"code": "ACME", "name": "Acme", "currency": "USD", **row}]
    error = error_of(upload(api, json.dumps(rows), "application/json"), 422)
    assert field in error["fields"]


# ---- the domain functions --------------------------------------------------------------------

def test_domain_import_is_all_or_nothing(engine):
    from core.validation import DocumentValidationError
    with session_scope(engine) as session:
        accounts.create_account(session, {"code": "ACME", "name": "Acme", "currency": "USD"})
    with pytest.raises(DocumentValidationError) as exc_info:
        with session_scope(engine) as session:
            accounts.import_accounts(session, [{"code": "ACME", "name": "Changed", "currency": "USD"},
                                               {"code": "X", "name": "X", "currency": "usd", "credit_limit": "x"}])
    assert [e.path for e in exc_info.value.errors] == ["accounts[1].credit_limit"]
    with session_scope(engine) as session:
        assert [a.name for a in session.exec(select(Account))] == ["Acme"]
        result = accounts.import_accounts(session, accounts.parse_accounts_file(CSV, "accounts.csv"))
        assert (result.created, result.updated) == (("GLOBEX",), ("ACME",))
        assert accounts.get_account(session, "GLOBEX").currency == "EUR"


def test_the_invoice_consolidation_and_billing_day_are_set_and_shown(api):
    created = ok(call(api, "post", "/accounts", ACME), 201)
    assert (created["invoice_consolidation"], created["billing_day"]) == ("per_document", 1)
    changed = ok(call(api, "patch", "/accounts/ACME", {"invoice_consolidation": "per_billing_day", "billing_day": 15}))
    assert (changed["invoice_consolidation"], changed["billing_day"]) == ("per_billing_day", 15)
    assert ok(call(api, "patch", "/accounts/ACME", {"billing_day": 28}))["invoice_consolidation"] == "per_billing_day"
    for body, field in (({"billing_day": 29}, "billing_day"), ({"billing_day": "5"}, "billing_day"),
                        ({"invoice_consolidation": "weekly"}, "invoice_consolidation")):
        error = error_of(call(api, "patch", "/accounts/ACME", body), 422)
        assert field in error["fields"], error
    assert ok(call(api, "get", "/accounts/ACME"))["billing_day"] == 28
