"""What a customer reads is built from one projection of the price: every customer-facing
response of a priced quote (share link JSON and page, its PDF, the contract page and PDF,
the storefront's price and configurator) is rendered, and none may show a cost, a margin,
a rule or an approval."""

from __future__ import annotations

import io
import json

import pypdf

from quote_flow import act, call, create, customer, env, ok  # noqa: F401
from core.locales import amount

LINES = [{"product": "rack-server", "quantity": 4, "selections": {"cpu": "e9354", "gpu": "l4"},
          "discount_percent": "20"}, {"product": "SUP-MC-Y", "quantity": 4}]


def internals(price: dict) -> set[str]:
    """What the seller's price holds that no customer may see, as it could be written."""
    found = {'"unit_cost"', '"cost"', '"margin"', '"margin_percent"', '"considered"', '"approvals"'}   # as JSON keys
    numbers = [price["totals"]["cost"], price["totals"]["margin"]] + [line["unit_cost"] for line in price["lines"]]
    for value in numbers:
        if value and float(value):
            found |= {value, amount(value, price["currency"])}
    for outcome in [o for line in price["lines"] for o in line["considered"]] + price["quote_considered"]:
        found |= {outcome["rule"], outcome["reason"]}
    for approval in price["approvals"]:
        found |= {approval["level"]} | {reason["rule"] for reason in approval["reasons"]}
    return found


def pdf_text(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)


def customer_outputs(env) -> tuple[dict, dict[str, str]]:
    number = create(env, LINES)["number"]
    act(env, number, "submit")
    internal = act(env, number, "approve", "manager", level="sales_manager")["price"]
    sent = act(env, number, "send")
    token = sent["share_link"]["token"]
    client = env.client
    outputs = {
        "share JSON": client.get(f"/api/v1/shared/{token}").get_data(as_text=True),
        "share page": client.get(f"/q/{token}").get_data(as_text=True),
        "quote PDF": pdf_text(client.get(f"/q/{token}/pdf")),
        "acceptance": customer(env, token, "accept").get_data(as_text=True),
    }
    contract = ok(call(env, "post", "/contracts", body={"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send"))["token"]
    outputs |= {
        "contract page": client.get(f"/c/{link}").get_data(as_text=True),
        "contract PDF": pdf_text(client.get(f"/c/{link}/pdf")),
        "signature": client.post(f"/api/v1/signing/{link}/sign",
                                 json={"name": "Jo Buyer", "email": "jo@acme.com"}).get_data(as_text=True),
        "storefront price": client.post("/api/v1/products/rack-server/price", json={
            "selections": LINES[0]["selections"], "quantity": 4}).get_data(as_text=True),
        "configurator page": client.get("/configure/rack-server").get_data(as_text=True),
    }
    return internal, outputs


def test_no_customer_facing_output_shows_cost_margin_rules_or_approvals(env):
    internal, outputs = customer_outputs(env)
    secrets = internals(internal)
    assert internal["totals"]["margin"] and internal["approvals"] and len(secrets) > 10
    leaks = {where: sorted(s for s in secrets if s in text) for where, text in outputs.items()}
    assert {where: found for where, found in leaks.items() if found} == {}


def test_the_customer_still_sees_the_price_they_are_asked_to_accept(env):
    internal, outputs = customer_outputs(env)
    shared = json.loads(outputs["share JSON"])["price"]
    assert shared["totals"]["contract_value"] == internal["totals"]["contract_value"]
    assert [line["net_total"] for line in shared["lines"]] == [line["net_total"] for line in internal["lines"]]
    assert amount(internal["totals"]["contract_value"], "USD") in outputs["quote PDF"]
