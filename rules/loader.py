"""Load rule set files (YAML, or the same structure as a dict) into a `RuleSet`.

The format is documented in docs/pricing.md. Like the other loaders, every problem is
reported with the file, the path inside it and the reason, all in one round.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from catalog.loader import CODE_RE, ID_RE
from catalog.pricebook import CHARGES, NAME_RE, SKU_RE
from core.money import HUNDRED, ZERO, CurrencyError, currency
from core.validation import (MAX_INTEGER, Reader, digest, join, parse_yaml, read_file)
from rules import approvals as ap
from rules import conditions as cd
from rules.actions import AmountOff, Floor, FreeItem, Percent, SetPrice, Tier, Volume
from rules.model import (KIND, STACKING, ApprovalLevel, ApprovalRule, Promotion, Rule,
                         RuleSet)

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PROMO_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
QUOTE_KEYS = ("customer_segment", "customer_tier", "customer", "channel", "currency", "valid",
              "promo_code", "quote_total", "with_products")
LINE_KEYS = ("products", "charge", "quantity", "attributes")
ACTIONS = ("discount_percent", "discount_amount", "surcharge_percent", "surcharge_amount",
           "set_price", "volume", "floor", "free_item")
VOLUME_MODES = ("all_units", "graduated", "block")


def load_rule_set_file(path: str | Path) -> RuleSet:
    return load_rule_set_dict(parse_yaml(read_file(path, KIND), str(path), KIND), file=str(path))


def load_rule_set_dict(data: Any, file: str = "<rule set>") -> RuleSet:
    return _Builder(file).build(data)


class _Builder(Reader):
    kind = KIND

    def build(self, data: Any) -> RuleSet:
        top = self.mapping(data, "", ("ruleset", "version", "description", "max_line_discount_percent",
                                      "standard_payment_terms", "rules", "promotions", "approvals"))
        if top is None:
            self.check()
        name = self.text(top, "ruleset", "", required=True, pattern=NAME_RE)
        version = self.integer(top, "version", "", required=True, minimum=1, maximum=MAX_INTEGER)
        cap = None
        if top.get("max_line_discount_percent") is not None:
            cap = self.number(top["max_line_discount_percent"], "max_line_discount_percent", ZERO, HUNDRED)
        terms = self.codes(top, "standard_payment_terms", "", RULE_ID_RE)
        promotions = self.promotions(top)
        rules = self.rules(top, promotions)
        levels, approval_rules = self.approvals(top.get("approvals"))
        self.check()
        return RuleSet(name, version, self.text(top, "description", ""), cap, tuple(rules),
                       promotions, levels, tuple(approval_rules), frozenset(terms), digest(top), top)

    # small readers -----------------------------------------------------------------------
    def codes(self, m: dict, key: str, path: str, pattern: re.Pattern) -> list:
        out = []
        for i, value in enumerate(self.listing(m, key, path)):
            if isinstance(value, str) and pattern.match(value):
                out.append(value)
            else:
                self.error(join(join(path, key), i), f"expected a code matching {pattern.pattern}")
        return out

    def amounts(self, raw: Any, path: str, allow_zero: bool = True) -> dict[str, Decimal]:
        """`{USD: 50, EUR: 45}`: exact in each currency's minor units."""
        if not isinstance(raw, dict) or not raw:
            self.error(path, "expected amounts per currency, e.g. {USD: 50, EUR: 45}")
            return {}
        out = {}
        for code, value in raw.items():
            where = join(path, code)
            try:
                cur = currency(code)
            except CurrencyError as exc:
                self.error(where, str(exc))
                continue
            amount = self.number(value, where, minimum=ZERO)
            if amount is None:
                continue
            if not cur.is_exact(amount):
                self.error(where, f"{amount} has more decimals than {cur.code} allows ({cur.minor_units})")
            elif amount == 0 and not allow_zero:
                self.error(where, "must be more than 0")
            else:
                out[cur.code] = amount.quantize(cur.quantum)
        return out

    def percent(self, raw: Any, path: str) -> Decimal | None:
        return self.number(raw, path, ZERO, HUNDRED)

    def bounds(self, raw: Any, path: str, money: bool, keys=("min", "max")) -> tuple:
        m = self.mapping(raw, path, keys)
        if m is None:
            return None, None
        if not any(k in m for k in keys):
            self.error(path, f"give {' and/or '.join(keys)}")
        out = []
        for key in keys:
            if m.get(key) is None:
                out.append(None)
            elif money:
                out.append(self.amounts(m[key], join(path, key)))
            else:
                out.append(self.number(m[key], join(path, key), minimum=ZERO))
        return tuple(out)

    def window(self, raw: Any, path: str) -> cd.DateWindow | None:
        m = self.mapping(raw, path, ("from", "until"))
        if m is None:
            return None
        start, end = self.day(m, "from", path), self.day(m, "until", path)
        if start and end and end < start:
            self.error(join(path, "until"), "is before from")
        return cd.DateWindow(start, end)

    # rules -------------------------------------------------------------------------------
    def rules(self, top: dict, promotions: dict[str, Promotion]) -> list[Rule]:
        out, seen = [], set()
        for i, raw in enumerate(self.listing(top, "rules", "")):
            path = f"rules[{i}]"
            m = self.mapping(raw, path, ("id", "description", "priority", "stacking", "target",
                                         "max_discount_percent", "when", *ACTIONS))
            if m is None:
                continue
            rid = self.text(m, "id", path, required=True, pattern=RULE_ID_RE)
            if rid in seen:
                self.error(join(path, "id"), f"duplicate rule id {rid!r}")
            seen.add(rid)
            rule = self.rule(m, path, rid, promotions)
            if rule is not None:
                out.append(rule)
        return out

    def rule(self, m: dict, path: str, rid: str, promotions: dict) -> Rule | None:
        priority = self.integer(m, "priority", path, minimum=0, maximum=1_000_000)
        stacking = m.get("stacking", "additive")
        if stacking not in STACKING:
            self.error(join(path, "stacking"), f"expected one of {', '.join(STACKING)}")
        target = m.get("target", "line")
        if target not in ("line", "quote"):
            self.error(join(path, "target"), "expected line or quote")
        cap = None
        if m.get("max_discount_percent") is not None:
            cap = self.percent(m["max_discount_percent"], join(path, "max_discount_percent"))
        actions = [k for k in ACTIONS if k in m]
        if len(actions) != 1:
            self.error(path, f"give exactly one action: {', '.join(ACTIONS)}")
            return None
        action = self.action(actions[0], m[actions[0]], join(path, actions[0]), target)
        when = m.get("when") or {}
        wpath = join(path, "when")
        w = self.mapping(when, wpath, QUOTE_KEYS + LINE_KEYS) or {}
        if target == "quote":
            for key in LINE_KEYS:
                if key in w:
                    self.error(join(wpath, key), "quote rules cannot test line facts")
        quote_conditions = self.quote_conditions(w, wpath, promotions)
        products = frozenset(self.codes(w, "products", wpath, SKU_RE)) if "products" in w else None
        code = w.get("promo_code")
        promo = promotions.get(code) if isinstance(code, str) else None
        if promo is not None and promo.products is not None and target == "quote":
            self.error(join(wpath, "promo_code"), f"promotion {code} is limited to products; "
                                                  "use it in line rules, which can be limited to them")
        if promo is not None and promo.products is not None and target == "line":
            products = promo.products if products is None else products & promo.products
            if not products:
                self.error(join(wpath, "products"), f"none of them is eligible for promotion {code}")
        line_conditions = self.line_conditions(w, wpath)
        if action is None or stacking not in STACKING or target not in ("line", "quote"):
            return None
        return Rule(rid, self.text(m, "description", path, default=rid), priority if priority is not None else 100,
                    stacking, target, tuple(quote_conditions), tuple(line_conditions), products,
                    action, cap)

    def quote_conditions(self, w: dict, path: str, promotions: dict) -> list:
        out = []
        for key, fact, label in (("customer_segment", "segment", "customer segment"),
                                 ("customer_tier", "tier", "customer tier"),
                                 ("customer", "customer", "customer"),
                                 ("channel", "channel", "channel")):
            if key in w:
                out.append(cd.OneOf(fact, label, frozenset(self.codes(w, key, path, SKU_RE))))
        if "currency" in w:
            codes = []
            for i, code in enumerate(self.listing(w, "currency", path)):
                try:
                    codes.append(currency(code).code)
                except CurrencyError as exc:
                    self.error(join(join(path, "currency"), i), str(exc))
            out.append(cd.OneOf("currency", "currency", frozenset(codes)))
        if "valid" in w:
            window = self.window(w["valid"], join(path, "valid"))
            if window is not None:
                out.append(window)
        if "promo_code" in w:
            code = w["promo_code"]
            if code not in promotions:
                self.error(join(path, "promo_code"), f"{code!r} is not a promotion of this rule set")
            else:
                out.append(cd.PromoCode(code))
        if "quote_total" in w:
            low, high = self.bounds(w["quote_total"], join(path, "quote_total"), money=True)
            out.append(cd.Between("list_total", "quote list total", low or None, high or None))
        if "with_products" in w:
            required = self.decimals(w["with_products"], join(path, "with_products"), SKU_RE)
            if any(q <= 0 for q in required.values()):
                self.error(join(path, "with_products"), "quantities must be more than 0")
            out.append(cd.WithProducts(required))
        return out

    def line_conditions(self, w: dict, path: str) -> list:
        out = []
        if "charge" in w:
            charges = self.codes(w, "charge", path, RULE_ID_RE)
            for c in charges:
                if c not in CHARGES:
                    self.error(join(path, "charge"), f"{c!r} is not one of {', '.join(CHARGES)}")
            out.append(cd.OneOf("charge", "charge", frozenset(charges), line=True))
        if "quantity" in w:
            low, high = self.bounds(w["quantity"], join(path, "quantity"), money=False)
            out.append(cd.Between("quantity", "quantity", low, high, line=True))
        attrs = w.get("attributes")
        if attrs is not None:
            apath = join(path, "attributes")
            if not isinstance(attrs, dict):
                self.error(apath, "expected a mapping of attribute ids to values or {min, max}")
                return out
            for attr, spec in attrs.items():
                where = join(apath, attr)
                if not isinstance(attr, str) or not ID_RE.match(attr):
                    self.error(where, f"attribute ids must match {ID_RE.pattern}")
                elif isinstance(spec, dict):
                    low, high = self.bounds(spec, where, money=False)
                    out.append(cd.AttributeIs(attr, minimum=low, maximum=high))
                else:
                    values = spec if isinstance(spec, list) else [spec]
                    if not all(isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, bool))
                               or (isinstance(v, str) and CODE_RE.match(v)) for v in values):
                        self.error(where, "expected value codes, numbers or true/false")
                    out.append(cd.AttributeIs(attr, values=frozenset(values)))
        return out

    # actions -----------------------------------------------------------------------------
    def action(self, kind: str, raw: Any, path: str, target: str):
        if target == "quote" and kind not in ("discount_percent", "discount_amount"):
            self.error(path, "quote rules take discount_percent or discount_amount")
            return None
        if kind in ("discount_percent", "surcharge_percent"):
            value = self.percent(raw, path) if kind == "discount_percent" else self.number(raw, path, ZERO)
            return None if value is None else Percent(value, surcharge=kind == "surcharge_percent")
        if kind in ("discount_amount", "surcharge_amount"):
            amounts = self.amounts(raw, path, allow_zero=False)
            return AmountOff(amounts, per_unit=target == "line",
                             surcharge=kind == "surcharge_amount") if amounts else None
        if kind == "set_price":
            amounts = self.amounts(raw, path)
            return SetPrice(amounts) if amounts else None
        if kind == "volume":
            return self.volume(raw, path)
        if kind == "floor":
            m = self.mapping(raw, path, ("cost_plus_percent", "price"))
            if m is None or len(m) != 1:
                self.error(path, "give cost_plus_percent or price")
                return None
            if "price" in m:
                amounts = self.amounts(m["price"], join(path, "price"))
                return Floor(amounts=amounts) if amounts else None
            value = self.number(m["cost_plus_percent"], join(path, "cost_plus_percent"), minimum=ZERO)
            return None if value is None else Floor(cost_plus_percent=value)
        m = self.mapping(raw, path, ("product", "quantity", "per"))      # free_item
        if m is None:
            return None
        product = self.text(m, "product", path, required=True, pattern=SKU_RE)
        qty = self.number(m.get("quantity", 1), join(path, "quantity"), minimum=Decimal(1))
        per = self.number(m["per"], join(path, "per"), minimum=Decimal(1)) if "per" in m else None
        return FreeItem(product, qty, per) if product and qty is not None else None

    def volume(self, raw: Any, path: str) -> Volume | None:
        m = self.mapping(raw, path, ("mode", "tiers"))
        if m is None:
            return None
        mode = m.get("mode")
        if mode not in VOLUME_MODES:
            self.error(join(path, "mode"), f"expected one of {', '.join(VOLUME_MODES)}")
            return None
        tiers = []
        for i, t in enumerate(self.listing(m, "tiers", path, required=True)):
            tpath = join(join(path, "tiers"), i)
            tm = self.mapping(t, tpath, ("from", "price", "discount_percent"))
            if tm is None:
                continue
            start = self.number(tm.get("from"), join(tpath, "from"), minimum=Decimal(1))
            has_price, has_percent = "price" in tm, "discount_percent" in tm
            if has_price == has_percent or (mode == "block" and not has_price):
                self.error(tpath, "give price" if mode == "block" else "give price or discount_percent")
                continue
            price = self.amounts(tm["price"], join(tpath, "price")) if has_price else None
            percent = self.percent(tm["discount_percent"], join(tpath, "discount_percent")) if has_percent else None
            if start is not None:
                tiers.append(Tier(start, price, percent))
        if not tiers:
            self.error(join(path, "tiers"), "give at least one tier")
            return None
        starts = [t.start for t in tiers]
        if starts != sorted(set(starts)):
            self.error(join(path, "tiers"), "tiers must start at increasing quantities")
        if mode != "all_units" and starts[0] != 1:
            self.error(join(join(path, "tiers"), 0), f"{mode} tiers start at quantity 1")
        return Volume(mode, tuple(tiers))

    # promotions --------------------------------------------------------------------------
    def promotions(self, top: dict) -> dict[str, Promotion]:
        out: dict[str, Promotion] = {}
        for i, raw in enumerate(self.listing(top, "promotions", "")):
            path = f"promotions[{i}]"
            m = self.mapping(raw, path, ("code", "description", "valid", "usage_limit",
                                         "per_customer_limit", "products", "min_spend"))
            if m is None:
                continue
            code = self.text(m, "code", path, required=True, pattern=PROMO_RE)
            if code in out:
                self.error(join(path, "code"), f"duplicate promotion {code!r}")
            window = self.window(m["valid"], join(path, "valid")) if "valid" in m else None
            products = frozenset(self.codes(m, "products", path, SKU_RE)) if "products" in m else None
            min_spend = self.amounts(m["min_spend"], join(path, "min_spend")) if "min_spend" in m else {}
            out[code] = Promotion(
                code, self.text(m, "description", path, default=code),
                window.start if window else None, window.end if window else None,
                self.integer(m, "usage_limit", path, minimum=1),
                self.integer(m, "per_customer_limit", path, minimum=1),
                products, min_spend)
        return out

    # approvals ---------------------------------------------------------------------------
    def approvals(self, raw: Any) -> tuple[dict[str, ApprovalLevel], list[ApprovalRule]]:
        levels: dict[str, ApprovalLevel] = {}
        rules: list[ApprovalRule] = []
        if raw is None:
            return levels, rules
        m = self.mapping(raw, "approvals", ("levels", "rules"))
        if m is None:
            return levels, rules
        for i, lv in enumerate(self.listing(m, "levels", "approvals", required=True)):
            path = f"approvals.levels[{i}]"
            lm = self.mapping(lv, path, ("id", "label", "stage"))
            if lm is None:
                continue
            lid = self.text(lm, "id", path, required=True, pattern=ID_RE)
            stage = self.integer(lm, "stage", path, required=True, minimum=1, maximum=100)
            if lid in levels:
                self.error(join(path, "id"), f"duplicate level {lid!r}")
            if lid and stage is not None:
                levels[lid] = ApprovalLevel(lid, self.text(lm, "label", path, default=lid.replace("_", " ")), stage)
        seen = set()
        for i, r in enumerate(self.listing(m, "rules", "approvals", required=True)):
            path = f"approvals.rules[{i}]"
            rm = self.mapping(r, path, ("id", "description", "when", "require"))
            if rm is None:
                continue
            rid = self.text(rm, "id", path, required=True, pattern=RULE_ID_RE)
            if rid in seen:
                self.error(join(path, "id"), f"duplicate approval rule {rid!r}")
            seen.add(rid)
            require = self.codes(rm, "require", path, ID_RE)
            if not require:
                self.error(join(path, "require"), "name at least one approval level")
            for j, level in enumerate(require):
                if level not in levels:
                    self.error(join(join(path, "require"), j), f"{level!r} is not a level in approvals.levels")
            conditions = self.approval_conditions(rm.get("when"), join(path, "when"))
            rules.append(ApprovalRule(rid, self.text(rm, "description", path, default=rid),
                                      tuple(conditions), tuple(require)))
        return levels, rules

    def approval_conditions(self, raw: Any, path: str) -> list:
        w = self.mapping(raw, path, ap.CONDITION_KEYS + QUOTE_KEYS[:5])
        if not w:
            self.error(path, "give at least one condition")
            return []
        out = [ap.Fact(c) for c in
               self.quote_conditions({k: v for k, v in w.items() if k in QUOTE_KEYS}, path, {})]
        for key in ap.PERCENT_METRICS:
            if key in w:
                bounds = self.bounds(w[key], join(path, key), money=False, keys=("above", "below"))
                out.append(ap.Metric(key, *bounds))
        if "deal_value" in w:
            bounds = self.bounds(w["deal_value"], join(path, "deal_value"), money=True, keys=("above", "below"))
            out.append(ap.Metric("deal_value", *bounds))
        if "payment_terms" in w:
            if w["payment_terms"] != "non_standard":
                self.error(join(path, "payment_terms"), "the only test is non_standard")
            out.append(ap.NonStandardTerms())
        if "products" in w:
            out.append(ap.HasProducts(frozenset(self.codes(w, "products", path, SKU_RE))))
        if "manual_discount" in w:
            out.append(ap.ManualDiscount(self.flag(w, "manual_discount", path, True)))
        return out
