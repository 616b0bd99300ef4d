"""Metered prices: what a quantity of usage in one billing period costs.

A metered product of a price book prices one meter (`api_calls`, `storage_gb`...) per period
with one of four models: `per_unit`, `graduated` tiers (each unit priced by the tier it falls
in), `volume` tiers (every unit at the tier the quantity reaches) or `packages` (a price per
started package of units). Tiers may charge a flat fee besides their unit price (Stripe's
`flat_amount` and `unit_amount`). An allowance (`included`) is taken off the quantity before
the model prices the rest, and a minimum commitment bills at least that much per period: the
difference is a true-up. Format and examples: docs/usage.md.

`rate` is pure: the same price and quantity always give the same `Rated`. Its parts are
exact; the usage amount is rounded once, to the currency's minor units, and the true-up is
the minimum less that rounded amount, so the period bills exactly max(minimum, amount).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Callable

from core.money import ZERO, Currency
from core.validation import Reader, join

MODELS = ("per_unit", "graduated", "volume", "package")
METER_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
QUANTITY_DECIMALS = 6                   # usage quantities, allowances and tier bounds
QUANTUM = Decimal(1).scaleb(-QUANTITY_DECIMALS)
#: precision of the exact arithmetic: quantities of 18 digits times prices of 24 never round
_PRECISION = 80


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None               # the last unit in the tier, inclusive; None: no bound
    unit_price: Decimal                 # per unit; may be finer than the minor unit (0.0015)
    flat_fee: Decimal = ZERO            # in minor units, once when a unit falls in the tier


@dataclass(frozen=True)
class MeteredPrice:
    meter: str
    unit: str                           # what one unit is called on the invoice ("call")
    model: str                          # one of MODELS
    tiers: tuple[Tier, ...] = ()        # per_unit: one tier without a bound
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    included: Decimal = ZERO            # allowance per period
    minimum: Decimal | None = None      # commitment per period
    tax_category: str = "standard"


@dataclass(frozen=True)
class Step:
    """What one tier (or the packages) charged: `quantity` units (packages) above `above` and
    up to `up_to`, at `unit_price` each, plus `flat_fee`; `amount` is exact, not rounded."""
    above: Decimal
    up_to: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Rated:
    quantity: Decimal                   # the period's usage
    allowance_used: Decimal             # of `included`, never more than the quantity
    billable: Decimal                   # quantity - allowance_used, what the model priced
    steps: tuple[Step, ...]
    amount: Decimal                     # the steps' sum, rounded once to the minor unit
    minimum: Decimal | None
    true_up: Decimal                    # minimum - amount when the usage bills less, else 0

    @property
    def total(self) -> Decimal:
        return self.amount + self.true_up


def rate(price: MeteredPrice, quantity: Decimal, cur: Currency) -> Rated:
    """The charge for `quantity` (at least 0) of usage in one period."""
    if quantity < 0:
        raise ValueError(f"a usage quantity is at least 0, not {quantity}")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        used = min(quantity, price.included)
        billable = quantity - used
        if price.model == "package":
            steps = _packages(price, billable)
        elif price.model == "volume":
            steps = _volume(price.tiers, billable)
        else:                                       # per_unit is graduated with one tier
            steps = _graduated(price.tiers, billable)
        amount = cur.round(sum((s.amount for s in steps), ZERO))
    true_up = max(price.minimum - amount, ZERO) if price.minimum is not None else ZERO
    return Rated(quantity, used, billable, steps, amount, price.minimum, true_up)


def _graduated(tiers: tuple[Tier, ...], billable: Decimal) -> tuple[Step, ...]:
    steps, above = [], ZERO
    for tier in tiers:
        if billable <= above:
            break
        top = billable if tier.up_to is None else min(billable, tier.up_to)
        units = top - above
        steps.append(Step(above, tier.up_to, units, tier.unit_price, tier.flat_fee,
                          units * tier.unit_price + tier.flat_fee))
        above = tier.up_to if tier.up_to is not None else top
    return tuple(steps)


def _volume(tiers: tuple[Tier, ...], billable: Decimal) -> tuple[Step, ...]:
    if not billable:
        return ()
    above = ZERO
    for tier in tiers:
        if tier.up_to is None or billable <= tier.up_to:
            return (Step(above, tier.up_to, billable, tier.unit_price, tier.flat_fee,
                         billable * tier.unit_price + tier.flat_fee),)
        above = tier.up_to
    raise AssertionError("the last tier has no bound")       # the loader makes sure of it


def _packages(price: MeteredPrice, billable: Decimal) -> tuple[Step, ...]:
    whole, rest = divmod(billable, price.package_size)
    packages = whole + (1 if rest else 0)               # a started package is a package
    if not packages:
        return ()
    return (Step(ZERO, None, packages, price.package_price, ZERO, packages * price.package_price),)


# reading a price book's `metered:` entry ---------------------------------------------------------

KEYS = ("meter", "unit", "model", "unit_price", "tiers", "package", "included", "minimum", "tax_category")


def read_metered(reader: Reader, raw: Any, path: str, amount: Callable[[Any, str], Decimal | None],
                 tax_categories: tuple[str, ...]) -> MeteredPrice | None:
    """A product's `metered:` mapping, or None after recording its errors on `reader`.
    `amount` reads an amount that must be exact in the book's minor units."""
    m = reader.mapping(raw, path, KEYS)
    if m is None:
        return None
    errors = len(reader.errors)
    meter = reader.text(m, "meter", path, required=True, pattern=METER_RE)
    unit = reader.text(m, "unit", path, default="unit")
    if len(unit) > 40:
        reader.error(join(path, "unit"), "at most 40 characters")
    model = reader.text(m, "model", path, required=True)
    if model and model not in MODELS:
        reader.error(join(path, "model"), f"expected one of {', '.join(MODELS)}")
    category = reader.text(m, "tax_category", path, default="standard")
    if category not in tax_categories:
        reader.error(join(path, "tax_category"), f"expected one of {', '.join(tax_categories)}")
    for key, models in (("unit_price", ("per_unit",)), ("tiers", ("graduated", "volume")), ("package", ("package",))):
        if model in MODELS and (key in m) != (model in models):
            reason = "is required" if key not in m else f"is not used by the {model} model"
            reader.error(join(path, key), f"{reason} (it prices {' and '.join(models)})")
    tiers: tuple[Tier, ...] = ()
    size = package_price = None
    if model == "per_unit" and "unit_price" in m:
        tiers = (Tier(None, _unit_price(reader, m["unit_price"], join(path, "unit_price")) or ZERO),)
    elif model in ("graduated", "volume") and "tiers" in m:
        tiers = _tiers(reader, m["tiers"], join(path, "tiers"), amount)
    elif model == "package" and "package" in m:
        size, package_price = _package(reader, m["package"], join(path, "package"), amount)
    included = _quantity(reader, m["included"], join(path, "included")) if "included" in m else ZERO
    minimum = amount(m["minimum"], join(path, "minimum")) if m.get("minimum") is not None else None
    if len(reader.errors) > errors:
        return None
    return MeteredPrice(meter, unit, model, tiers, size, package_price, included or ZERO, minimum, category)


def _unit_price(reader: Reader, raw: Any, path: str) -> Decimal | None:
    return reader.number(raw, path, minimum=ZERO)


def _quantity(reader: Reader, raw: Any, path: str, above_zero: bool = False) -> Decimal | None:
    value = reader.number(raw, path, minimum=ZERO)
    if value is None:
        return None
    if above_zero and not value:
        reader.error(path, "must be more than 0")
        return None
    if value != value.quantize(QUANTUM):
        reader.error(path, f"at most {QUANTITY_DECIMALS} decimals")
        return None
    return value


def _tiers(reader: Reader, raw: Any, path: str, amount) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        reader.error(path, "expected a list of tiers, at least one")
        return ()
    tiers, previous = [], ZERO
    for i, body in enumerate(raw):
        where = join(path, i)
        m = reader.mapping(body, where, ("up_to", "unit_price", "flat_fee"))
        if m is None:
            continue
        last = i == len(raw) - 1
        up_to = None
        if m.get("up_to") is not None:
            if last:
                reader.error(join(where, "up_to"), "the last tier has no bound: it prices every unit above the one before")
            up_to = _quantity(reader, m["up_to"], join(where, "up_to"), above_zero=True)
            if up_to is not None and up_to <= previous:
                reader.error(join(where, "up_to"), f"must be above the tier before ({previous})")
            previous = up_to if up_to is not None else previous
        elif not last:
            reader.error(join(where, "up_to"), "is required: only the last tier has no bound")
        if "unit_price" not in m and "flat_fee" not in m:
            reader.error(where, "give a unit_price, a flat_fee or both")
        unit_price = _unit_price(reader, m["unit_price"], join(where, "unit_price")) if "unit_price" in m else ZERO
        flat_fee = amount(m["flat_fee"], join(where, "flat_fee")) if "flat_fee" in m else ZERO
        tiers.append(Tier(up_to, unit_price or ZERO, flat_fee or ZERO))
    return tuple(tiers)


def _package(reader: Reader, raw: Any, path: str, amount) -> tuple[Decimal | None, Decimal | None]:
    m = reader.mapping(raw, path, ("size", "price"))
    if m is None:
        return None, None
    for key in ("size", "price"):
        if key not in m:
            reader.error(join(path, key), "is required")
    size = _quantity(reader, m["size"], join(path, "size"), above_zero=True) if "size" in m else None
    price = amount(m["price"], join(path, "price")) if "price" in m else None
    return size, price
