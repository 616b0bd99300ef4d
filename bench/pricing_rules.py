"""The pricing benchmark's rule set: its rules of every kind, promotions and approval policy.

The rule set (exactly the `n_rules` rules `generate` asks for, 500 by default) mixes what a
real commercial policy holds: product and family percent discounts, customer
tier/segment/contract rules, channel rules, all_units / graduated / block volume tiers,
customer contract prices (set_price), amount discounts in USD and EUR (some EUR only),
surcharges, promo-code rules with their promotions, bundles (with_products), free items,
floors (cost + margin, fixed prices), attribute conditions, quantity conditions, date
windows (current, expired and future) and a few quote-level rules, over all four stacking
modes; plus an approval policy.
"""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from bench.pricing_catalog import (CHANNELS, CUSTOMERS, DAY, EDITIONS, EUR_RATE, QUOTE_FACTS, REGIONS, SEGMENTS,
                                   TIERS, Catalog, both, money)

# how many rules of each kind; sums to 500 (scaled when another total is asked for)
KINDS = {
    "product_percent": 160, "tier_segment": 50, "channel": 30, "volume_all_units": 40,
    "volume_graduated": 15, "volume_block": 10, "set_price": 20, "amount_off": 30, "surcharge": 8,
    "promo": 20, "bundle": 35, "free_item": 15, "floor": 25, "attribute": 30, "quote": 12,
}


class Rules:
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
        rng = self.rng
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
        elif r < 0.85:                             # a quote-level rule: a promotion for every product
            promo = rng.choice(promotions)
            if promo.get("products"):
                promo = next(p for p in promotions if not p.get("products"))
            when = {"promo_code": promo["code"]}
            action = {"discount_amount": both(Decimal(rng.choice([100, 250, 500, 1000])))}
        else:
            when = {"channel": [rng.choice(CHANNELS)], "quote_total": {"min": both(Decimal(10_000))}}
            action = {"discount_amount": both(Decimal(rng.choice([200, 500])))}
        if rng.random() < 0.25:
            when["valid"] = self.window()
        self.add("quote", "quote-level discount", rng.randint(50, 80), when, action,
                 self.stacking((0, 70, 20, 10)), target="quote")


def make_promotions(rng: random.Random, cat: Catalog) -> list[dict]:
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
