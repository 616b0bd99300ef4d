"""Field types shared by every marshmallow schema, domain and API alike."""

from __future__ import annotations

from marshmallow import fields

from core.money import currency


def decimal_string(**kwargs):
    """Exact decimals as JSON strings (and documented as strings, not numbers)."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal"}, **kwargs)


class Money(fields.Decimal):
    """An amount as a decimal string in its currency's minor units ("4320.00", "1200" for
    JPY), the currency being the `currency` of the object dumped."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"type": "string", "format": "decimal",
                                       "description": "in the currency's minor units"})
        super().__init__(as_string=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        code = obj.get("currency") if isinstance(obj, dict) else getattr(obj, "currency", None)
        return super()._serialize(currency(code).round(value), attr, obj, **kwargs)
