"""Input an attacker would send, by class: each is a 4xx naming the field and the reason (never
a 500), and nothing is saved. Nesting past the limit, text no database stores (NUL, lone
surrogates) wherever text comes in (JSON, YAML and CSV bodies, query strings, paths, forms,
headers), integers past the database's range, decimals outside their documented pattern.
Run on PostgreSQL too: it, not SQLite, refuses a NUL."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from api.schemas import FIRST_DAY, LAST_DAY, SIGNED, UNSIGNED
from core.db import session_scope
from core.validation import MAX_INTEGER, TOO_DEEP
from quote_flow import env, error_of, get, sent  # noqa: F401
from sales.accounts import Account
from sales.models import Quote

pytestmark = pytest.mark.postgres

DEEP = {"40 deep": "[" * 40 + "]" * 40, "1,000 deep": '{"a": ' * 1000 + "1" + "}" * 1000,
        "100,000 deep": "[" * 100_000}


def json_operations(client):
    """(method, url, required) of every operation the OpenAPI document says takes a JSON body,
    with placeholder path parameters (the body is read before anything is looked up)."""
    spec = client.get("/api/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            if "application/json" not in body.get("content", {}):
                continue
            url = path
            for parameter in item.get("parameters", []) + operation.get("parameters", []):
                schema = parameter.get("schema", {})
                value = schema["enum"][0] if "enum" in schema else "7" if schema.get("type") == "integer" else "x"
                url = url.replace(f"{{{parameter['name']}}}", value)
            yield method, url, body.get("required", False)


def post(env, who, path, **kwargs):
    headers = {"Authorization": f"Bearer {env.tokens[who]}"} if who else {}
    return env.client.post(f"/api/v1{path}", headers=headers, **kwargs)


def request_schemas(spec):
    """(where, schema) of every value a request of the OpenAPI document takes, however nested."""
    components = spec["components"]["schemas"]

    def walk(schema, where, seen=frozenset()):
        if "$ref" in schema:
            name = schema["$ref"].rpartition("/")[2]
            if name not in seen:
                yield from walk(components[name], where, seen | {name})
            return
        yield where, schema
        for name, inner in schema.get("properties", {}).items():
            yield from walk(inner, f"{where}.{name}", seen)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from walk(schema[key], f"{where}[]", seen)

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in item.get("parameters", []) + operation.get("parameters", []):
                yield from walk(parameter["schema"], f"{method} {path} {parameter['name']}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield from walk(content["schema"], f"{method} {path} body")


def counts(env) -> tuple[int, int]:
    with session_scope(env.engine) as session:
        return session.exec(select(func.count()).select_from(Account)).one(), \
            session.exec(select(func.count()).select_from(Quote)).one()


@pytest.mark.parametrize("depth", DEEP)
def test_no_json_body_nests_deeper_than_the_limit_on_any_endpoint(env, depth):
    operations = list(json_operations(env.client))
    assert len(operations) > 40
    failures = []
    for method, url, _required in operations:
        for who in (None, "admin"):
            headers = {"Authorization": f"Bearer {env.tokens[who]}"} if who else {}
            response = env.client.open(url, method=method.upper(), data=DEEP[depth], headers=headers,
                                       content_type="application/json")
            error = response.get_json()["error"] if response.status_code >= 400 else {}
            if who is None and response.status_code == 401:
                continue
            reasons = [r for rs in error.get("fields", {}).values() for r in rs]
            if response.status_code != 422 or TOO_DEEP not in reasons:
                failures.append(f"{who} {method} {url}: {response.status_code} {error}")
    assert failures == []


REQUEST = {"product": "rack-server", "company": "Initech", "name": "Peter", "email": "peter@initech.example",
           "country": "US"}
BOOK = "pricebook: nul-book\nname: {name}\nversion: 1\ncurrency: USD\nvalid_from: 2026-01-01\nproducts: {{}}\n"


@pytest.mark.parametrize("who, path, kwargs, field, reason", [
    (None, "/quote-requests", {"json": REQUEST | {"company": "Ev\u0000il"}}, "company", "contains a NUL character"),
    (None, "/quote-requests", {"data": '{"company": "Ev\\u0000il"}', "content_type": "application/json"},
     "company", "contains a NUL character"),
    ("rep", "/accounts", {"data": '{"code": "SUR", "name": "\\ud800", "currency": "USD"}',
                          "content_type": "application/json"}, "name", "contains a lone surrogate"),
    ("rep", "/quotes", {"data": '{"account": "ACME", "title": "\\udfff x", "lines": []}',
                        "content_type": "application/json"}, "title", "contains a lone surrogate"),
    (None, "/products/rack-server/configure", {"json": {"selections": {"c\u0000pu": "e9354"}}},
     "selections", "a key contains a NUL character"),
    ("rep", "/quotes", {"data": '{"account": "ACME", "lines": [{"product": "SUP-MC-Y", "selections": {"x": 1e999}}]}',
                        "content_type": "application/json"}, "lines[0].selections.x", "is not a finite number"),
    ("admin", "/pricebooks", {"data": BOOK.format(name='"Ev\\0il"'), "content_type": "application/yaml"},
     "name", "contains a NUL character"),
    ("admin", "/import", {"json": {"accounts": [{"code": "NUL", "name": "N\u0000", "currency": "USD"}]}},
     "accounts[0].name", "contains a NUL character"),
    ("finance", "/accounts/import", {"data": "code,name,currency\nNUL,N\u0000l,USD\n", "content_type": "text/csv"},
     "accounts[0].name", "contains a NUL character"),
    ("finance", "/accounts/import", {"data": '[{"code": "NUL", "name": "N\\ud800", "currency": "USD"}]',
                                     "content_type": "application/json"}, "[0].name", "contains a lone surrogate"),
])
def test_text_no_database_stores_is_refused_in_every_body_and_nothing_is_saved(env, who, path, kwargs, field, reason):
    """PostgreSQL refuses a NUL in text and no database takes a lone surrogate (JSON's
    "\\ud800"): each is refused where the body is read, for every field, key and format."""
    before = counts(env)
    error = error_of(post(env, who, path, **kwargs), 422)
    assert any(reason in r for r in error["fields"][field]), error
    assert counts(env) == before


def test_a_number_json_does_not_have_or_python_cannot_read_is_malformed(env):
    for body in ('{"selections": {"cpu": NaN}}', '{"version": -Infinity}', '{"version": 1' + "0" * 5000 + "}"):
        response = env.client.post("/api/v1/products/rack-server/configure", data=body, content_type="application/json")
        assert error_of(response, 400)["code"] == "malformed_json"


@pytest.mark.parametrize("who, path", [
    ("rep", "/api/v1/quotes/Q%00"), ("rep", "/api/v1/accounts/AC%00ME"), ("rep", "/app/quotes/Q%00"),
    (None, "/q/token%00"), (None, "/c/token%00/pdf"), (None, "/api/v1/products/rack%00-server"),
])
def test_a_path_with_a_nul_names_nothing(env, who, path):
    """A 404 before routing, so no view hands it to the database."""
    headers = {"Authorization": f"Bearer {env.tokens[who]}"} if who else {}
    assert env.client.get(path, headers=headers).status_code == 404


@pytest.mark.parametrize("path, field", [
    ("/api/v1/accounts?search=a%00b", "search"), ("/api/v1/quotes?account=A%00&state=draft", "account"),
    ("/app/accounts?search=%00", "search"), ("/login?next=/app%00", "next"), ("/api/v1/accounts?a%00b=1", "query"),
])
def test_a_query_parameter_with_a_nul_is_refused_naming_it(env, path, field):
    response = env.client.get(path, headers={"Authorization": f"Bearer {env.tokens['rep']}"})
    assert response.status_code == 422
    if response.mimetype == "application/json":
        assert response.get_json()["error"]["fields"] == {field: ["contains a NUL character"]}


def test_a_header_with_a_nul_is_refused_and_nothing_is_saved(env):
    before = counts(env)
    for header in ("Idempotency-Key", "User-Agent"):
        response = env.client.post("/api/v1/quotes", json={"account": "ACME", "lines": []}, headers={
            "Authorization": f"Bearer {env.tokens['rep']}", header: "a\x00b"})
        assert error_of(response, 422)["fields"] == {header: ["contains a NUL character"]}
    assert counts(env) == before


def test_a_form_field_with_a_nul_on_the_customers_page_is_refused_and_nothing_is_saved(env):
    number, token = sent(env)
    for field in ("name", "email"):
        form = {"name": "Jo Buyer", "email": "jo@acme.com", "agree": "yes"} | {field: "Jo\x00"}
        response = env.client.post(f"/q/{token}/accept", data=form)
        assert error_of(response, 422)["fields"] == {field: ["contains a NUL character"]}
    assert get(env, number)["state"] == "sent"


def test_every_integer_a_request_takes_is_bounded_to_the_databases_range(client):
    """An integer past what an integer column holds overflows the database driver (SQLite past
    64 bits, PostgreSQL past 32): every one a request takes says its bounds, and keeps them."""
    spec = client.get("/api/openapi.json").get_json()
    found = [(where, schema) for where, schema in request_schemas(spec) if schema.get("type") == "integer"]
    assert len(found) > 20
    unbounded = [where for where, schema in found
                 if not -MAX_INTEGER - 1 <= schema.get("minimum", -2**63) <= schema.get("maximum", 2**63) <= MAX_INTEGER]
    assert unbounded == []


@pytest.mark.parametrize("who, method, path, body, field", [
    ("finance", "post", "/payments", {"account": "ACME", "amount": "10", "currency": "USD", "method": "wire",
                                      "reference": "R-1", "allocations": [{"invoice": 2**70, "amount": "1"}]},
     "allocations[0].invoice"),
    ("finance", "post", "/payments/1/apply", {"invoice": 2**40, "amount": "1"}, "invoice"),
    ("finance", "post", "/invoices/1/credit-notes", {"reason": "r", "lines": {str(2**70): "1"}}, "lines"),
    ("rep", "patch", "/quotes/Q-1", {"title": "x", "lock_version": 2**64}, "lock_version"),
    (None, "post", "/products/rack-server/configure", {"version": 2**70}, "version"),
])
def test_an_integer_past_the_databases_range_is_refused_naming_it(env, who, method, path, body, field):
    headers = {"Authorization": f"Bearer {env.tokens[who]}"} if who else {}
    response = getattr(env.client, method)(f"/api/v1{path}", json=body, headers=headers)
    assert any(name.startswith(field) for name in error_of(response, 422)["fields"]), response.get_json()


@pytest.mark.parametrize("amount", ['"1_0"', '"\\u0661\\u0660"', '"\\uff11"', '" 1"', '"1 "', '"1E5"', '"1e309"',
                                    '"1e999999999"', '"+1"', '"1."', '".5"', '"0x10"', '"1,5"', '"-1"', f'"{"1" * 16}"',
                                    '"1.0000000001"', "1e309", "1e999999999", "true", "[1]"])
def test_a_decimal_is_read_only_in_its_documented_pattern(env, amount):
    """Python's Decimal also reads "1_0", Arabic-Indic or full-width digits, spaces and
    exponents, and 1e999999999 then breaks the arithmetic (a 500): the text is held to the
    pattern the OpenAPI document shows before Decimal reads it."""
    before = counts(env)
    response = post(env, "rep", "/quotes", data=f'{{"account": "ACME", "lines": [], "discount_amount": {amount}}}',
                    content_type="application/json")
    assert list(error_of(response, 422)["fields"]) == ["discount_amount"]
    assert counts(env) == before


@pytest.mark.parametrize("amount, stored", [("10", "10.00"), ("10.5", "10.50"), (10, "10.00"), (10.5, "10.50")])
def test_a_decimal_in_its_pattern_or_as_a_json_number_is_read(env, amount, stored):
    made = post(env, "rep", "/quotes", json={"account": "ACME", "lines": [{"product": "SUP-MC-Y"}],
                                              "discount_amount": amount})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["discount_amount"] == stored


def test_every_decimal_a_request_takes_documents_its_pattern(client):
    spec = client.get("/api/openapi.json").get_json()
    decimals = [(where, schema) for where, schema in request_schemas(spec) if schema.get("format") == "decimal"]
    assert len(decimals) > 20
    assert [where for where, schema in decimals if schema.get("pattern") not in (UNSIGNED, SIGNED)] == []


@pytest.mark.parametrize("price", ['"1_0"', "1e20", "12345678901234567890.5", '"\u0661"'])
def test_a_documents_decimal_is_read_only_in_the_same_pattern(env, price):
    book = BOOK.format(name="Odd prices") + f"  X: {{name: X, price: {price}}}\n"
    response = post(env, "admin", "/pricebooks/validate", data=book.replace("products: {}", "products:"),
                    content_type="application/yaml")
    assert error_of(response, 422)["fields"] == {"products.X.price": ["expected a number"]}


@pytest.mark.parametrize("body", ["", "\n", "  \r\n"])
def test_a_body_the_document_says_is_required_is_required(env, body):
    """Else a missing body reads as the schema's defaults: a price of nothing, a PATCH of "\\n"."""
    headers = {"Authorization": f"Bearer {env.tokens['admin']}"}
    wrong = []
    for method, url, required in json_operations(env.client):
        response = env.client.open(url, method=method.upper(), data=body, headers=headers,
                                   content_type="application/json")
        refused = response.status_code == 400 and response.get_json()["error"]["code"] == "empty_body"
        if refused != required:
            wrong.append(f"{method} {url} (required: {required}): {response.status_code}")
    assert wrong == []


def test_every_date_a_request_takes_is_bounded(client):
    spec = client.get("/api/openapi.json").get_json()
    days = [(where, schema) for where, schema in request_schemas(spec) if schema.get("format") == "date"]
    assert len(days) >= 10
    assert [where for where, schema in days
            if (schema.get("x-minimum"), schema.get("x-maximum")) != (str(FIRST_DAY), str(LAST_DAY))] == []


@pytest.mark.parametrize("who, method, path, body, field", [
    ("finance", "get", "/collections/dso?today=0001-01-01&days=507", None, "today"),
    ("finance", "get", "/collections/aging?today=9999-12-31", None, "today"),
    ("finance", "post", "/payments", {"account": "ACME", "amount": "10", "currency": "USD", "method": "wire",
                                      "reference": "R-9", "received_on": "9999-12-31"}, "received_on"),
    ("rep", "post", "/quotes", {"account": "ACME", "lines": [], "expires_on": "0001-01-01"}, "expires_on"),
    ("rep", "post", "/pricing/quote", {"price_book": "list-usd", "lines": [{"product": "SUP-MC-Y"}],
                                       "date": "9999-12-31"}, "date"),
])
def test_a_date_no_arithmetic_survives_is_refused_naming_it(env, who, method, path, body, field):
    """Terms and periods are added to a date and days taken from it: past the years 1 and 9999
    that arithmetic fails (a 500 before)."""
    before = counts(env)
    headers = {"Authorization": f"Bearer {env.tokens[who]}"}
    response = getattr(env.client, method)(f"/api/v1{path}", json=body, headers=headers)
    assert list(error_of(response, 422)["fields"]) == [field]
    assert counts(env) == before
