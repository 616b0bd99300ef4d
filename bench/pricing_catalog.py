"""The pricing benchmark's catalog and price book, and the customer facts and pricing day
its rules and quotes are drawn over.

The catalog has 200 products in families, as a distributor or vendor would sell them:
hardware (HW-), accessories (ACC-), services (SVC-), training (TRN-), annual licences (LIC-),
monthly subscriptions (SUB-), and a few configurable appliances (lowercase codes, priced with
option surcharges, so that rules can test their attributes). Every product has a cost.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

DAY = date(2026, 9, 15)                  # the pricing date of the benchmark quotes
CENT = Decimal("0.01")
EUR_RATE = Decimal("0.92")

SEGMENTS = ["enterprise", "midmarket", "smb", "public", "education"]
TIERS = ["bronze", "silver", "gold", "platinum"]
CHANNELS = ["direct", "partner", "online", "distributor"]
CUSTOMERS = [f"CUST-{i:04d}" for i in range(1, 121)]

# the benchmark quote's customer facts (rules are drawn over all values, so some hold)
QUOTE_FACTS = {"customer": "CUST-0042", "segment": "enterprise", "tier": "gold", "channel": "partner",
               "payment_terms": "net60"}

# family -> (count, charge, price range, cost share range)
FAMILIES = {
    "HW": (60, "one_time", (150, 25000), (0.55, 0.78)),
    "ACC": (40, "one_time", (8, 600), (0.25, 0.5)),
    "SVC": (20, "one_time", (400, 3500), (0.4, 0.6)),
    "TRN": (5, "one_time", (600, 2500), (0.3, 0.45)),
    "LIC": (30, "annual", (90, 6000), (0.08, 0.2)),
    "SUB": (30, "monthly", (4, 450), (0.15, 0.35)),
    "cfg": (15, "one_time", (1500, 30000), (0.55, 0.7)),     # configurable appliances
}
EDITIONS = ["std", "pro", "enterprise"]
REGIONS = ["na", "emea", "apac"]


def money(x) -> str:
    return str(Decimal(x).quantize(CENT))


def both(usd: Decimal) -> dict:
    """An amount in USD and EUR (the EUR one at the planning rate)."""
    return {"USD": money(usd), "EUR": money(usd * EUR_RATE)}


@dataclass
class Catalog:
    products: list[str]
    family: dict[str, str]
    price: dict[str, Decimal]
    cost: dict[str, Decimal]
    charge: dict[str, str]
    by_family: dict[str, list[str]] = field(default_factory=dict)
    configurable: list[str] = field(default_factory=list)


def make_catalog(rng: random.Random) -> tuple[Catalog, dict]:
    products, family, price, cost, charge = [], {}, {}, {}, {}
    book_products, options = {}, {}
    for fam, (count, chg, (lo, hi), (c_lo, c_hi)) in FAMILIES.items():
        for i in range(1, count + 1):
            code = f"cfg-appliance-{i:02d}" if fam == "cfg" else f"{fam}-{i:04d}"
            # log-uniform list price, rounded like a price list (.00, .50, .99)
            p = Decimal(str(round(lo * (hi / lo) ** rng.random(), 0)))
            p = p + rng.choice([Decimal(0), Decimal("0.5"), Decimal("0.99")]) if p < 1000 else p
            c = (p * Decimal(str(round(rng.uniform(c_lo, c_hi), 3)))).quantize(CENT)
            products.append(code)
            family[code], price[code], cost[code], charge[code] = fam, p.quantize(CENT), c, chg
            entry = {"name": f"{fam} product {i}", "price": money(p), "cost": money(c)}
            if chg != "one_time":
                entry["charge"] = chg
                entry["term_months"] = rng.choice([12, 12, 24, 36]) if chg == "annual" else rng.choice([1, 12, 12, 24, 36])
            book_products[code] = entry
            if fam == "cfg":
                step = (p / 10).quantize(CENT)
                options[code] = {
                    "edition": {"std": {"price": 0, "cost": 0}, "pro": {"price": money(step * 2), "cost": money(step * Decimal("0.6"))},
                                "enterprise": {"price": money(step * 5), "cost": money(step * Decimal("1.4"))}},
                    "region": {r: {"price": money(step * k / 4), "cost": money(step * k / 8)}
                               for k, r in enumerate(REGIONS)},
                    "support_24x7": {True: {"price": money(step * 3), "cost": money(step)}},
                    "storage_tb": {"per_unit": {"price": money(step / 2), "cost": money(step / 4)}},
                }
    cat = Catalog(products, family, price, cost, charge)
    for code in products:
        cat.by_family.setdefault(family[code], []).append(code)
    cat.configurable = cat.by_family["cfg"]
    book = {"pricebook": "bench-usd", "name": "Benchmark list prices (USD)", "version": 1, "currency": "USD",
            "valid_from": "2026-01-01", "products": book_products, "options": options}
    return cat, book


def line_values(rng: random.Random, product: str) -> dict:
    """Decided attribute values of a configurable product's line (as a configurator resolves them)."""
    if not product.startswith("cfg-"):
        return {}
    return {"edition": rng.choice(EDITIONS), "region": rng.choice(REGIONS),
            "support_24x7": rng.random() < 0.4, "storage_tb": rng.choice([0, 2, 4, 8, 16, 32, 64])}
