"""Helpers for the usage tests: a price book with metered products, accounts, and records as
a JSON body gives them. Used by tests/test_usage.py and tests/test_usage_api.py."""

from __future__ import annotations

from datetime import datetime, timezone

from billing.tax import load_demo_tax_rates
from catalog.pricebook import load_price_book_dict
from catalog.store import save_price_book
from core.settings import DEFAULT_DEMO_DIR
from sales.accounts import create_account

USAGE_BOOK = {"pricebook": "usage-usd", "version": 1, "currency": "USD", "products": {
    "API-CALLS": {"name": "API calls", "metered": {
        "meter": "api_calls", "unit": "call", "model": "graduated", "minimum": "50.00",
        "tiers": [{"up_to": 10, "unit_price": "1.00", "flat_fee": "10.00"},
                  {"unit_price": "0.80", "flat_fee": "20.00"}]}},
    "STORAGE": {"name": "Storage", "metered": {"meter": "storage_gb", "unit": "GB-day", "model": "per_unit",
                                               "unit_price": "0.0015", "included": 100, "tax_category": "services"}},
    "SMS": {"name": "Text messages", "metered": {"meter": "sms", "unit": "message", "model": "package",
                                                 "package": {"size": 100, "price": "5.00"}}}}}
TEXAS = {"street": "500 Industrial Way", "city": "Austin", "region": "TX", "country": "US"}
MARCH = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)           # received during March
CLOSED = datetime(2026, 4, 4, 0, 0, tzinfo=timezone.utc)            # March's grace (3 days) has ended
NUMBER = "expected a number of at least 0 and below 1,000,000,000,000, such as 12.5"     # a bad quantity


def setup_usage(session) -> None:
    load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
    save_price_book(session, load_price_book_dict(USAGE_BOOK))
    create_account(session, {"code": "ACME", "name": "Acme", "currency": "USD", "billing_address": TEXAS})
    create_account(session, {"code": "NOADDR", "name": "No Address", "currency": "USD"})
    create_account(session, {"code": "EURO", "name": "Euro GmbH", "currency": "EUR",
                             "billing_address": {"city": "Berlin", "country": "DE"}})


def record(key: str, quantity="1", meter: str = "api_calls", account: str = "ACME",
           event_time: str = "2026-03-14T09:30:00Z", **more) -> dict:
    return {"account": account, "meter": meter, "quantity": quantity, "event_time": event_time,
            "idempotency_key": key, **more}


def rows(*records: dict) -> list[tuple[str, dict]]:
    return [(f"records[{i}]", r) for i, r in enumerate(records)]
