"""Every amount leaves in its currency's minor units ("1.90", JPY "300", KWD "1.111"),
whatever the database handed back: one Money field (and UnitAmount for per-unit prices)
declares every amount of every response, and a test walks them all."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from marshmallow import Schema, fields

from api.bom_csv import flat_bom_csv
from billing.tax import load_demo_tax_rates
from configurator.results import Bom, FlatLine
from core.db import session_scope
from core.money import currency
from core.serialize import InCurrency, Money, MoneyMap, UnitAmount
from quote_flow import PLAIN, act, call, customer, env, ok, sent  # noqa: F401

#: decimals that are not money, by field name: counts, rates, percents and weights
NOT_MONEY = re.compile(r"^(.*quantity|periods|.*percent|.*rate|.*weight)$")
#: the other plain decimals, each with the reason it is not money
NOT_MONEY_FIELDS = {
    "DsoSchema.value": "days sales outstanding: a number of days",
    "EnumValueSchema.properties": "a model value's properties: plain numbers without a currency",
    "UsageStepSchema.above": "units of usage", "UsageStepSchema.up_to": "units of usage",
    "MeterUsageSchema.allowance_used": "units of usage", "MeterUsageSchema.billable": "units of usage",
}
#: free-form objects in responses, none of which holds an amount
OPAQUE = {
    "AccountOutSchema.billing_address", "AccountOutSchema.shipping_address", "InvoiceSchema.seller",
    "InvoiceSchema.buyer", "QuoteLineOutSchema.selections", "OrderLineSchema.configuration", "OrderLineSchema.bom",
    "DocumentVersionSchema.source", "EventSchema.data", "BundleSchema.models", "BundleSchema.price_books",
    "BundleSchema.rule_sets", "BundleSchema.active", "BundleSchema.accounts",
    "SubscriptionVersionSchema.configuration", "AppliedVersionSchema.configuration",
}
MONEY_TYPES = (Money, MoneyMap)


def response_schemas(app):
    for endpoint, view in app.view_functions.items():
        for responses in getattr(view, "_apidoc", {}).get("response", {}).get("responses", {}).values():
            for response in responses:
                if response.get("schema") is not None:
                    yield response["schema"]


def declared_badly(app) -> dict[str, str]:
    """Every field of every response schema that could carry an amount but is not declared
    as money: plain decimals and free-form objects, with what they are."""
    found, seen = {}, set()

    def walk(schema):
        schema = schema() if isinstance(schema, type) else schema
        if type(schema).__name__ in seen:
            return
        seen.add(type(schema).__name__)
        for name, field in schema.fields.items():
            visit(f"{type(schema).__name__}.{name}", name, field)

    def visit(where, name, field):
        if isinstance(field, fields.Nested):
            walk(field.schema)
        elif isinstance(field, fields.List):
            visit(where, name, field.inner)
        elif isinstance(field, MONEY_TYPES):
            if isinstance(field, Money) and field.metadata.get("type") != "string":
                found[where] = "an amount documented as something other than a decimal string"
        elif isinstance(field, fields.Dict):
            if field.value_field is None or isinstance(field.value_field, fields.Raw) and type(field.value_field) is fields.Raw:
                if where not in OPAQUE and "selections" not in where and "assignment" not in where:
                    found[where] = "a free-form object"
            else:
                visit(where, name, field.value_field)
        elif isinstance(field, fields.Decimal) and not NOT_MONEY.match(name) and where not in NOT_MONEY_FIELDS:
            found[where] = f"a plain decimal ({type(field).__name__})"

    for schema in response_schemas(app):
        walk(schema)
    return found


def test_every_amount_in_every_response_is_declared_as_money(app):
    assert declared_badly(app) == {}


def test_the_walk_catches_an_amount_declared_any_other_way(app):
    class Careless(Schema):
        fee = fields.Decimal(as_string=True)
        breakdown = fields.Dict()
        described = Money(metadata={"description": "a field's own words keep the type"})

    view = next(iter(app.view_functions.values()))
    view._apidoc = {"response": {"responses": {200: [{"schema": Careless}]}}}
    assert declared_badly(app) == {"Careless.fee": "a plain decimal (Decimal)",
                                   "Careless.breakdown": "a free-form object"}


# ---- how amounts are written -----------------------------------------------------------------

class Line(Schema):
    amount = Money()
    unit_price = UnitAmount()


class Document(Schema):
    currency = fields.String()
    total = Money()
    recurring = MoneyMap()
    lines = fields.List(InCurrency(Line))


@pytest.mark.parametrize("code, stored, total, unit", [
    ("USD", "1.9", "1.90", "1.90"),                 # SQLite hands back 1.9 for 1.90
    ("USD", "4320.000000", "4320.00", "4320.00"),   # PostgreSQL's NUMERIC(24, 6)
    ("JPY", "300.000000", "300", "300"),
    ("KWD", "1.111", "1.111", "1.111"),
    ("USD", "0.0042", "0.00", "0.0042"),            # a price per screw keeps its precision
])
def test_amounts_are_written_in_their_currencys_minor_units(code, stored, total, unit):
    value = Decimal(stored)
    dumped = Document().dump({"currency": code, "total": value, "recurring": {"monthly": value},
                              "lines": [{"amount": value, "unit_price": value}]})
    assert dumped == {"currency": code, "total": total, "recurring": {"monthly": total},
                      "lines": [{"amount": total, "unit_price": unit}]}


def test_an_amount_without_a_currency_is_a_bug_not_a_guess():
    with pytest.raises(ValueError, match="needs a currency"):
        Line().dump({"amount": Decimal("1")})


def test_bom_csv_costs_keep_the_minor_units():
    bom = Bom("p", 1, {}, "USD", (), (FlatLine("A-1", "Part", "ea", Decimal(2), Decimal("1.5"), Decimal("3"), Decimal(0), Decimal(0)),),
              Decimal("3"), Decimal(0))
    assert flat_bom_csv(bom).splitlines()[1] == "A-1,Part,ea,2,1.50,3.00,USD"


def test_amounts_read_back_from_the_database_leave_with_their_minor_units(env):
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session)
    ok(call(env, "patch", "/accounts/ACME", body={"billing_address": {"city": "Austin", "region": "TX",
                                                                        "country": "US"}}))
    number, token = sent(env, [{"product": "RAIL-KIT-2U", "quantity": 3}])
    ok(customer(env, token, "accept"))
    made = ok(call(env, "post", "/orders", body={"quote": number}), 201)
    draft = ok(call(env, "post", f"/orders/{made['number']}/invoices", "finance", {}), 201)
    invoice = ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))
    ok(call(env, "post", "/payments", "finance", {"account": "ACME", "amount": "10", "currency": "USD",
                                                  "method": "bank_transfer", "reference": "P-1"}), 201)
    two_places = re.compile(r"^-?\d+\.\d{2}$")
    shown = [ok(call(env, "get", f"/invoices/{invoice['id']}", "finance")),
             ok(call(env, "get", "/payments", "finance"))[0], ok(call(env, "get", "/accounts/ACME/ledger", "finance")),
             ok(call(env, "get", f"/orders/{made['number']}")), ok(call(env, "get", f"/quotes/{number}"))]
    amounts = [(path, value) for data in shown for path, value in _money(data)]
    assert amounts and [(p, v) for p, v in amounts if not two_places.match(v)] == []
    line = shown[0]["lines"][0]
    assert currency("USD").round(Decimal(line["tax_amount"])) == Decimal(line["tax_amount"])


MONEY_KEYS = re.compile(r"(amount|total|balance|unapplied|refunded|contract_value|one_time_net|base|tax)$")


def _money(data, path=""):
    """(path, value) of every amount-named string in a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and MONEY_KEYS.search(key) and key != "tax_category":
                yield f"{path}.{key}", value
            else:
                yield from _money(value, f"{path}.{key}")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _money(item, f"{path}[{i}]")
