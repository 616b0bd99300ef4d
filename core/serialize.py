"""Field types shared by every marshmallow schema, domain and API alike.

Money leaves in its currency's minor units ("1.90", JPY "300", KWD "1.111"), whether it was
computed or read back from a database that dropped its trailing zeros. Every amount is
declared with one of two fields: `Money` (an amount: rounded to the minor unit, the one
documented output rounding) or `UnitAmount` (a price or cost per unit: at least the minor
units, never rounded). Their currency is the `currency` of the object dumped or, for
objects that have none (an invoice's lines, a price's steps), of the object holding them:
`InCurrency` and `MoneyMap` carry it down.
"""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal

from marshmallow import fields

from core.money import currency, trim

_HOLDER_CURRENCY: ContextVar[str | None] = ContextVar("holder_currency", default=None)
_AMOUNT = {"type": "string", "format": "decimal"}


class _Plain(fields.Decimal):
    """A decimal written without trailing zeros (20.00 -> 20), as either database reads it
    back, so an answer reads the same before and after the value was stored."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else super()._serialize(trim(Decimal(str(value))), attr, obj, **kwargs)


def decimal_string(**kwargs):
    """Exact decimals that are not money (quantities, rates, percents) as JSON strings (and
    documented as strings, not numbers)."""
    return _Plain(as_string=True, metadata=_AMOUNT | kwargs.pop("metadata", {}), **kwargs)


def _currency_of(obj, field_name: str) -> str | None:
    code = obj.get(field_name) if isinstance(obj, dict) else getattr(obj, field_name, None)
    return code or _HOLDER_CURRENCY.get()


class Money(fields.Decimal):
    """An amount, written in its currency's minor units (the currency of the object dumped,
    else of the object holding it); `currency_field` names where the object keeps its code."""

    description = "in the currency's minor units"

    def __init__(self, *, currency_field: str = "currency", **kwargs):
        # a field's own description joins the type, never replaces it (a bare description
        # documented an amount as a number: schemathesis ST108)
        kwargs["metadata"] = {**_AMOUNT, "description": self.description, **kwargs.get("metadata", {})}
        super().__init__(as_string=True, **kwargs)
        self.currency_field = currency_field

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        code = _currency_of(obj, self.currency_field)
        if code is None:
            raise ValueError(f"{attr}: an amount needs a currency, and neither its object nor a holder has one")
        return super()._serialize(self._written(Decimal(str(value)), currency(code)), attr, obj, **kwargs)

    @staticmethod
    def _written(amount: Decimal, cur) -> Decimal:
        return cur.round(amount)


class UnitAmount(Money):
    """A price or cost per unit: at least its currency's minor units, and never rounded, so a
    price of 0.0042 per screw stays exact."""

    description = "at least the currency's minor units; per-unit prices may have more"

    @staticmethod
    def _written(amount: Decimal, cur) -> Decimal:
        return cur.per_unit(amount)


class _Holding:
    """Dumps its value with the currency of the object that holds it, for Money inside."""

    currency_field = "currency"

    def _serialize(self, value, attr, obj, **kwargs):
        code = _currency_of(obj, self.currency_field) if obj is not None else _HOLDER_CURRENCY.get()
        token = _HOLDER_CURRENCY.set(code)
        try:
            return super()._serialize(value, attr, obj, **kwargs)
        finally:
            _HOLDER_CURRENCY.reset(token)


class InCurrency(_Holding, fields.Nested):
    """A nested object (or each item of a list of them) whose amounts are in the currency of
    the object holding it."""

    def __init__(self, nested, *, currency_field: str = "currency", **kwargs):
        super().__init__(nested, **kwargs)
        self.currency_field = currency_field


class MoneyMap(_Holding, fields.Dict):
    """{key: amount}, in the currency of the object holding it (its `currency_field`)."""

    def __init__(self, *, currency_field: str = "currency", **kwargs):
        super().__init__(keys=fields.String(), values=Money(), **kwargs)
        self.currency_field = currency_field
