"""Price books: list prices in one currency for products, options and components.

A price book says what things cost before any pricing rule: a base price per product (a
configurable product or a plain SKU), surcharges for attribute values of configurable
products, and prices for BOM components. Every entry may carry a unit cost for margins.
Amounts must be exact in the currency's minor units (a USD price of 9.999 is an error), so
list prices never need rounding. Format: docs/pricing.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from catalog.loader import CODE_RE, ID_RE, PRODUCT_RE
from catalog.metered import MeteredPrice, read_metered
from catalog.model import Value
from core.errors import InvalidInput
from core.money import ZERO, Currency, CurrencyError, currency
from core.validation import (MAX_INTEGER, Reader, digest, join, parse_yaml, read_file)

KIND = "price_book"
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
NAME_RE = re.compile(r"^(?!validate$)[a-z0-9][a-z0-9_-]*$")     # /pricebooks/validate is a path of its own
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# billing period of a recurring charge, in months
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
CHARGES = ("one_time", *PERIOD_MONTHS)
#: what a product may be taxed as (billing/tax.py rates each of them per jurisdiction)
TAX_CATEGORIES = ("standard", "reduced", "services", "digital", "exempt")


class PricingError(InvalidInput):
    """Something cannot be priced (no price for a product...); `field` names the input."""


@dataclass(frozen=True)
class Price:
    amount: Decimal
    cost: Decimal | None = None


@dataclass(frozen=True)
class ProductPrice:
    price: Price
    name: str = ""
    charge: str = "one_time"
    term_months: int | None = None      # default contract term of a recurring charge


@dataclass(frozen=True)
class MeteredProduct:
    """A product billed by the usage of its meter each period, never quoted (catalog/metered.py)."""
    price: MeteredPrice
    name: str = ""


@dataclass(frozen=True)
class OptionPrice:
    price: Price
    per: str | None = None              # integer attribute whose value multiplies the price


@dataclass(frozen=True)
class PriceElement:
    """One part of a unit list price: the product, an option or a BOM component."""
    kind: str          # product | option | component
    code: str          # product code, "attribute=value", or part number
    label: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class ListPrice:
    unit_price: Decimal
    unit_cost: Decimal | None           # None when some element has no cost
    elements: tuple[PriceElement, ...]
    charge: str
    term_months: int | None


@dataclass(frozen=True)
class PriceBook:
    name: str
    title: str
    version: int
    currency: Currency
    valid_from: date | None
    valid_until: date | None            # last valid day, inclusive
    products: Mapping[str, ProductPrice]
    options: Mapping[str, Mapping[str, Mapping[Value, OptionPrice]]]   # product -> attr -> value
    per_unit: Mapping[str, Mapping[str, Price]]                       # product -> int attr
    components: Mapping[str, Price]
    cost_from_bom: str | None           # component property that gives configured products' cost
    cost_rate: Decimal | None           # converts that cost from the model's cost currency
    channels: tuple[str, ...]           # the sales channels it is for; empty: every account
    digest: str
    source: dict = field(repr=False, compare=False)
    derived_from: Mapping[str, Any] | None = None   # catalog/derive.py: source book, rate, rounding
    metered: Mapping[str, MeteredProduct] = field(default_factory=dict)   # product -> usage price

    @cached_property
    def meters(self) -> dict[str, tuple[str, MeteredProduct]]:
        """meter -> (product code, its price): a book prices a meter once at most."""
        return {p.price.meter: (code, p) for code, p in self.metered.items()}

    def valid_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_until is None or day <= self.valid_until))

    @cached_property
    def _plain(self) -> dict[str, ListPrice]:
        return {}

    def plain_price(self, product: str, field_name: str = "product") -> ListPrice:
        """`list_price` of a product with no options, computed once per book (free items and
        plain lines ask for the same few products again and again)."""
        price = self._plain.get(product)
        if price is None:
            price = self._plain[product] = self.list_price(product, field_name=field_name)
        return price

    def list_price(self, product: str, values: Mapping[str, Value] | None = None,
                   bom_parts: Mapping[str, Decimal] | None = None,
                   bom_cost: Decimal | None = None, field_name: str = "product") -> ListPrice:
        """The unit list price of `product` with the decided attribute `values`.

        `bom_parts` (part number -> quantity per unit) adds component prices when the
        configuration is complete; `bom_cost` is the BOM's rolled-up `cost_from_bom` property
        in the model's cost currency, converted by `cost_rate` when the book gives one.
        """
        entry = self.products.get(product)
        if entry is None:
            if product in self.metered:
                raise PricingError(field_name, f"{product!r} is billed by usage of meter "
                                               f"{self.metered[product].price.meter!r}; it is not quoted")
            raise PricingError(field_name, f"{product!r} has no price in price book {self.name!r}")
        elements = [PriceElement("product", product, entry.name or product, Decimal(1),
                                 entry.price.amount, entry.price.amount)]
        costs = [entry.price.cost]
        values = values or {}
        for attr, by_value in self.options.get(product, {}).items():
            option = by_value.get(values.get(attr)) if attr in values else None
            if option is None:
                continue
            qty = Decimal(values.get(option.per, 0)) if option.per else Decimal(1)
            if qty:
                elements.append(PriceElement("option", f"{attr}={_text(values[attr])}", attr, qty,
                                             option.price.amount, option.price.amount * qty))
                costs.append(None if option.price.cost is None else option.price.cost * qty)
        for attr, price in self.per_unit.get(product, {}).items():
            qty = Decimal(values.get(attr, 0))
            if qty:
                elements.append(PriceElement("option", attr, attr, qty, price.amount, price.amount * qty))
                costs.append(None if price.cost is None else price.cost * qty)
        for part, qty in (bom_parts or {}).items():
            price = self.components.get(part)
            if price is not None:   # a fractional quantity (metres of cable) is rounded here, once
                elements.append(PriceElement("component", part, part, qty, price.amount,
                                             self.currency.round(price.amount * qty)))
                costs.append(None if price.cost is None else self.currency.round(price.cost * qty))
        if self.cost_from_bom and bom_cost is not None:
            unit_cost: Decimal | None = self.currency.round(bom_cost * (self.cost_rate or 1))
        else:
            unit_cost = None if None in costs else sum(costs, ZERO)
        return ListPrice(sum((e.amount for e in elements), ZERO), unit_cost, tuple(elements),
                         entry.charge, entry.term_months)


def _text(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# loading -----------------------------------------------------------------------------------

def load_price_book_file(path: str | Path) -> PriceBook:
    return load_price_book_dict(parse_yaml(read_file(path, KIND), str(path), KIND), file=str(path))


def load_price_book_dict(data: Any, file: str = "<price book>") -> PriceBook:
    return _Builder(file).build(data)


class _Builder(Reader):
    kind = KIND

    def build(self, data: Any) -> PriceBook:
        top = self.mapping(data, "", ("pricebook", "name", "version", "currency", "valid_from",
                                      "valid_until", "channels", "cost_from_bom", "products", "options",
                                      "components", "derived_from"))
        if top is None:
            self.check()
        name = self.text(top, "pricebook", "", required=True, pattern=NAME_RE)
        title = self.text(top, "name", "", default=name)
        version = self.integer(top, "version", "", required=True, minimum=1, maximum=MAX_INTEGER)
        code = self.text(top, "currency", "", required=True)
        try:
            cur = currency(code) if code else None
        except CurrencyError as exc:
            self.error("currency", str(exc))
            cur = None
        valid_from, valid_until = self.day(top, "valid_from", ""), self.day(top, "valid_until", "")
        if valid_from and valid_until and valid_until < valid_from:
            self.error("valid_until", "is before valid_from")
        channels = self.listing(top, "channels", "")
        for i, channel in enumerate(channels):
            if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
                self.error(f"channels[{i}]", f"expected a channel name matching {CHANNEL_RE.pattern}")
        cost_from_bom, cost_rate = self.bom_cost(top.get("cost_from_bom"))
        self.cur = cur
        self.metered: dict[str, MeteredProduct] = {}
        products = self.products(top.get("products"))
        options, per_unit = self.options(top.get("options"), products)
        components = self.prices(top.get("components"), "components", SKU_RE)
        derived = top.get("derived_from")
        if derived is not None and not isinstance(derived, dict):
            self.error("derived_from", "expected a mapping (what catalog/derive.py records)")
        self.check()
        return PriceBook(name, title, version, cur, valid_from, valid_until, products, options,
                         per_unit, components, cost_from_bom, cost_rate, tuple(channels), digest(top), top,
                         derived_from=derived, metered=self.metered)

    def bom_cost(self, raw: Any) -> tuple[str | None, Decimal | None]:
        """`cost` or `{property: cost, rate: 0.92}` (a planning rate from the model's cost
        currency into this book's currency)."""
        if raw is None:
            return None, None
        if isinstance(raw, str):
            raw = {"property": raw}
        m = self.mapping(raw, "cost_from_bom", ("property", "rate"))
        if m is None:
            return None, None
        prop = self.text(m, "property", "cost_from_bom", required=True, pattern=ID_RE) or None
        rate = self.number(m["rate"], "cost_from_bom.rate") if "rate" in m else None
        if rate is not None and rate <= 0:
            self.error("cost_from_bom.rate", "must be more than 0")
        return prop, rate

    def amount(self, raw: Any, path: str) -> Decimal | None:
        value = self.number(raw, path, minimum=ZERO)
        if value is not None and self.cur is not None and not self.cur.is_exact(value):
            self.error(path, f"{value} has more decimals than {self.cur.code} allows "
                             f"({self.cur.minor_units})")
            return None
        return value if value is None or self.cur is None else value.quantize(self.cur.quantum)

    def price(self, raw: Any, path: str, extra: tuple[str, ...] = ()) -> tuple[Price | None, dict]:
        """`12.50` or `{price: 12.50, cost: 7, ...extra}`."""
        if not isinstance(raw, dict):
            amount = self.amount(raw, path)
            return (None if amount is None else Price(amount)), {}
        m = self.mapping(raw, path, ("price", "cost", *extra))
        if "price" not in m:
            self.error(join(path, "price"), "is required")
            return None, m
        amount = self.amount(m["price"], join(path, "price"))
        cost = self.amount(m["cost"], join(path, "cost")) if m.get("cost") is not None else None
        return (None if amount is None else Price(amount, cost)), m

    def products(self, raw: Any) -> dict[str, ProductPrice]:
        out: dict[str, ProductPrice] = {}
        if raw is None:
            self.error("products", "is required")
            return out
        if not isinstance(raw, dict):
            self.error("products", "expected a mapping of product codes to prices")
            return out
        for code, body in raw.items():
            path = join("products", code)
            if not isinstance(code, str) or not SKU_RE.match(code):
                self.error(path, f"product codes must match {SKU_RE.pattern}")
                continue
            if isinstance(body, dict) and "metered" in body:
                self.metered_product(code, body, path)
                continue
            price, m = self.price(body, path, ("name", "charge", "term_months"))
            charge = m.get("charge", "one_time")
            if charge not in CHARGES:
                self.error(join(path, "charge"), f"expected one of {', '.join(CHARGES)}")
                continue
            term = self.integer(m, "term_months", path, minimum=1, maximum=1200)
            if charge == "one_time" and term is not None:
                self.error(join(path, "term_months"), "only recurring charges have a term")
            elif term is not None and term % PERIOD_MONTHS[charge]:
                self.error(join(path, "term_months"),
                           f"{charge} charges need a term in whole periods of {PERIOD_MONTHS[charge]} months")
            if price is not None:
                out[code] = ProductPrice(price, self.text(m, "name", path), charge,
                                         term if charge == "one_time" else term or 12)
        return out

    def metered_product(self, code: str, body: dict, path: str) -> None:
        """`{name, metered: {...}}`: billed by usage, so no price, charge or term of its own."""
        m = self.mapping(body, path, ("name", "metered"))
        price = read_metered(self, m["metered"], join(path, "metered"), self.amount, TAX_CATEGORIES)
        if price is None:
            return
        other = next((c for c, p in self.metered.items() if p.price.meter == price.meter), None)
        if other is not None:
            self.error(join(path, "metered.meter"), f"meter {price.meter!r} is priced by {other} already")
            return
        self.metered[code] = MeteredProduct(price, self.text(m, "name", path))

    def options(self, raw: Any, products: dict) -> tuple[dict, dict]:
        options: dict[str, dict[str, dict[Value, OptionPrice]]] = {}
        per_unit: dict[str, dict[str, Price]] = {}
        if raw is None:
            return options, per_unit
        if not isinstance(raw, dict):
            self.error("options", "expected a mapping of product codes to attributes")
            return options, per_unit
        for product, attrs in raw.items():
            path = join("options", product)
            if not isinstance(product, str) or not PRODUCT_RE.match(product):
                self.error(path, f"product codes must match {PRODUCT_RE.pattern}")
                continue
            if product not in products:
                self.error(path, "has option prices but no product price")
            if not isinstance(attrs, dict):
                self.error(path, "expected a mapping of attribute ids to value prices")
                continue
            for attr, values in attrs.items():
                apath = join(path, attr)
                if not isinstance(attr, str) or not ID_RE.match(attr):
                    self.error(apath, f"attribute ids must match {ID_RE.pattern}")
                    continue
                if not isinstance(values, dict):
                    self.error(apath, "expected a mapping of values to prices, or {per_unit: price}")
                    continue
                if "per_unit" in values:
                    if len(values) > 1:
                        self.error(apath, "per_unit prices an integer attribute; it takes no other values")
                    price, _ = self.price(values["per_unit"], join(apath, "per_unit"))
                    if price is not None:
                        per_unit.setdefault(product, {})[attr] = price
                    continue
                for value, body in values.items():
                    vpath = join(apath, _text(value))
                    if value in ("true", "false"):      # a yes/no value as stored (JSON keys are text)
                        value = value == "true"
                    if not isinstance(value, (str, bool)) or (isinstance(value, str) and not CODE_RE.match(value)):
                        self.error(vpath, "expected a value code or true/false")
                        continue
                    price, m = self.price(body, vpath, ("per",))
                    per = self.text(m, "per", vpath, pattern=ID_RE) or None
                    if price is not None:
                        options.setdefault(product, {}).setdefault(attr, {})[value] = OptionPrice(price, per)
        return options, per_unit

    def prices(self, raw: Any, path: str, key_re: re.Pattern) -> dict[str, Price]:
        out: dict[str, Price] = {}
        if raw is None:
            return out
        if not isinstance(raw, dict):
            self.error(path, "expected a mapping of codes to prices")
            return out
        for code, body in raw.items():
            if not isinstance(code, str) or not key_re.match(code):
                self.error(join(path, code), f"codes must match {key_re.pattern}")
                continue
            price, _ = self.price(body, join(path, code))
            if price is not None:
                out[code] = price
        return out
