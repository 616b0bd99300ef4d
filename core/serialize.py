"""Field types shared by every marshmallow schema, domain and API alike."""

from __future__ import annotations

from marshmallow import fields


def decimal_string():
    """Exact decimals as JSON strings (and documented as strings, not numbers)."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal"})
