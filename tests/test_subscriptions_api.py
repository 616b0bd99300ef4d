"""Subscriptions, amendments and renewals through the API: a contract's subscriptions with
their versions; an amendment quoted from the contract (carrying the contracted net unit
price), approved, accepted and applied once, billing by the day what was billed already (a
charge, then a credit note); the renewal quote ahead of the end with the contract's uplift,
and what its acceptance, refusal or neglect does at the end of the term; who sees what."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from billing.schedule import plan
from billing.tax import load_demo_tax_rates
from core.db import session_scope
from core.money import currency
from core.settings import DEFAULT_DEMO_DIR
from quote_flow import act, call, customer, env, error_of, ok, sent  # noqa: F401
from sales import contracts, renewals
from sales.accounts import Account
from sales.models import Quote

pytestmark = pytest.mark.postgres

SOLD = [{"product": "SUP-PRO-M", "quantity": 10, "discount_percent": "10"}]     # 49.00 less 10 %: 441.00 a month


@pytest.fixture
def live(env):
    """An active contract of SOLD from today, its order, and the first month invoiced and issued."""
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.billing_address = {"street": "1 Road", "city": "Austin", "region": "TX", "country": "US"}
    number, token = sent(env, SOLD)
    ok(customer(env, token, "accept"))
    contract = ok(call(env, "post", "/contracts", "rep", {"quote": number, "escalation_percent": "5"}), 201)["number"]
    link = ok(call(env, "post", f"/contracts/{contract}/send", "rep"))
    ok(env.client.post(f"/api/v1/signing/{link['token']}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)["number"]
    draft = ok(call(env, "post", f"/orders/{order}/invoices", "finance", {}), 201)
    ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))
    return env, contract, order


def accepted_amendment(env, contract, changes, day=None):
    quote = ok(call(env, "post", f"/contracts/{contract}/amendments", "rep",
                    {"effective_date": (day or date.today()).isoformat(), "changes": changes}), 201)
    number = quote["number"]
    submitted = act(env, number, "submit")
    if submitted["state"] == "pending_approval":
        act(env, number, "approve", "manager", level="sales_manager")
    token = act(env, number, "send")["share_link"]["token"]
    ok(customer(env, token, "accept"))
    return quote


def first_month(amount: str) -> Decimal:
    return plan(date.today(), "monthly", Decimal(amount), currency("USD"), term_months=12)[0].amount


def test_a_contract_has_a_subscription_per_recurring_line_with_its_versions(live):
    env, contract, order = live
    (sub,) = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    assert (sub["contract"], sub["order"], sub["product"], sub["charge"], sub["state"]) == (
        contract, order, "SUP-PRO-M", "monthly", "active")
    assert (sub["start_date"], sub["term_months"], sub["anchor_day"]) == (date.today().isoformat(), 12, 1)
    (version,) = sub["versions"]
    assert (version["version"], version["quantity"], version["amount"], version["unit_price"]) == (
        1, "10", "441.00", "44.10")
    assert sub["current"] == version
    assert ok(call(env, "get", f"/subscriptions/{sub['id']}")) == sub
    assert ok(call(env, "get", "/subscriptions?account=ACME")) == [sub]
    assert ok(call(env, "get", f"/subscriptions/{sub['id']}", "finance"))["id"] == sub["id"]
    assert error_of(call(env, "get", f"/subscriptions/{sub['id']}", "rep2"), 404)      # not their quote
    assert ok(call(env, "get", "/subscriptions", "rep2")) == []
    assert error_of(call(env, "get", "/subscriptions", "erp"), 403)


def test_an_amendment_is_a_quote_applied_once_that_bills_by_the_day(live):
    env, contract, order = live
    (sub,) = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    quote = accepted_amendment(env, contract, [{"subscription": sub["id"], "quantity": 15},
                                               {"product": "SOLAR-MON-M", "quantity": 2}])
    assert (quote["kind"], quote["contract"], quote["effective_date"]) == ("amendment", contract, date.today().isoformat())
    carried, added = quote["price"]["lines"]
    assert (carried["net_total"], [s["kind"] for s in carried["steps"]]) == ("661.50", ["contract"])   # 44.10 x 15
    assert added["net_total"] == "19.80" and quote["lines"][0]["subscription"] == sub["id"]
    assert error_of(call(env, "post", "/orders", "rep", {"quote": quote["number"]}), 409)      # applied, not ordered
    assert error_of(call(env, "post", "/contracts", "rep", {"quote": quote["number"]}), 409)

    applied = ok(call(env, "post", f"/quotes/{quote['number']}/apply", "rep"), 201)
    (version,) = applied["versions"]
    assert (version["subscription"], version["version"], version["quantity"], version["amount"]) == (
        sub["id"], 2, "15", "661.50")
    (charge,) = applied["invoices"]
    assert charge["state"] == "draft" and applied["credit_notes"] == []
    assert Decimal(charge["net_total"]) == first_month("661.50") - first_month("441.00")   # the month billed already
    assert applied["order"] is not None
    assert ok(call(env, "post", f"/quotes/{quote['number']}/apply", "rep"), 200) == applied   # once

    subs = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    solar = next(s for s in subs if s["product"] == "SOLAR-MON-M")
    end = key_dates(env, contract)[1]
    assert (solar["order"], solar["start_date"], solar["end_date"]) == (applied["order"], date.today().isoformat(),
                                                                         end.isoformat())          # co-termed
    assert [v["quantity"] for v in next(s for s in subs if s["id"] == sub["id"])["versions"]] == ["10", "15"]

    ok(call(env, "post", f"/invoices/{charge['id']}/issue", "finance"))
    fewer = accepted_amendment(env, contract, [{"subscription": sub["id"], "quantity": 4}])
    assert fewer["price"]["lines"][0]["net_total"] == "176.40"                               # 44.10 x 4
    applied = ok(call(env, "post", f"/quotes/{fewer['number']}/apply", "rep"), 201)
    assert applied["invoices"] == []
    credited = sum(Decimal(n["net_total"]) for n in applied["credit_notes"])
    assert credited == first_month("661.50") - first_month("176.40")
    assert all(n["kind"] == "credit_note" and n["state"] in ("open", "paid") for n in applied["credit_notes"])


def test_an_amendment_line_may_be_repriced_and_only_live_subscriptions_change(live):
    env, contract, _order = live
    (sub,) = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    body = {"effective_date": date.today().isoformat(), "changes": [{"subscription": sub["id"], "quantity": 10,
                                                                    "reprice": True}]}
    quote = ok(call(env, "post", f"/contracts/{contract}/amendments", "rep", body), 201)
    assert quote["price"]["lines"][0]["net_total"] == "490.00"          # the list price, no contract discount
    late = {**body, "effective_date": (date.today() + timedelta(days=400)).isoformat()}
    assert "effective_date" in error_of(call(env, "post", f"/contracts/{contract}/amendments", "rep", late), 422)["fields"]
    unknown = {**body, "changes": [{"subscription": 999999, "quantity": 1}]}
    assert "changes[0].subscription" in error_of(call(env, "post", f"/contracts/{contract}/amendments", "rep",
                                                      unknown), 422)["fields"]
    assert error_of(call(env, "post", f"/quotes/{quote['number']}/apply", "rep"), 409)["state"] == "draft"
    assert error_of(call(env, "post", f"/contracts/{contract}/amendments", "rep2", body), 404)


def test_finance_applies_what_a_rep_sold_and_others_cannot(live):
    env, contract, _order = live
    quote = accepted_amendment(env, contract, [{"product": "SOLAR-MON-M", "quantity": 1}],
                               date.today() + timedelta(days=3))
    assert error_of(call(env, "post", f"/quotes/{quote['number']}/apply", "rep2"), 404)     # not their quote
    assert error_of(call(env, "post", f"/quotes/{quote['number']}/apply", "manager"), 403)  # no contracts:write
    applied = ok(call(env, "post", f"/quotes/{quote['number']}/apply", "finance"), 201)
    assert applied["versions"] == [] and applied["invoices"] == [] and applied["order"] is not None
    order = ok(call(env, "get", f"/orders/{applied['order']}", "finance"))
    assert (order["contract"], [ln["product"] for ln in order["lines"]]) == (contract, ["SOLAR-MON-M"])


# ---- renewals --------------------------------------------------------------------------------

def key_dates(env, contract) -> tuple[date, date]:
    """(the first day of the renewal quote's window, the end date)."""
    with session_scope(env.engine) as session:
        c = contracts.get_contract(session, contract)
        return c.end_date - timedelta(days=c.notice_days + contracts.RENEWAL_NOTICE_LEAD_DAYS), c.end_date


def jobs(env, day) -> list[str]:
    with session_scope(env.engine) as session:
        return renewals.run_jobs(session, day) + contracts.run_jobs(session, day)


def test_the_renewal_quote_comes_ahead_of_the_end_with_the_uplift_and_renews_when_accepted(live):
    env, contract, _order = live
    window, end = key_dates(env, contract)
    assert error_of(call(env, "get", f"/contracts/{contract}/renewal-quote"), 404)
    assert not any("renewal quote" in line for line in jobs(env, window - timedelta(days=1)))
    made = jobs(env, window)
    quote = ok(call(env, "get", f"/contracts/{contract}/renewal-quote"))
    assert f"{contract}: renewal quote {quote['number']}" in made
    assert not any("renewal quote" in line for line in jobs(env, window + timedelta(days=1)))     # once
    (sub,) = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    assert (quote["kind"], quote["contract"], quote["state"], quote["lines"][0]["subscription"]) == (
        "renewal", contract, "draft", sub["id"])
    (line,) = quote["price"]["lines"]
    assert (line["net_total"], line["term_months"], line["steps"][0]["kind"]) == ("463.05", 12, "contract")  # 441 + 5 %
    assert ok(call(env, "post", f"/contracts/{contract}/renewal-quote", "rep"), 200)["number"] == quote["number"]
    error_of(call(env, "post", "/orders", "rep", {"quote": quote["number"]}), 409)       # not before its term

    act(env, quote["number"], "submit")
    token = act(env, quote["number"], "send")["share_link"]["token"]
    ok(customer(env, token, "accept"))
    done = jobs(env, end + timedelta(days=1))
    assert f"{contract}: renewed as {contract}/R1 from {quote['number']}" in done
    assert f"subscription {sub['id']}: ended" in done
    with session_scope(env.engine) as session:       # (a renewal's number has a /: not an API path)
        following = contracts.get_contract(session, f"{contract}/R1")
        assert (session.get(Quote, following.quote_id).number, following.state, following.contract_value,
                following.start_date) == (quote["number"], "active", Decimal("5556.60"), end + timedelta(days=1))
    assert ok(call(env, "get", f"/contracts/{contract}"))["state"] == "renewed"
    ordered = ok(call(env, "post", "/orders", "rep", {"quote": quote["number"]}), 201)
    (renewed,) = ok(call(env, "get", f"/subscriptions?contract={contract}/R1"))
    assert (renewed["order"], renewed["start_date"], renewed["current"]["amount"]) == (
        ordered["number"], (end + timedelta(days=1)).isoformat(), "463.05")


def test_a_declined_renewal_quote_ends_the_contract_and_its_subscriptions(live):
    env, contract, _order = live
    _window, end = key_dates(env, contract)
    quote = ok(call(env, "post", f"/contracts/{contract}/renewal-quote", "rep"), 201)
    act(env, quote["number"], "submit")
    token = act(env, quote["number"], "send")["share_link"]["token"]
    ok(customer(env, token, "decline", reason="we are moving on"))
    done = jobs(env, end + timedelta(days=1))
    assert f"{contract}: renewal declined" in done and f"{contract}: expired" in done
    (sub,) = ok(call(env, "get", f"/subscriptions?contract={contract}"))
    assert (sub["state"], sub["end_date"]) == ("ended", end.isoformat())


def test_a_renewal_quote_not_acted_upon_leaves_the_silent_renewal(live):
    env, contract, _order = live
    window, end = key_dates(env, contract)
    jobs(env, window)
    done = jobs(env, end + timedelta(days=1))
    assert f"{contract}: renewed as {contract}/R1" in done                     # the escalated value, as before
    with session_scope(env.engine) as session:
        following = contracts.get_contract(session, f"{contract}/R1")
        assert (following.quote_id, following.contract_value) == (None, Decimal("5556.60"))   # 5,292.00 + 5 %
