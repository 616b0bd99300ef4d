"""marshmallow schemas for subscriptions, amendments and renewals."""

from __future__ import annotations

from marshmallow import Schema, fields, post_load, validate, validates_schema, ValidationError

from api.billing_schemas import InvoiceSchema
from api.sales_schemas import CODE
from api.schemas import Day, Flag, Selections, Timestamp, decimal_in, decimal_string
from core.serialize import InCurrency, Money, UnitAmount
from core.validation import MAX_INTEGER
from sales.amendments import Change
from sales.order_models import SUBSCRIPTION_STATES

ID = validate.Range(min=1, max=MAX_INTEGER)


class SubscriptionVersionSchema(Schema):
    version = fields.Integer()
    effective_from = fields.Date()
    quantity = decimal_string()
    amount = Money(metadata={"description": "net per billing period, for the quantity"})
    unit_price = UnitAmount()
    configuration = fields.Dict()
    model_version = fields.Integer(allow_none=True)
    quote = fields.String(attribute="quote_number", allow_none=True,
                          metadata={"description": "the quote (an amendment's) that made it"})
    reason = fields.String()
    created_at = Timestamp()


class SubscriptionSchema(Schema):
    id = fields.Integer()
    account = fields.String(attribute="account_code")
    contract = fields.String(attribute="contract_number", allow_none=True)
    order = fields.String(attribute="order_number", metadata={"description": "the order it is billed on"})
    line = fields.String(attribute="line_key")
    product = fields.String()
    name = fields.String()
    currency = fields.String()
    charge = fields.String(metadata={"description": "the billing frequency: monthly, quarterly, semiannual or annual"})
    term_months = fields.Integer()
    anchor_day = fields.Integer(metadata={"description": "the day of the month billing periods start"})
    start_date = fields.Date()
    end_date = fields.Date()
    state = fields.String(metadata={"enum": list(SUBSCRIPTION_STATES)})
    cancelled_on = fields.Date(allow_none=True)
    current = InCurrency(SubscriptionVersionSchema, metadata={"description": "the latest version"})
    versions = fields.List(InCurrency(SubscriptionVersionSchema))
    created_at = Timestamp()
    updated_at = Timestamp()


class SubscriptionQuery(Schema):
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    contract = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    state = fields.String(load_default=None, validate=validate.OneOf(SUBSCRIPTION_STATES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class AmendmentChangeSchema(Schema):
    """One change: a subscription's new quantity (0 removes it) or configuration, or a product
    to add."""
    subscription = fields.Integer(strict=True, validate=ID, load_default=None,
                                  metadata={"description": "the subscription to change; leave out to add a product"})
    quantity = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000), load_default=None,
                              metadata={"description": "the new quantity (0 removes the subscription)"})
    selections = Selections(load_default=None, metadata={"description": "a new configuration: priced afresh"})
    reprice = Flag(load_default=False, metadata={
        "description": "price by the rules, not at the contract's net unit price"})
    product = fields.String(validate=CODE, load_default=None)
    configuration = fields.String(validate=validate.Length(min=1, max=32), load_default=None)
    model_version = fields.Integer(strict=True, validate=ID, load_default=None)
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600), load_default=None)
    discount_percent = decimal_in(0, 100, load_default=None)
    discount_amount = decimal_in(0, load_default=None)
    notes = fields.String(validate=validate.Length(max=1000), load_default="")

    @validates_schema
    def _one_kind(self, data, **kwargs):
        if data.get("subscription") is None and data.get("product") is None and data.get("configuration") is None:
            raise ValidationError("name a subscription to change, or a product to add", "subscription")
        if data.get("discount_percent") is not None and data.get("discount_amount") is not None:
            raise ValidationError("give a percent or an amount, not both", "discount_amount")

    @post_load
    def _make(self, data, **kwargs):
        return Change(**data)


class AmendmentCreateSchema(Schema):
    effective_date = Day(required=True, metadata={"description": "the first day the changes apply"})
    changes = fields.List(fields.Nested(AmendmentChangeSchema), required=True, validate=validate.Length(min=1, max=500))
    title = fields.String(validate=validate.Length(max=200))
    notes = fields.String(validate=validate.Length(max=10_000))
    expires_on = Day()


class AppliedVersionSchema(SubscriptionVersionSchema):
    subscription = fields.Integer(attribute="subscription_id")


class AppliedSchema(Schema):
    quote = fields.String()
    order = fields.String(allow_none=True, metadata={"description": "the order of what the amendment adds"})
    versions = fields.List(InCurrency(AppliedVersionSchema))
    invoices = fields.List(fields.Nested(InvoiceSchema), metadata={"description": "drafts charging billed periods"})
    credit_notes = fields.List(fields.Nested(InvoiceSchema))
