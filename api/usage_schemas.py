"""marshmallow schemas for metered usage: the records meters send (documented here, checked
row by row by billing.usage, which also reads NDJSON and CSV), the answer to a batch, an
account's usage so far and rating runs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import Timestamp, decimal_in, decimal_string
from catalog.metered import METER_RE
from billing.usage_models import period_label
from core.serialize import InCurrency, Money, UnitAmount
from core.validation import MAX_INTEGER
from sales.accounts import CODE_RE

PERIOD = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"          # 1900-01 to 2999-12, as every date a request takes


class Period(fields.String):
    """A usage period (its first day) written as YYYY-MM."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": PERIOD, "description": "YYYY-MM"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else period_label(value)


class UsageRecordInSchema(Schema):
    """One use of a meter. A bulk body is {"records": [...]}; NDJSON is one record per line,
    CSV a header line naming the fields."""
    account = fields.String(required=True, validate=[validate.Length(max=40), validate.Regexp(CODE_RE)],
                            metadata={"description": "the account's code"})
    meter = fields.String(required=True, validate=validate.Regexp(METER_RE))
    quantity = decimal_in(0, required=True, description="at most 6 decimals, below 1,000,000,000,000")
    event_time = fields.AwareDateTime(required=True, metadata={
        "description": "when the usage happened, with its UTC offset; it decides the usage period"})
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={
        "description": "unique per account: the same key again is a duplicate, stored once"})
    subscription_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                     validate=validate.Range(min=1, max=MAX_INTEGER),
                                     metadata={"description": "stored as given, for the subscriptions to come"})


class UsageBatchInSchema(Schema):
    records = fields.List(fields.Nested(UsageRecordInSchema), required=True,
                          validate=validate.Length(min=1, max=100_000))


class UsageKeySchema(Schema):
    account = fields.String()
    idempotency_key = fields.String()


class IngestedSchema(Schema):
    received = fields.Integer()
    accepted = fields.Integer(metadata={"description": "records stored now"})
    duplicates = fields.Integer(metadata={"description": "records stored before (or twice in this batch): "
                                                         "not counted again"})
    duplicate_records = fields.List(fields.Nested(UsageKeySchema))


class UsageQuery(Schema):
    period = fields.String(load_default=None, validate=validate.Regexp(PERIOD),
                           metadata={"description": "YYYY-MM; default: the current period"})


class UsageStepSchema(Schema):
    """A tier (or the packages) applied: its units above `above` up to `up_to`, exact."""
    above = decimal_string()
    up_to = decimal_string(allow_none=True)
    quantity = decimal_string()
    unit_price = UnitAmount()
    flat_fee = Money()
    amount = UnitAmount(metadata={"description": "exact, never rounded: the meter's amount is their sum rounded once"})


class MeterUsageSchema(Schema):
    """A meter's usage and its price: the amounts are null when the meter has no price (`problem`)."""
    meter = fields.String()
    product = fields.String(allow_none=True)
    name = fields.String()
    unit = fields.String()
    records = fields.Integer()
    quantity = decimal_string()
    allowance_used = decimal_string(allow_none=True)
    billable = decimal_string(allow_none=True)
    tiers = fields.List(InCurrency(UsageStepSchema), allow_none=True)
    amount = Money(allow_none=True)
    minimum = Money(allow_none=True)
    true_up = Money(allow_none=True)
    total = Money(allow_none=True)
    price_book = fields.String(allow_none=True)
    price_book_version = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True, metadata={"description": "why the meter has no price"})


class RunningUsageSchema(Schema):
    account = fields.String()
    currency = fields.String()
    period = Period()
    state = fields.String(metadata={"enum": ["open", "closing", "rated"],
                                    "description": "closing: its grace has ended, rating is due"})
    closes_at = Timestamp(metadata={"description": "until when it takes late records"})
    invoice = fields.Integer(attribute="invoice_id", allow_none=True, metadata={"description": "the draft rating made"})
    total = Money()
    meters = fields.List(InCurrency(MeterUsageSchema))


class RateQuery(Schema):
    period = fields.String(load_default=None, validate=validate.Regexp(PERIOD),
                           metadata={"description": "YYYY-MM; default: every period whose grace has ended"})


class RatingFailureSchema(Schema):
    account = fields.String()
    reason = fields.String()


class RatingRunSchema(Schema):
    period = Period()
    invoices = fields.List(fields.Integer(), metadata={"description": "the draft invoices made"})
    charges = fields.Integer()
    failed = fields.List(fields.Nested(RatingFailureSchema))
