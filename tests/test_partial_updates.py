"""A partial update (PATCH) changes exactly the fields it names: every PATCH endpoint, with
random subsets of its fields, leaves everything it did not name as it was (selections,
prices, notes, owners...)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import fields

from api.schemas import ChangeSchema
from quote_flow import call, create, env, get, ok  # noqa: F401  (env is a fixture)

SERVER = {"cpu": "e9354", "gpu": "l4", "dimm_size": "gb64", "dimm_count": 8}
PROPERTY = settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_a_line_patch_naming_only_the_discount_keeps_the_configuration(env):
    quote = create(env, [{"product": "rack-server", "selections": SERVER}])
    line, list_total = quote["lines"][0], quote["price"]["lines"][0]["list_total"]
    changed = ok(call(env, "patch", f"/quotes/{quote['number']}/lines/{line['key']}",
                      body={"discount_percent": "20", "lock_version": quote["lock_version"]}))
    assert changed["lines"][0]["selections"] == SERVER
    assert changed["price"]["lines"][0]["list_total"] == list_total
    assert Decimal(changed["lines"][0]["discount_percent"]) == 20


def _patch_routes(app):
    for rule in app.url_map.iter_rules():
        if "PATCH" in rule.methods:
            view = app.view_functions[rule.endpoint]
            (body,) = [p["schema"] for p in view._apidoc["arguments"]["parameters"] if p["in"] == "json"]
            yield rule.rule, body


def test_every_patch_body_is_a_change_schema(app):
    routes = dict(_patch_routes(app))
    assert len(routes) >= 5
    assert {rule: isinstance(body, ChangeSchema) for rule, body in routes.items()} == dict.fromkeys(routes, True)


def test_a_change_schema_refuses_a_field_with_a_default():
    class Careless(ChangeSchema):
        selections = fields.Dict(load_default=dict)

    with pytest.raises(TypeError, match="selections has a default"):
        Careless()


# ---- the property: named fields change, nothing else does -----------------------------------

def unchanged_except(before: dict, after: dict, named: set[str], derived: set[str]) -> dict:
    """The fields neither named nor derived from them whose value moved (empty: as it should)."""
    return {k: (before[k], after.get(k)) for k in before
            if k not in named | derived and before[k] != after.get(k)}


def _decimal_text(low: int, high: int) -> st.SearchStrategy[str]:
    return st.decimals(low, high, places=2, allow_nan=False, allow_infinity=False).map(str)


TEXT = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" -"),
               min_size=1, max_size=30).map(str.strip).filter(bool)
DISCOUNT = st.one_of(
    st.just({"discount_percent": None, "discount_amount": None}),
    _decimal_text(0, 15).map(lambda p: {"discount_percent": p, "discount_amount": None}),
    _decimal_text(0, 50).map(lambda a: {"discount_percent": None, "discount_amount": a}))


def _subset(options: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """A non-empty subset of the fields, each with a value of its strategy."""
    names = sorted(options)
    return st.sets(st.sampled_from(names), min_size=1).flatmap(
        lambda chosen: st.fixed_dictionaries({n: options[n] for n in sorted(chosen)}))


def _flatten(body: dict) -> dict:
    """Grouped fields (a discount is a percent and an amount) as one flat body."""
    flat = {}
    for name, value in body.items():
        flat.update(value if name == "discount" else {name: value})
    return flat


def _same(sent, shown) -> bool:
    """Equal, or the same number written differently ("10" and "10.00"; text such as "NaN" is text)."""
    if sent == shown:
        return True
    if isinstance(sent, str) and isinstance(shown, str):
        try:
            return Decimal(sent) == Decimal(shown)
        except ArithmeticError:
            return sent == shown
    return sent == shown


QUOTE_HEADER = {
    "title": TEXT, "notes": TEXT, "channel": st.sampled_from([None, "direct"]),   # ACME's (below), or none
    "payment_terms": st.sampled_from(["net30", "net60"]), "discount": DISCOUNT,
    "expires_on": st.integers(1, 60).map(lambda d: (date.today() + timedelta(days=d)).isoformat()),
}
PRICE_FIELDS = {"channel", "payment_terms", "discount_percent", "discount_amount"}


@PROPERTY
@given(data=st.data())
def test_a_quote_header_patch_changes_exactly_what_it_names(env, data):
    ok(call(env, "patch", "/accounts/ACME", "admin", {"channel": "direct"}))
    number = create(env, [{"product": "rack-server", "selections": SERVER}, {"product": "SUP-MC-Y", "quantity": 2}],
                    title="Servers", notes="keep me")["number"]
    before = get(env, number)
    body = _flatten(data.draw(_subset(QUOTE_HEADER)))
    after = ok(call(env, "patch", f"/quotes/{number}", body={**body, "lock_version": before["lock_version"]}))
    assert after == get(env, number)
    assert {k: after[k] for k in body if not _same(body[k], after[k])} == {}
    derived = {"lock_version", "updated_at", "terms"}
    if PRICE_FIELDS & set(body):
        derived |= {"price", "one_time_net", "contract_value", "approvals_required", "discount_explanations"}
    assert unchanged_except(before, after, set(body), derived) == {}


LINE = {
    "quantity": st.integers(1, 40), "discount": DISCOUNT, "notes": TEXT,
    "group": st.one_of(st.none(), TEXT),
    "selections": st.sampled_from([SERVER, {"cpu": "xg6430"}, {"gpu": "none"}, {}]),
}


@PROPERTY
@given(data=st.data(), which=st.sampled_from(["1", "2"]))
def test_a_line_patch_changes_exactly_what_it_names(env, data, which):
    quote = create(env, [{"product": "rack-server", "selections": SERVER, "notes": "rack", "group": "HW"},
                         {"product": "SUP-MC-Y", "quantity": 2, "notes": "support"}])
    options = dict(LINE) if which == "1" else {k: v for k, v in LINE.items() if k != "selections"} | {
        "term_months": st.sampled_from([12, 24, 36])}
    body = _flatten(data.draw(_subset(options)))
    after = ok(call(env, "patch", f"/quotes/{quote['number']}/lines/{which}",
                    body={**body, "lock_version": quote["lock_version"]}))
    lines_before = {line["key"]: line for line in quote["lines"]}
    lines_after = {line["key"]: line for line in after["lines"]}
    line = lines_after[which]
    assert {k: line[k] for k in body if not _same(body[k], line[k])} == {}
    derived = {"chosen"} if "selections" in body else set()      # the chosen values' labels
    assert unchanged_except(lines_before[which], line, set(body), derived) == {}
    others = [k for k in lines_before if k != which]
    assert [lines_before[k] for k in others] == [lines_after[k] for k in others]
    priced_before = {p["id"]: p for p in quote["price"]["lines"]}
    priced_after = {p["id"]: p for p in after["price"]["lines"]}
    if not {"selections", "quantity", "term_months"} & set(body):
        assert priced_after[which]["list_total"] == priced_before[which]["list_total"]
    assert unchanged_except(quote, after, set(), {
        "lines", "lock_version", "updated_at", "price", "one_time_net", "contract_value", "approvals_required",
        "discount_explanations"}) == {}


ADDRESS = st.fixed_dictionaries({"street": TEXT, "city": TEXT, "country": st.sampled_from(["US", "DE", "FR"])})
ACCOUNT = {
    "name": TEXT, "tax_id": st.one_of(st.none(), TEXT), "segment": st.sampled_from([None, "enterprise", "smb"]),
    "tier": st.sampled_from([None, "gold", "silver"]), "credit_limit": st.one_of(st.none(), _decimal_text(0, 99999)),
    "payment_terms": st.sampled_from(["net30", "net60"]), "billing_address": ADDRESS,
    "invoice_consolidation": st.sampled_from(["per_document", "per_billing_day"]), "billing_day": st.integers(1, 28), "shipping_address": ADDRESS,
    "contacts": st.lists(st.fixed_dictionaries({"name": TEXT, "email": st.sampled_from(["a@x.com", "b@y.org"])}),
                         max_size=1, unique_by=lambda c: c["email"]),
}


@PROPERTY
@given(data=st.data())
def test_an_account_patch_changes_exactly_what_it_names(env, data):
    before = ok(call(env, "get", "/accounts/ACME", "admin"))
    body = data.draw(_subset(ACCOUNT))
    after = ok(call(env, "patch", "/accounts/ACME", "admin", body))
    assert after == ok(call(env, "get", "/accounts/ACME", "admin"))
    for name, sent in body.items():
        shown = after[name]
        if name == "contacts":
            shown = [{k: c[k] for k in ("name", "email")} for c in shown]
        elif name.endswith("_address"):
            shown = {k: shown.get(k) for k in sent}
        assert _same(sent, shown), (name, sent, shown)
    assert unchanged_except(before, after, set(body), {"updated_at"}) == {}


USER = {
    "name": TEXT, "role": st.sampled_from(["rep", "approver", "finance"]), "team": st.one_of(st.none(), TEXT),
    "approval_levels": st.lists(st.sampled_from(["sales_manager", "vp_sales", "finance"]), unique=True).map(sorted),
    "active": st.booleans(),
}


@PROPERTY
@given(data=st.data())
def test_a_user_patch_changes_exactly_what_it_names(env, data):
    target = next(u for u in ok(call(env, "get", "/users", "admin")) if u["email"] == "rep2@example.com")
    before = ok(call(env, "get", f"/users/{target['id']}", "admin"))
    body = data.draw(_subset(USER))
    after = ok(call(env, "patch", f"/users/{target['id']}", "admin", body))
    assert after == ok(call(env, "get", f"/users/{target['id']}", "admin"))
    assert {k: after[k] for k in body if not _same(body[k], after[k])} == {}
    assert unchanged_except(before, after, set(body), set()) == {}


WEBHOOK = {
    "url": st.sampled_from(["https://hooks.example.com/a", "https://erp.example.org/b"]),
    "events": st.lists(st.sampled_from(["quote.sent", "quote.accepted", "order.created"]), min_size=1,
                       unique=True).map(sorted),
    "description": TEXT, "active": st.booleans(),
}


@PROPERTY
@given(data=st.data())
def test_a_webhook_patch_changes_exactly_what_it_names(app, env, data):
    # no DNS here: the operator allows the example hosts (core/egress.py refuses what does not resolve)
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], webhook_allow_hosts=(
        "crm.example.com", "hooks.example.com", "erp.example.org"))
    made = ok(call(env, "post", "/webhooks", "admin", {"url": "https://crm.example.com/in", "events": ["quote.sent"],
                                                        "description": "CRM"}), 201)
    path = f"/webhooks/{made['subscription']['id']}"
    before = ok(call(env, "get", path, "admin"))
    body = data.draw(_subset(WEBHOOK))
    after = ok(call(env, "patch", path, "admin", body))
    assert after == ok(call(env, "get", path, "admin"))
    assert {k: after[k] for k in body if not _same(body[k], after[k])} == {}
    assert unchanged_except(before, after, set(body), set()) == {}
