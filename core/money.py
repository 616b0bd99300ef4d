"""Money: Decimal amounts, ISO 4217 minor units, and the two rounding operations.

Amounts are `Decimal` and never float. A document (price book, quote, invoice) has one
currency and every amount on it is in that currency, so amounts travel as plain Decimals
next to a `Currency` rather than as objects each carrying a code.

Rounding happens only through this module:
- `Currency.round` rounds half away from zero (ROUND_HALF_UP, "commercial rounding") to the
  currency's minor units (JPY 0, USD 2, KWD 3), where the domain documents that it rounds;
- `round_to_total` and `allocate` split an amount that is already in minor units into
  parts that are also in minor units and sum to it exactly (largest remainder), so that a
  total never differs from the sum of its parts by a cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import cached_property, lru_cache
from itertools import compress, repeat
from operator import itemgetter, sub
from typing import Sequence

from iso4217 import Currency as _Iso4217

ROUNDING = ROUND_HALF_UP
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class CurrencyError(ValueError):
    """Unknown currency code, or an amount finer than the currency's minor unit."""


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int

    @cached_property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.minor_units)

    def round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.quantum, ROUNDING)   # positional: twice as fast as a keyword

    def round_exact(self, value: Fraction) -> Decimal:
        """`round` for an exact rational (a sum of prorated parts): half away from zero, decided
        on the exact value, so a sum that is exactly half a minor unit is never misread."""
        units, denominator = value.numerator * 10 ** self.minor_units, value.denominator
        whole = (abs(units) * 2 + denominator) // (2 * denominator)
        return Decimal(whole if units >= 0 else -whole).scaleb(-self.minor_units).quantize(self.quantum)

    def per_unit(self, amount: Decimal) -> Decimal:
        """A price or cost per unit as written: at least the minor units ("1.9" -> "1.90"),
        never rounded (0.0042 per screw stays 0.0042)."""
        exact = amount.normalize()                    # a database's NUMERIC(24, 6) pads with zeros
        return exact if exact.as_tuple().exponent < -self.minor_units else amount.quantize(self.quantum)

    def is_exact(self, amount: Decimal) -> bool:
        """True when `amount` needs no rounding (e.g. a price typed into a price book)."""
        try:
            return amount.quantize(self.quantum) == amount
        except InvalidOperation:  # too many digits for the context
            return False


def trim(value: Decimal) -> Decimal:
    """`value` without trailing zeros and never in exponent form (4320.000000 -> 4320), so a
    decimal reads back the same from either database and as it was written; money is shown
    in its currency's minor units by the schemas (core.serialize.Money)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


@lru_cache(maxsize=None)
def currency(code: str) -> Currency:
    """The currency with ISO 4217 code `code`; raises CurrencyError for unknown codes and for
    units of account without minor units (gold, SDR...), which nothing here can price in."""
    try:
        entry = _Iso4217(code) if isinstance(code, str) else None
    except ValueError:
        entry = None
    if entry is None:
        raise CurrencyError(f"{code!r} is not an ISO 4217 currency code")
    if entry.exponent is None:
        raise CurrencyError(f"{code} has no minor units; amounts cannot be priced in it")
    return Currency(entry.code, entry.exponent)


def round_to_total(amounts: Sequence[Decimal], total: Decimal, quantum: Decimal) -> list[Decimal]:
    """Round each of `amounts` to `quantum` so that the results sum to `total` exactly.

    Each amount is rounded down, then the missing quanta go one each to the amounts that lost
    most by rounding down (ties to the earlier one), which keeps every part within one quantum
    of its exact value. `total` must be a multiple of `quantum` within len(amounts) quanta of
    the exact sum; it usually is the exact sum rounded once.
    """
    if len(amounts) == 1 and abs(total - amounts[0]) < quantum:
        return [total]
    floors = list(map(Decimal.quantize, amounts, repeat(quantum), repeat(ROUND_FLOOR)))
    missing = int((total - sum(floors, ZERO)) / quantum)
    if not 0 <= missing <= len(amounts):
        raise ValueError(f"{total} cannot be split over {list(amounts)} in steps of {quantum}")
    if missing:
        lost = list(map(sub, amounts, floors))
        # by loss, ties keeping their order (a stable sort); only those that lost something are
        # sorted (a waterfall's exact amounts are often whole quanta), the others follow in order
        order = sorted(compress(range(len(lost)), lost), key=lost.__getitem__, reverse=True)
        if missing > len(order):
            order += [i for i, loss in enumerate(lost) if not loss]
        for i in order[:missing]:
            floors[i] += quantum
    return floors


def allocate(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split `total` (a multiple of `quantum`) in proportion to `weights` (not all zero, none
    negative); the parts are multiples of `quantum` and sum to `total` exactly.

    Largest remainder in integers (`split_units`): every weight is scaled to an integer, so no
    division is rounded and the split is exact at any size.
    """
    if any(w < 0 for w in weights) or not any(weights):
        raise ValueError("allocation weights must be non-negative and not all zero")
    units = total / quantum
    if units != units.to_integral_value():
        raise ValueError(f"{total} is not a multiple of {quantum}")
    shift = -quantum.as_tuple().exponent           # weights are usually amounts in quanta...
    exact = [w.scaleb(shift) for w in weights]
    scaled = [int(w) for w in exact]
    if scaled != exact:                              # ...when not, scale by the finest weight
        shift = -min(w.as_tuple().exponent for w in weights)
        scaled = [int(w.scaleb(shift)) for w in weights]
    return [quantum * part for part in split_units(int(units), scaled)]


def split_units(units: int, weights: Sequence[int]) -> list[int]:
    """Split `units` in proportion to integer `weights` (not all zero, none negative): each
    part is `units * w // sum` and the units left over go to the largest remainders (ties to
    the earlier part). Scaling every weight by one factor gives the same split."""
    if units < 0:
        return [-part for part in split_units(-units, weights)]
    weight_sum = sum(weights)
    split = list(map(divmod, map(units.__mul__, weights), repeat(weight_sum)))   # one division each
    parts = list(map(itemgetter(0), split))
    missing = units - sum(parts)
    if missing:
        remainders = list(map(itemgetter(1), split))
        order = sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)  # stable
        for i in order[:missing]:
            parts[i] += 1
    return parts


def percent_of(part: Decimal, whole: Decimal) -> Decimal:
    """`part` as a percentage of `whole`, to 2 decimal places (0 when `whole` is 0)."""
    if not whole:
        return ZERO.quantize(Decimal("0.01"))
    return (part * HUNDRED / whole).quantize(Decimal("0.01"), rounding=ROUNDING)
