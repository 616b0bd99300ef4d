"""marshmallow schemas for exchange rates and for reports in a reporting currency."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from api.schemas import Day, decimal_string
from core.money import CurrencyError, currency
from core.serialize import MoneyMap

ORIGINAL = "original"


class CurrencyCode(fields.String):
    """An ISO 4217 code with minor units (USD, JPY, KWD), in capitals."""

    def __init__(self, **kwargs):
        metadata = {"pattern": "^[A-Z]{3}$", "description": "an ISO 4217 currency code"} | kwargs.pop("metadata", {})
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs)
        try:
            return currency(code).code
        except CurrencyError as exc:
            raise ValidationError(str(exc)) from None


class RatesQuery(Schema):
    on = Day(load_default=None, metadata={"description": "the day; default: today"})


class StoredRateSchema(Schema):
    """A row of the table: 1 base is rate quote from `on`."""
    base = fields.String()
    quote = fields.String()
    rate = decimal_string()
    on = fields.Date(attribute="effective_on")
    source = fields.String()


class RateSchema(Schema):
    """The rate an amount was converted with: 1 `from` is `rate` `to`, effective from `on`
    (a cross rate: its older leg's day), for the day `requested`."""
    from_ = fields.String(attribute="base", data_key="from")
    to = fields.String(attribute="quote")
    rate = decimal_string()
    on = fields.Date(metadata={"description": "the day the rate took effect"})
    source = fields.String(metadata={"description": "e.g. ECB; ECB, inverted; ECB via EUR"})
    requested = fields.Date(metadata={"description": "the day the amount was converted for"})


class EcbImportSchema(Schema):
    created = fields.Integer(metadata={"description": "rates stored by this import"})
    unchanged = fields.Integer(metadata={"description": "rates stored already, with the same value"})
    first = fields.Date(allow_none=True)
    last = fields.Date(allow_none=True)
    skipped = fields.List(fields.String(), metadata={"description": "columns that are no current ISO 4217 currency"})


class ReportingCurrency(CurrencyCode):
    """A reporting currency, or `original`: every amount in its own currency."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == ORIGINAL:
            return ORIGINAL
        return super()._deserialize(value, attr, data, **kwargs)


class ReportingQuery(Schema):
    """Mixed into a report's query: the currency to show it in."""
    currency = ReportingCurrency(load_default=None, metadata={
        "pattern": f"^([A-Z]{{3}}|{ORIGINAL})$",
        "description": "show the report in this currency, each amount converted with the rate printed beside it "
                       f"(docs/currencies.md says at which day's rate), or `{ORIGINAL}`: each amount in its own "
                       "currency; default: the server's CPQ_REPORTING_CURRENCY, else original"})


def reporting_currency(query: dict, default: str) -> str | None:
    """The currency a report is asked for in (None: each amount in its own)."""
    chosen = query.get("currency") or default or ORIGINAL
    return None if chosen == ORIGINAL else chosen


class ConversionSchema(Schema):
    """Amounts in one currency and what they are in the reporting currency, at `rate`."""
    from_ = fields.String(attribute="from_currency", data_key="from")
    currency = fields.String(metadata={"description": "the reporting currency"})
    rate = fields.Nested(RateSchema)
    original = MoneyMap(currency_field="from_currency", metadata={"description": "in the `from` currency"})
    converted = MoneyMap(metadata={"description": "in the reporting currency"})
