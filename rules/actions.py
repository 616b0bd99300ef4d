"""What a pricing rule does to a line (or to the quote), as an exact Decimal amount.

Every price-changing action answers one question: given the amount the line stands at
(`base`, for the whole line quantity) what is the discount? A surcharge is a negative
discount. Money amounts in rules are given per currency (`{USD: 50, EUR: 45}`); a rule with no
amount in the quote's currency does not apply, and says so. Nothing is rounded here: the
engine rounds each line once (docs/pricing.md).

A price action answers in two parts: `refusal`, why it does not apply to a line (None when
it does), which reads only the currency and the quantity, so that rules.stack decides it
once for all the lines with that quantity; and `amount`, the discount when it applies.
`discount` is the two together. `resolve` gives `amount` for one currency and quantity as
a function of the base alone, which rules.stack calls for every rule that applies to a line.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping, NamedTuple

from core.money import HUNDRED, ZERO

Amounts = Mapping[str, Decimal]   # currency code -> amount


class LineBasis(NamedTuple):
    """What actions may look at: quantity and the line's unit list price and cost.
    (A named tuple: one is built per line, and tuples build fastest.)"""
    currency: str
    quantity: Decimal
    unit_list: Decimal
    unit_cost: Decimal | None


def _amount(amounts: Amounts, basis: LineBasis) -> Decimal | str:
    value = amounts.get(basis.currency)
    return _no_amount(basis) if value is None else value


def _no_amount(basis: LineBasis) -> str:
    return f"no amount in {basis.currency}"


class PriceAction:
    """What the price actions share: `discount` from `refusal` and `amount`."""

    def discount(self, base: Decimal, basis: LineBasis) -> Decimal | str:
        """The discount on `base` (negative for a surcharge), or why there is none."""
        reason = self.refusal(basis)
        return self.amount(base, basis) if reason is None else reason

    def refusal(self, basis: LineBasis) -> str | None:
        return None

    def resolve(self, basis: LineBasis) -> tuple[Callable, object]:
        """`amount` for lines of the basis's currency and quantity (when it applies): (fn, arg)
        with fn(base, arg) == amount(base, basis), Decimal for Decimal, exponent and all. The
        actions that can answer with a C method (base * fraction, base - k, the lesser of base
        and k) do, which spares a Python call per rule and line."""
        return self.amount, basis


@dataclass(frozen=True)
class Percent(PriceAction):
    percent: Decimal
    surcharge: bool = False

    def __post_init__(self):
        # base * (percent / 100) is base * percent / 100 in one operation, not two: percent / 100
        # is exact, and either way the product is rounded once, to the same significant digits
        object.__setattr__(self, "_fraction", self.percent / HUNDRED)

    def amount(self, base: Decimal, basis: LineBasis) -> Decimal:
        amount = base * self._fraction
        return -amount if self.surcharge else amount

    def resolve(self, basis: LineBasis | None) -> tuple[Callable, object]:
        """The same for any basis (a percentage reads none: rules.model resolves it once)."""
        return (self.amount, basis) if self.surcharge else (Decimal.__mul__, self._fraction)

    def describe(self) -> str:
        return f"{'+' if self.surcharge else '-'}{self.percent}%"


@dataclass(frozen=True)
class AmountOff(PriceAction):
    """A fixed amount off (or on, as a surcharge) each unit, or the whole quote."""
    amounts: Amounts
    per_unit: bool = True
    surcharge: bool = False

    def refusal(self, basis: LineBasis) -> str | None:
        return None if basis.currency in self.amounts else _no_amount(basis)

    def amount(self, base: Decimal, basis: LineBasis) -> Decimal:
        value = self.amounts[basis.currency]
        total = value * basis.quantity if self.per_unit else value
        return -total if self.surcharge else total if total < base else base

    def resolve(self, basis: LineBasis) -> tuple[Callable, object]:
        if self.surcharge:
            return self.amount, basis
        value = self.amounts[basis.currency]
        return min, value * basis.quantity if self.per_unit else value   # min(base, total): base when equal

    def describe(self) -> str:
        each = " each" if self.per_unit else ""
        amounts = ", ".join(f"{c} {a}" for c, a in sorted(self.amounts.items()))
        return f"{'+' if self.surcharge else '-'}{amounts}{each}"


@dataclass(frozen=True)
class SetPrice(PriceAction):
    amounts: Amounts

    def refusal(self, basis: LineBasis) -> str | None:
        return None if basis.currency in self.amounts else _no_amount(basis)

    def amount(self, base: Decimal, basis: LineBasis) -> Decimal:
        return base - self.amounts[basis.currency] * basis.quantity

    def resolve(self, basis: LineBasis) -> tuple[Callable, object]:
        return Decimal.__sub__, self.amounts[basis.currency] * basis.quantity

    def describe(self) -> str:
        return "price " + ", ".join(f"{c} {a}" for c, a in sorted(self.amounts.items()))


@dataclass(frozen=True)
class Tier:
    start: Decimal                       # first quantity of the tier
    price: Amounts | None = None         # unit price (all_units, graduated) or band fee (block)
    percent: Decimal | None = None       # or a discount on the line's unit price

    def __post_init__(self):
        # as Percent's: base * (percent / 100) is base * percent / 100, in one operation
        object.__setattr__(self, "_fraction", None if self.percent is None else self.percent / HUNDRED)


@dataclass(frozen=True)
class Volume(PriceAction):
    """Quantity tiers, sorted by `start`; the top tier holds for any larger quantity.

    all_units: the tier the quantity reaches prices every unit;
    graduated: each tier prices the units that fall inside it (tiers start at 1);
    block:     a flat fee for the band the quantity falls in (tiers start at 1).
    """
    mode: str
    tiers: tuple[Tier, ...]

    def __post_init__(self):
        object.__setattr__(self, "_starts", tuple(t.start for t in self.tiers))   # read per line

    def _reached(self, qty: Decimal) -> tuple[Tier, ...]:
        """The tiers from which `qty` counts."""
        return self.tiers[:bisect_right(self._starts, qty)]

    def refusal(self, basis: LineBasis) -> str | None:
        reached = self._reached(basis.quantity)
        if not reached:
            return f"quantity {basis.quantity} is below the first tier ({self.tiers[0].start})"
        for tier in reached if self.mode == "graduated" else reached[-1:]:    # the tiers it prices by
            if tier.price is not None and basis.currency not in tier.price:
                return _no_amount(basis)
        return None

    def amount(self, base: Decimal, basis: LineBasis) -> Decimal:
        qty = basis.quantity
        reached = self._reached(qty)
        if self.mode == "all_units":
            return self._whole(reached[-1], base, basis)
        if self.mode == "block":
            return base - reached[-1].price[basis.currency]
        # graduated: units start..next_start-1 at each tier's price
        unit_base = base / qty
        target = ZERO
        for i, tier in enumerate(reached):
            end = reached[i + 1].start - 1 if i + 1 < len(reached) else qty
            units = end - tier.start + 1
            if tier.percent is not None:
                target += units * unit_base * (HUNDRED - tier.percent) / HUNDRED
            else:
                target += units * tier.price[basis.currency]
        return base - target

    @staticmethod
    def _whole(tier: Tier, base: Decimal, basis: LineBasis) -> Decimal:
        if tier.percent is not None:
            return base * tier._fraction
        return base - tier.price[basis.currency] * basis.quantity

    def resolve(self, basis: LineBasis) -> tuple[Callable, object]:
        if self.mode == "graduated":
            return self.amount, basis
        tier = self._reached(basis.quantity)[-1]
        if self.mode == "block":
            return Decimal.__sub__, tier.price[basis.currency]
        if tier.percent is not None:
            return Decimal.__mul__, tier._fraction
        return Decimal.__sub__, tier.price[basis.currency] * basis.quantity

    def describe(self) -> str:
        return f"{self.mode.replace('_', '-')} volume tiers"


@dataclass(frozen=True)
class Floor:
    """The lowest unit price allowed: cost plus a margin, or a fixed price."""
    cost_plus_percent: Decimal | None = None
    amounts: Amounts | None = None

    def unit_floor(self, basis: LineBasis) -> Decimal | str:
        if self.cost_plus_percent is not None:
            if basis.unit_cost is None:
                return "the price book has no cost for this line"
            return basis.unit_cost * (HUNDRED + self.cost_plus_percent) / HUNDRED
        return _amount(self.amounts, basis)

    def describe(self) -> str:
        if self.cost_plus_percent is not None:
            return f"floor at cost + {self.cost_plus_percent}%"
        return "floor " + ", ".join(f"{c} {a}" for c, a in sorted(self.amounts.items()))


@dataclass(frozen=True)
class FreeItem:
    """Adds `quantity` free units of `product` for every `per` units of the line (or once)."""
    product: str
    quantity: Decimal
    per: Decimal | None = None

    def free_quantity(self, basis: LineBasis) -> Decimal:
        if self.per is None:
            return self.quantity
        return self.quantity * (basis.quantity // self.per)

    def describe(self) -> str:
        per = f" per {self.per}" if self.per else ""
        return f"{self.quantity} x {self.product} free{per}"


PRICE_ACTIONS = (Percent, AmountOff, SetPrice, Volume)
