"""Seeded generator of the pricing benchmark: a 500-rule rule set, its price book and quotes.

The catalog has 200 products in families, as a distributor or vendor would sell them:
hardware (HW-), accessories (ACC-), services (SVC-), training (TRN-), annual licences (LIC-),
monthly subscriptions (SUB-), and a few configurable appliances (lowercase codes, priced with
option surcharges, so that rules can test their attributes). Every product has a cost.

The rule set (exactly `n_rules` rules, 500 by default) mixes what a real commercial policy
holds: product and family percent discounts, customer tier/segment/contract rules, channel
rules, all_units / graduated / block volume tiers, customer contract prices (set_price),
amount discounts in USD and EUR (some EUR only), surcharges, promo-code rules with their
promotions, bundles (with_products), free items, floors (cost + margin, fixed prices),
attribute conditions, quantity conditions, date windows (current, expired and future) and a
few quote-level rules, over all four stacking modes; plus an approval policy.

Quotes draw products by popularity (Zipf-like), quantities 1..200 (mostly small), give a
share of lines a manual discount and recurring lines sometimes another term.

    .venv/bin/python bench/pricing_generate.py [--seed N] [--out DIR]   # DIR/ruleset.yaml, DIR/pricebook.yaml

Without --out it prints statistics only (and checks that both documents load).
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20240611
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


@dataclass
class Generated:
    rule_set: dict
    price_book: dict
    catalog: Catalog
    kinds: dict            # kind -> rules generated

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in self.kinds.items())
        return (f"{len(self.rule_set['rules'])} rules [{kinds}], {len(self.rule_set['promotions'])} promotions, "
                f"{len(self.rule_set['approvals']['rules'])} approval rules; "
                f"{len(self.catalog.products)} products "
                f"({', '.join(f'{f} {len(ps)}' for f, ps in self.catalog.by_family.items())})")


# ---- catalog and price book ---------------------------------------------------------------

def _catalog(rng: random.Random) -> tuple[Catalog, dict]:
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


# ---- rules --------------------------------------------------------------------------------

# how many rules of each kind; sums to 500 (scaled when another total is asked for)
KINDS = {
    "product_percent": 160, "tier_segment": 50, "channel": 30, "volume_all_units": 40,
    "volume_graduated": 15, "volume_block": 10, "set_price": 20, "amount_off": 30, "surcharge": 8,
    "promo": 20, "bundle": 35, "free_item": 15, "floor": 25, "attribute": 30, "quote": 12,
}


class _Rules:
    def __init__(self, rng: random.Random, cat: Catalog):
        self.rng, self.cat = rng, cat
        self.rules: list[dict] = []
        self.counter: dict[str, int] = {}

    # helpers ----------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        n = self.counter[kind] = self.counter.get(kind, 0) + 1
        return f"{kind.replace('_', '-')}-{n:03d}"

    def scope(self, families: list[str] | None = None, single: float = 0.5, handful: float = 0.65) -> list[str]:
        """1 product (share `single`), a handful from one family (share `handful` of the rest),
        or a whole family."""
        rng, cat = self.rng, self.cat
        fam = rng.choice(families or [f for f in cat.by_family if f != "cfg"])
        pool = cat.by_family[fam]
        r = rng.random()
        if r < single:
            return [rng.choice(pool)]
        if r < single + (1 - single) * handful:
            return sorted(rng.sample(pool, min(len(pool), rng.randint(2, 8))))
        return list(pool)

    def stacking(self, weights=(4, 25, 50, 21)) -> str:
        return self.rng.choices(["exclusive", "best_of", "additive", "compounding"], weights)[0]

    def window(self) -> dict:
        """Seasonal windows around the pricing day: current, expired or future."""
        rng = self.rng
        kind = rng.choices(["current", "expired", "future", "open_end", "open_start"], (40, 35, 10, 10, 5))[0]
        length = timedelta(days=rng.randint(14, 120))
        if kind == "current":
            start = DAY - timedelta(days=rng.randint(0, 60))
            return {"from": start.isoformat(), "until": max(DAY, start + length).isoformat()}
        if kind == "expired":
            end = DAY - timedelta(days=rng.randint(1, 300))
            return {"from": (end - length).isoformat(), "until": end.isoformat()}
        if kind == "future":
            start = DAY + timedelta(days=rng.randint(1, 90))
            return {"from": start.isoformat(), "until": (start + length).isoformat()}
        if kind == "open_end":
            return {"from": (DAY - timedelta(days=rng.randint(0, 400))).isoformat()}
        return {"until": (DAY + timedelta(days=rng.randint(0, 200))).isoformat()}

    def extras(self, when: dict, p_window=0.2, p_quantity=0.08, p_currency=0.04) -> dict:
        rng = self.rng
        if rng.random() < p_window:
            when["valid"] = self.window()
        if rng.random() < p_quantity:
            when["quantity"] = {"min": rng.choice([5, 10, 20, 50])}
        if rng.random() < p_currency:
            when["currency"] = [rng.choice(["EUR", "GBP", "USD"])]
        return when

    def add(self, kind: str, description: str, priority: int, when: dict, action: dict,
            stacking: str | None = None, **extra) -> None:
        rule = {"id": self.new_id(kind), "description": description, "priority": priority}
        if stacking:
            rule["stacking"] = stacking
        rule.update(extra)
        if when:
            rule["when"] = when
        rule.update(action)
        self.rules.append(rule)

    def pct(self, lo=2, hi=20) -> str:
        return str(Decimal(self.rng.randint(lo * 2, hi * 2)) / 2)

    # kinds ------------------------------------------------------------------------------
    def product_percent(self):
        products = self.scope(single=0.65, handful=0.85)
        when = self.extras({"products": products}, p_window=0.35)   # seasonal offers, many expired
        if self.rng.random() < 0.15:
            when["charge"] = [self.cat.charge[products[0]]]
        self.add("product_percent", f"{len(products)} product(s) at a discount", self.rng.randint(10, 60),
                 when, {"discount_percent": self.pct(2, 15)}, self.stacking((4, 45, 35, 16)))

    def tier_segment(self):
        rng = self.rng
        key, values = rng.choice([("customer_tier", TIERS), ("customer_segment", SEGMENTS),
                                  ("customer", CUSTOMERS)])
        when = {key: sorted(rng.sample(values, 1 if key == "customer" or rng.random() < 0.7 else 2)),
                "products": self.scope(single=0.2)}   # the global ones are in global_policy
        self.extras(when, p_window=0.1)
        self.add("tier_segment", f"{key.replace('_', ' ')} discount", rng.randint(15, 40), when,
                 {"discount_percent": self.pct(1, 8)}, self.stacking((2, 30, 55, 13)))

    def channel(self):
        rng = self.rng
        when = {"channel": sorted(rng.sample(CHANNELS, rng.randint(1, 2))), "products": self.scope(single=0.1)}
        self.extras(when, p_window=0.1)
        action = ({"surcharge_percent": self.pct(1, 5)} if rng.random() < 0.15
                  else {"discount_percent": self.pct(2, 10)})
        self.add("channel", "channel margin", rng.randint(20, 45), when, action, self.stacking((0, 20, 60, 20)))

    def global_policy(self) -> int:
        """The rules for every product, one per tier, segment and channel as a price policy
        states them (random global rules would make the load swing from seed to seed)."""
        for i, tier in enumerate(TIERS):
            self.add("tier_segment", f"{tier} customers", 20, {"customer_tier": [tier], "charge": ["one_time"]},
                     {"discount_percent": str(2 * (i + 1))}, "additive")
        self.add("tier_segment", "public sector", 25, {"customer_segment": ["public"]},
                 {"discount_percent": "5"}, "best_of")
        self.add("tier_segment", "education", 25, {"customer_segment": ["education"]},
                 {"discount_percent": "10"}, "best_of")
        self.add("channel", "partner margin", 30, {"channel": ["partner"], "charge": ["one_time"]},
                 {"discount_percent": "6"}, "additive")
        self.add("channel", "distributor margin", 30, {"channel": ["distributor"]}, {"discount_percent": "10"},
                 "additive")
        self.add("channel", "online handling", 70, {"channel": ["online"], "charge": ["one_time"]},
                 {"surcharge_percent": "1.5"}, "compounding")
        return 9

    def volume_all_units(self):
        rng, cat = self.rng, self.cat
        if rng.random() < 0.5:                      # percent tiers for a family or a few products
            products = self.scope(single=0.2)
            starts = sorted(rng.sample([5, 10, 20, 25, 50, 100, 150], rng.randint(2, 4)))
            tiers = [{"from": s, "discount_percent": str(Decimal(3 + 3 * i + rng.randint(0, 2)))}
                     for i, s in enumerate(starts)]
        else:                                       # price tiers for one product
            products = [rng.choice([p for p in cat.products if cat.family[p] in ("HW", "ACC", "SVC")])]
            lp = cat.price[products[0]]
            starts = sorted(rng.sample([3, 5, 10, 20, 50, 100], rng.randint(2, 4)))
            tiers = [{"from": s, "price": both(lp * (Decimal(1) - Decimal(4 + 4 * i) / 100))}
                     for i, s in enumerate(starts)]
        self.add("volume_all_units", "volume pricing, all units", rng.randint(5, 30), self.extras(
            {"products": products}, p_quantity=0, p_window=0.08), {"volume": {"mode": "all_units", "tiers": tiers}},
            self.stacking((3, 70, 20, 7)))

    def volume_graduated(self):
        rng = self.rng
        products = self.scope(["SUB", "LIC", "ACC"], single=0.3)
        starts = [1] + sorted(rng.sample([11, 26, 51, 101, 151], rng.randint(1, 3)))
        tiers = [{"from": s, "discount_percent": str(5 * i + rng.randint(0, 2) * i)} for i, s in enumerate(starts)]
        self.add("volume_graduated", "graduated pricing per unit band", rng.randint(5, 30),
                 self.extras({"products": products}, p_quantity=0, p_window=0.05),
                 {"volume": {"mode": "graduated", "tiers": tiers}}, self.stacking((0, 50, 40, 10)))

    def volume_block(self):
        rng, cat = self.rng, self.cat
        product = rng.choice(cat.by_family["SVC"] + cat.by_family["TRN"] + cat.by_family["ACC"])
        lp = cat.price[product]
        bands = [1, 3, 6, 11, 26, 51, 101][: rng.randint(3, 7)]
        tiers = []
        for i, s in enumerate(bands):
            fee = lp * s * (Decimal(1) - Decimal(3 * i) / 100)
            tiers.append({"from": s, "price": both(fee) if rng.random() < 0.8 else {"USD": money(fee)}})
        self.add("volume_block", "sold in blocks", rng.randint(5, 30), self.extras(
            {"products": [product]}, p_quantity=0, p_window=0.05), {"volume": {"mode": "block", "tiers": tiers}},
            self.stacking((5, 60, 35, 0)))

    def set_price(self):
        rng, cat = self.rng, self.cat
        product = rng.choice([p for p in cat.products if cat.family[p] != "cfg"])
        price = cat.price[product] * (Decimal(1) - Decimal(rng.randint(5, 25)) / 100)
        customers = sorted(rng.sample(CUSTOMERS, rng.randint(1, 3)))
        if rng.random() < 0.3:
            customers = sorted(set(customers) | {QUOTE_FACTS["customer"]})
        when = self.extras({"customer": customers, "products": [product]}, p_quantity=0.1, p_window=0.3)
        self.add("set_price", "contract price", rng.randint(1, 10), when,
                 {"set_price": both(price) if rng.random() < 0.85 else {"EUR": money(price * EUR_RATE)}},
                 rng.choice(["exclusive", "exclusive", "best_of"]))

    def amount_off(self):
        rng, cat = self.rng, self.cat
        products = self.scope(["HW", "SVC", "ACC", "cfg"], single=0.6)
        off = min(cat.price[p] for p in products) * Decimal(rng.randint(2, 12)) / 100
        amounts = both(off) if rng.random() < 0.8 else {"EUR": money(off * EUR_RATE)}
        self.add("amount_off", "amount off each unit", rng.randint(30, 70), self.extras({"products": products}),
                 {"discount_amount": amounts}, self.stacking((0, 20, 40, 40)))

    def surcharge(self):
        rng, cat = self.rng, self.cat
        if rng.random() < 0.5:
            when = {"channel": ["online"], "products": self.scope(["HW", "ACC"], single=0.1)}
            action = {"surcharge_percent": self.pct(1, 4)}
        else:
            products = self.scope(["ACC", "HW"], single=0.2)
            when = {"products": products, "quantity": {"max": rng.choice([1, 2, 4])}}
            action = {"surcharge_amount": both(Decimal(rng.randint(5, 40)))}
        self.add("surcharge", "surcharge", rng.randint(60, 80), self.extras(when, p_quantity=0),
                 action, self.stacking((0, 0, 70, 30)))

    def promo(self, promotions: list[dict]):
        rng = self.rng
        promo = rng.choice(promotions)
        when = {"promo_code": promo["code"]}
        if promo.get("products") and rng.random() < 0.5:
            when["products"] = sorted(rng.sample(promo["products"], max(1, len(promo["products"]) // 2)))
        elif not promo.get("products") and rng.random() < 0.8:
            when["products"] = self.scope(single=0.2)
        weights = (5, 10, 25, 60) if "products" in when or promo.get("products") else (0, 10, 30, 60)
        extra = {"max_discount_percent": rng.choice([55, 60, 70])} if rng.random() < 0.3 else {}
        action = ({"discount_percent": self.pct(5, 20)} if rng.random() < 0.75
                  else {"discount_amount": both(Decimal(rng.randint(5, 200)))})
        self.add("promo", f"promotion {promo['code']}", rng.randint(40, 60), self.extras(when, p_window=0.05),
                 action, self.stacking(weights), **extra)

    def bundle(self):
        rng, cat = self.rng, self.cat
        products = self.scope(["SVC", "SUB", "LIC", "ACC", "TRN"], single=0.5)
        anchor = rng.choice(cat.by_family[rng.choice(["HW", "cfg", "LIC"])])
        required = {anchor: rng.choice([1, 1, 2, 5, 10])}
        if rng.random() < 0.25:
            other = rng.choice(cat.products)
            required[other] = rng.choice([1, 3])
        self.add("bundle", f"bundle with {anchor}", rng.randint(25, 50),
                 self.extras({"products": products, "with_products": required}, p_window=0.1),
                 {"discount_percent": self.pct(5, 25)}, self.stacking((3, 27, 30, 40)))

    def free_item(self):
        rng, cat = self.rng, self.cat
        products = self.scope(["HW", "cfg", "LIC"], single=0.8)
        gift = rng.choice(cat.by_family["ACC"] + cat.by_family["TRN"] + cat.by_family["SVC"])
        action = {"product": gift, "quantity": rng.choice([1, 1, 2])}
        when = {"products": products}
        if rng.random() < 0.85:
            action["per"] = rng.choice([10, 20, 25, 50])
        else:                                       # once, for larger orders
            when["quantity"] = {"min": rng.choice([20, 50])}
        self.extras(when, p_window=0.25, p_quantity=0)
        self.add("free_item", f"free {gift}", rng.randint(30, 60), when, {"free_item": action})

    def floor(self):
        rng, cat = self.rng, self.cat
        if rng.random() < 0.75:
            products = self.scope(single=0.2)
            action = {"floor": {"cost_plus_percent": rng.choice([5, 8, 10, 12, 15, 20, 25])}}
        else:
            product = rng.choice([p for p in cat.products if cat.family[p] in ("HW", "SVC", "cfg")])
            products = [product]
            action = {"floor": {"price": both(cat.price[product] * Decimal(rng.randint(60, 80)) / 100)}}
        self.add("floor", "price floor", rng.randint(85, 99), self.extras({"products": products}, 0.05, 0, 0), action)

    def attribute(self):
        rng, cat = self.rng, self.cat
        products = rng.sample(cat.configurable, rng.randint(1, 5))
        r = rng.random()
        if r < 0.4:
            attrs = {"edition": sorted(rng.sample(EDITIONS, rng.randint(1, 2)))}
        elif r < 0.6:
            attrs = {"region": [rng.choice(REGIONS)]}
        elif r < 0.85:
            attrs = {"storage_tb": {"min": rng.choice([4, 8, 16, 32])}}
        else:
            attrs = {"support_24x7": [True]}
        if rng.random() < 0.2:
            attrs["edition"] = ["enterprise"]
        action = ({"discount_percent": self.pct(2, 15)} if rng.random() < 0.8
                  else {"discount_amount": both(Decimal(rng.randint(20, 400)))})
        self.add("attribute", "configured-option discount", rng.randint(20, 50),
                 self.extras({"products": sorted(products), "attributes": attrs}), action,
                 self.stacking((2, 28, 45, 25)))

    def quote(self, promotions: list[dict]):
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            low = Decimal(rng.choice([25_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000]))
            when = {"quote_total": {"min": both(low)}}
            action = {"discount_percent": str(rng.choice([1, 1.5, 2, 3, 4]))}
        elif r < 0.65:
            when = {"customer_tier": sorted(rng.sample(TIERS, rng.randint(1, 2)))}
            action = {"discount_percent": str(rng.choice([0.5, 1, 2]))}
        elif r < 0.85:
            when = {"promo_code": rng.choice(promotions)["code"]}
            action = {"discount_amount": both(Decimal(rng.choice([100, 250, 500, 1000])))}
        else:
            when = {"channel": [rng.choice(CHANNELS)], "quote_total": {"min": both(Decimal(10_000))}}
            action = {"discount_amount": both(Decimal(rng.choice([200, 500])))}
        if rng.random() < 0.25:
            when["valid"] = self.window()
        self.add("quote", "quote-level discount", rng.randint(50, 80), when, action,
                 self.stacking((0, 70, 20, 10)), target="quote")


def _promotions(rng: random.Random, cat: Catalog) -> list[dict]:
    out = []
    specs = [("SUMMER26", "current", None), ("HWLAUNCH", "current", "HW"), ("SUBSAVE", "current", "SUB"),
             ("SPRING25", "expired", None), ("LICYEAR", "current", "LIC"), ("BACK2SCHOOL", "expired", "ACC"),
             ("WINTER26", "future", None), ("SVCBOOST", "current", "SVC"), ("CFGPROMO", "current", "cfg"),
             ("PARTNER10", "open", None)]
    for code, when, fam in specs:
        p = {"code": code, "description": f"{code} promotion"}
        if when == "current":
            p["valid"] = {"from": (DAY - timedelta(days=30)).isoformat(), "until": (DAY + timedelta(days=45)).isoformat()}
        elif when == "expired":
            p["valid"] = {"from": "2025-03-01", "until": "2025-05-31"}
        elif when == "future":
            p["valid"] = {"from": "2026-12-01", "until": "2027-02-28"}
        if fam:
            pool = cat.by_family[fam]
            p["products"] = sorted(rng.sample(pool, max(2, len(pool) // 2)))
        if rng.random() < 0.6:
            p["usage_limit"] = rng.choice([100, 500, 1000])
        if rng.random() < 0.3:
            p["per_customer_limit"] = rng.choice([1, 3])
        if rng.random() < 0.5:
            p["min_spend"] = both(Decimal(rng.choice([1000, 5000, 20000])))
        out.append(p)
    return out


APPROVALS = {
    "levels": [{"id": "sales_manager", "label": "Sales manager", "stage": 1},
               {"id": "regional_director", "label": "Regional director", "stage": 2},
               {"id": "finance", "label": "Finance", "stage": 2},
               {"id": "deal_desk", "label": "Deal desk", "stage": 3},
               {"id": "legal", "label": "Legal", "stage": 3}],
    "rules": [
        {"id": "line-over-20", "description": "Line discounts above 20%", "when": {"line_discount_percent": {"above": 20}},
         "require": ["sales_manager"]},
        {"id": "line-over-40", "description": "Line discounts above 40%", "when": {"line_discount_percent": {"above": 40}},
         "require": ["sales_manager", "regional_director"]},
        {"id": "quote-over-25", "description": "Quote discount above 25%", "when": {"quote_discount_percent": {"above": 25}},
         "require": ["regional_director"]},
        {"id": "low-margin", "description": "Margin below 25%", "when": {"margin_percent": {"below": 25}},
         "require": ["finance"]},
        {"id": "terms", "description": "Non-standard payment terms", "when": {"payment_terms": "non_standard"},
         "require": ["finance", "legal"]},
        {"id": "big-deal", "description": "Deals above 1M", "when": {"deal_value": {"above": both(Decimal(1_000_000))}},
         "require": ["deal_desk"]},
        {"id": "public-sector", "description": "Public sector deals", "when": {"customer_segment": ["public"]},
         "require": ["legal"]},
        {"id": "manual-partner", "description": "Manual discounts on partner deals",
         "when": {"manual_discount": True, "channel": ["partner"]}, "require": ["sales_manager"]},
        {"id": "hw-gpu", "description": "Flagship hardware", "when": {"products": ["HW-0001", "HW-0002"]},
         "require": ["deal_desk"]},
    ],
}


def generate(seed: int = SEED, n_rules: int = 500) -> Generated:
    rng = random.Random(seed)
    cat, book = _catalog(rng)
    promotions = _promotions(rng, cat)
    gen = _Rules(rng, cat)
    counts = dict(KINDS)
    if n_rules != 500:                                # scale, keeping the mix
        scale = n_rules / 500
        counts = {k: max(1, round(v * scale)) for k, v in KINDS.items()}
    diff = n_rules - sum(counts.values())
    counts["product_percent"] += diff
    gen.global_policy()                               # 6 tier/segment and 3 channel rules
    counts["tier_segment"] -= 6
    counts["channel"] -= 3
    plan = [k for k, n in counts.items() for _ in range(n)]
    rng.shuffle(plan)                                 # rule order in the file is not by kind
    for kind in plan:
        method = getattr(gen, kind)
        method(promotions) if kind in ("promo", "quote") else method()
    rule_set = {"ruleset": "bench", "version": 1,
                "description": f"Generated by bench/pricing_generate.py, seed {seed}.",
                "max_line_discount_percent": 50, "standard_payment_terms": ["net30", "net45"],
                "rules": gen.rules, "promotions": promotions, "approvals": APPROVALS}
    assert len(gen.rules) == n_rules, len(gen.rules)
    counts["tier_segment"] += 6
    counts["channel"] += 3
    return Generated(rule_set, book, cat, counts)


# ---- quotes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuoteLine:
    """What a quote line asks for; bench/pricing.py turns it into a LineInput or a LineRequest."""
    id: str
    product: str
    quantity: int
    values: dict
    term_months: int | None
    discount_percent: Decimal | None
    discount_amount: Decimal | None


def quote_lines(cat: Catalog, n: int, seed: int, configured: bool = True) -> list[QuoteLine]:
    """`n` lines: popular products more often, quantities 1..200 (mostly small), ~10% with a
    manual discount, recurring lines sometimes on another term. `configured=False` keeps the
    configurable products' lines without attribute values (a plain-product request)."""
    rng = random.Random(seed * 7919 + n)
    order = cat.products[:]
    random.Random(seed).shuffle(order)                 # popularity ranking, the same for every size
    weights = [1 / (r + 1) ** 0.8 for r in range(len(order))]
    out = []
    for i in range(n):
        product = rng.choices(order, weights)[0]
        r = rng.random()
        qty = rng.randint(1, 10) if r < 0.55 else rng.randint(11, 50) if r < 0.85 else rng.randint(51, 200)
        term = None
        charge = cat.charge[product]
        if charge != "one_time" and rng.random() < 0.2:
            term = rng.choice([12, 24, 36]) if charge == "annual" else rng.choice([6, 12, 18, 24])
        pct = amt = None
        r = rng.random()
        if r < 0.08:
            pct = Decimal(rng.randint(2, 20))
        elif r < 0.10:
            amt = (cat.price[product] * qty * Decimal(rng.randint(1, 8)) / 100).quantize(CENT)
        values = line_values(rng, product)            # drawn either way: the same lines
        if not configured:
            values = {}
        out.append(QuoteLine(str(i + 1), product, qty, values, term, pct, amt))
    return out


PROMO_CODES = ("SUMMER26", "HWLAUNCH", "SPRING25", "CFGPROMO", "NOSUCHCODE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", help="write DIR/ruleset.yaml and DIR/pricebook.yaml")
    args = ap.parse_args(argv)
    from catalog.pricebook import load_price_book_dict
    from rules.loader import load_rule_set_dict
    g = generate(args.seed)
    rs, book = load_rule_set_dict(g.rule_set), load_price_book_dict(g.price_book)
    print(g.summary())
    per = [len(rs.line_rules(p)) for p in g.catalog.products]
    print(f"loaded: {len(rs.rules)} rules ({len(rs.quote_rules)} quote-level), {len(book.products)} prices; "
          f"line rules per product: min {min(per)}, mean {sum(per) / len(per):.1f}, max {max(per)}")
    if args.out:
        import yaml
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ruleset.yaml").write_text(yaml.safe_dump(g.rule_set, sort_keys=False, width=1000))
        (out / "pricebook.yaml").write_text(yaml.safe_dump(g.price_book, sort_keys=False, width=1000))
        print(f"wrote {out / 'ruleset.yaml'} and {out / 'pricebook.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
