"""Derived price books: a price book in one currency made from another's prices, converted at
the exchange rate of a day and rounded by a rounding rule.

The derived version is an ordinary price book version (the loader checks it, the store keeps
it, pricing uses it once active), written with a `derived_from` record: the source book and
version, the rate with the day it took effect and its source, and the rule. So it never
follows later rates by itself; deriving again once the rate has changed makes a new version.
Deriving what the latest version of the name holds already (the same source version, rate
and rule: a retry, or a day with no new rate) returns that version and changes nothing.

Rounding, once per amount, after the conversion (exact until then):
- list prices (product, option, per-unit and component prices) by the rule: to the target
  currency's minor unit (the default), to a multiple of a `step` (0.05, 1, 10), or to a
  `charm` ending (.99 gives x.99, 9 gives ...9, 990 gives ...990: the ending plus a multiple
  of the next power of ten); each in a mode: nearest (half up), up or down. A price of 0
  stays 0 (a free option stays free), and a charm price is never below the ending itself;
- costs to the minor unit, nearest (they are for margins, not for customers);
- the planning rate of `cost_from_bom` becomes the source's times the exchange rate (or the
  exchange rate, when the source had none), to 9 decimals.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Callable

from sqlmodel import Session

from catalog.pricebook import KIND, NAME_RE, PriceBook, load_price_book_dict
from catalog.store import get_price_book, save_price_book
from core import versioned
from core.errors import InvalidInput
from core.fxrates import rate as exchange_rate
from core.money import ONE, ZERO, Currency, CurrencyError, currency, trim
from core.validation import to_decimal

MODES = {"nearest": ROUND_HALF_UP, "up": ROUND_CEILING, "down": ROUND_FLOOR}
COST_RATE_DECIMALS = Decimal("1e-9")


@dataclass(frozen=True)
class Rounding:
    """How a converted list price is rounded: to `step`, to a `charm` ending, or (neither)
    to the currency's minor unit; in `mode` (nearest, up, down)."""
    step: Decimal | None = None
    charm: Decimal | None = None
    mode: str = "nearest"

    def check(self, cur: Currency) -> None:
        """InvalidInput (naming rounding.*) unless the rule makes prices in `cur`'s minor units."""
        if self.mode not in MODES:
            raise InvalidInput("rounding.mode", f"expected one of {', '.join(MODES)}")
        if self.step is not None and self.charm is not None:
            raise InvalidInput("rounding", "give a step or a charm ending, not both")
        for name, value in (("step", self.step), ("charm", self.charm)):
            if value is None:
                continue
            if value < 0 or (name == "step" and value == 0):
                raise InvalidInput(f"rounding.{name}", "must be more than 0" if name == "step" else "must be 0 or more")
            if not cur.is_exact(value):
                raise InvalidInput(f"rounding.{name}", f"{value} is finer than {cur.code}'s minor unit "
                                                       f"({cur.minor_units} decimals)")

    @property
    def charm_unit(self) -> Decimal:
        """The power of ten a charm ending repeats at: 1 for .99, 10 for 9, 1000 for 990."""
        unit = ONE
        while unit <= self.charm:
            unit *= 10
        return unit

    def apply(self, amount: Decimal, cur: Currency) -> Decimal:
        """`amount` (exact, not negative) rounded by the rule, in `cur`'s minor units."""
        if not amount:
            return ZERO.quantize(cur.quantum)
        mode = MODES[self.mode]
        if self.charm is not None:
            unit = self.charm_unit
            times = max(((amount - self.charm) / unit).quantize(ONE, mode), ZERO)
            return (times * unit + self.charm).quantize(cur.quantum)
        step = self.step or cur.quantum
        return ((amount / step).quantize(ONE, mode) * step).quantize(cur.quantum)

    def describe(self) -> dict:
        rule = {"step": str(self.step)} if self.step is not None else (
            {"charm": str(self.charm)} if self.charm is not None else {"minor_unit": True})
        return rule | {"mode": self.mode}


def parse_rounding(text: str, mode: str = "nearest") -> Rounding:
    """`minor`, `step:0.05` or `charm:.99` (as the CLI takes it)."""
    kind, _, value = text.partition(":")
    if kind == "minor" and not value:
        return Rounding(mode=mode)
    amount = to_decimal("0" + value if value.startswith(".") else value)
    if kind not in ("step", "charm") or amount is None:
        raise InvalidInput("rounding", f"expected minor, step:AMOUNT (step:0.05) or charm:ENDING (charm:.99), not {text!r}")
    return Rounding(**{kind: amount}, mode=mode)


def derive_price_book(session: Session, source_name: str, target: str, name: str, on: date,
                      rounding: Rounding = Rounding(), *, source_version: int | None = None,
                      title: str | None = None, activate: bool = False) -> tuple[versioned.DocumentVersion, bool]:
    """A new version of price book `name` in currency `target`: `source_name`'s prices (its
    active version, or `source_version`) converted at the rate of `on` and rounded. Returns
    (the version, whether it is new); the latest version of `name` when it was derived with
    the same inputs already."""
    try:
        cur = currency(target)
    except CurrencyError as exc:
        raise InvalidInput("currency", str(exc)) from None
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput("name", f"a price book name matching {NAME_RE.pattern}")
    rounding.check(cur)
    source = get_price_book(session, source_name, source_version)
    if name == source.name:
        raise InvalidInput("name", "a derived price book needs a name of its own")
    fx = exchange_rate(session, source.currency.code, cur.code, on)
    latest = versioned.latest_version(session, KIND, name)
    record = {"pricebook": source.name, "version": source.version, "currency": source.currency.code,
              "rate": str(fx.rate), "rate_on": fx.on.isoformat(), "rate_source": fx.source,
              "rounding": rounding.describe()}
    document = _converted(source, cur, name, title, record,
                          lambda amount: rounding.apply(amount * fx.rate, cur),
                          lambda cost: cur.round(cost * fx.rate), fx.rate)
    if latest is not None:
        same = load_price_book_dict(dict(document, version=latest), f"price book {name}")
        row = versioned.find_document(session, KIND, name, latest)
        if row.digest == same.digest:
            if activate:
                versioned.activate_document(session, KIND, name, latest)
            return row, False
    book = load_price_book_dict(dict(document, version=(latest or 0) + 1), f"price book {name}")
    return save_price_book(session, book, activate), True


def _converted(book: PriceBook, cur: Currency, name: str, title: str | None, record: dict,
               price: Callable[[Decimal], Decimal], cost: Callable[[Decimal], Decimal], fx: Decimal) -> dict:
    """`book`'s source with every amount converted and the derivation recorded."""
    out = copy.deepcopy(book.source)
    out.update(pricebook=name, currency=cur.code, derived_from=record,
               name=title or f"{book.title} in {cur.code} (derived)")
    for code, body in (out.get("products") or {}).items():
        out["products"][code] = _metered(body, fx, cost) if isinstance(body, dict) and "metered" in body \
            else _entry(body, price, cost)
    for product, attributes in (out.get("options") or {}).items():
        for attr, values in attributes.items():
            for value, body in values.items():
                values[value] = _entry(body, price, cost)
    for part, body in (out.get("components") or {}).items():
        out["components"][part] = _entry(body, price, cost)
    if book.cost_from_bom:
        planning = ((book.cost_rate or ONE) * fx).quantize(COST_RATE_DECIMALS, ROUND_HALF_UP)
        out["cost_from_bom"] = {"property": book.cost_from_bom, "rate": str(trim(planning))}
    return out


def _entry(body: Any, price: Callable, cost: Callable) -> Any:
    """A price entry (`12.50` or `{price, cost, ...}`) with its amounts converted."""
    if not isinstance(body, dict):
        return _written(price(to_decimal(body)))
    converted = dict(body, price=_written(price(to_decimal(body["price"]))))
    if body.get("cost") is not None:
        converted["cost"] = _written(cost(to_decimal(body["cost"])))
    return converted


def _metered(body: dict, fx: Decimal, cost: Callable) -> dict:
    """A usage price (catalog/metered.py) converted: fees, package prices and minimums to the
    currency's minor units; unit prices keep their precision, two decimals more than the
    source's (0.002 USD a call is not 0.00 EUR), since they are rounded once per rated line.
    The book's rounding rule is for list prices, not these."""
    m = copy.deepcopy(body["metered"])

    def per_unit(value) -> str:
        amount = to_decimal(value)
        places = Decimal(1).scaleb(min(amount.as_tuple().exponent, 0) - 2)
        return str(trim((amount * fx).quantize(places, ROUND_HALF_UP)))

    if m.get("unit_price") is not None:
        m["unit_price"] = per_unit(m["unit_price"])
    for tier in m.get("tiers") or []:
        if tier.get("unit_price") is not None:
            tier["unit_price"] = per_unit(tier["unit_price"])
        if tier.get("flat_fee") is not None:
            tier["flat_fee"] = _written(cost(to_decimal(tier["flat_fee"])))
    if isinstance(m.get("package"), dict) and m["package"].get("price") is not None:
        m["package"]["price"] = _written(cost(to_decimal(m["package"]["price"])))
    if m.get("minimum") is not None:
        m["minimum"] = _written(cost(to_decimal(m["minimum"])))
    return dict(body, metered=m)


def _written(amount: Decimal) -> str:
    """As text in minor units ("1617.99", JPY "1234"): the stored source keeps it exactly (a
    JSON number would be a binary float)."""
    return str(amount)
