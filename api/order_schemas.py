"""marshmallow schemas for contracts, orders, shipments and the ERP's write-backs."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields, validate

from api.mail_schemas import MailMessageSchema
from api.schemas import Day, Flag, Timestamp, decimal_in, decimal_string, document_status
from core.serialize import InCurrency, Money
from core.validation import MAX_INTEGER
from sales.order_models import CONTRACT_STATES, ORDER_STATES
from sales.orders import BILLING


class ContractCreateSchema(Schema):
    quote = fields.String(required=True, validate=validate.Length(min=1, max=32),
                          metadata={"description": "the number of an accepted quote"})
    start_date = Day(load_default=None)
    auto_renew = Flag(load_default=True)
    notice_days = fields.Integer(strict=True, load_default=60, validate=validate.Range(min=0, max=365))
    escalation_percent = decimal_in(0, 50, load_default=Decimal(0))


class ContractSchema(Schema):
    number = fields.String()
    quote = fields.String(attribute="quote_number", allow_none=True)
    account = fields.String(attribute="account_code")
    state = fields.String(metadata={"enum": list(CONTRACT_STATES)})
    currency = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    term_months = fields.Integer()
    auto_renew = Flag()
    notice_days = fields.Integer()
    escalation_percent = decimal_string()
    contract_value = Money()
    renewal_of = fields.String(attribute="renewal_of_number", allow_none=True)
    document_sha256 = fields.String(allow_none=True)
    document_status = document_status()
    signed_name = fields.String(allow_none=True)
    signed_email = fields.String(allow_none=True)
    signed_at = Timestamp(allow_none=True)
    terminated_on = fields.Date(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class ContractQuery(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(CONTRACT_STATES))
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    quote = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                          metadata={"description": "the contract made from this quote"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class ReasonSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class CancelSchema(ReasonSchema):
    credit_invoices = Flag(load_default=False, metadata={
        "description": "credit what is left of the order's issued invoices (finance or an admin); "
                       "without it, an order with standing invoices is not cancelled"})


class TerminateSchema(ReasonSchema):
    on = Day(load_default=None)


class SignLinkSchema(Schema):
    contract = fields.Nested(ContractSchema)
    token = fields.String()
    url = fields.String()
    mail = fields.Nested(MailMessageSchema, allow_none=True,
                         metadata={"description": "the e-mail with the link, queued in the outbox (null: not e-mailed)"})


class SignSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    document_sha256 = fields.String(load_default=None, validate=validate.Length(equal=64))


class MilestoneSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    percent = decimal_in(0, 100, above=True, required=True, as_string=True)


class CreditCheckSchema(Schema):
    """The credit check an order records (billing/credit.py)."""
    limit = Money(allow_none=True)
    receivables = Money()
    order = Money()
    exposure = Money()
    passed = Flag()
    reason = fields.String()


class OrderCreateSchema(Schema):
    quote = fields.String(required=True, validate=validate.Length(min=1, max=32),
                          metadata={"description": "the number of an accepted quote"})
    billing = fields.String(load_default="on_order", validate=validate.OneOf(BILLING))
    milestones = fields.List(fields.Nested(MilestoneSchema), load_default=None)


class OrderLineSchema(Schema):
    key = fields.String()
    position = fields.Integer()
    product = fields.String()
    name = fields.String()
    configuration = fields.Dict()
    model_version = fields.Integer(allow_none=True)
    bom = fields.List(fields.Dict(), metadata={"description": "exploded BOM of one unit"})
    quantity = decimal_string()
    charge = fields.String()
    term_months = fields.Integer(allow_none=True)
    list_total = Money()
    net_total = Money()
    contract_value = Money()
    status = fields.String()
    shipped_quantity = decimal_string()
    delivered_quantity = decimal_string()
    delivered_on = fields.Date(allow_none=True)


class ShipmentSchema(Schema):
    line = fields.String(attribute="line_key")
    quantity = decimal_string()
    carrier = fields.String()
    tracking = fields.String()
    shipped_on = fields.Date()
    delivered_on = fields.Date(allow_none=True)


class OrderSchema(Schema):
    number = fields.String()
    quote = fields.String(attribute="quote_number")
    contract = fields.String(attribute="contract_number", allow_none=True)
    account = fields.String(attribute="account_code")
    state = fields.String(metadata={"enum": list(ORDER_STATES)})
    currency = fields.String()
    one_time_total = Money()
    contract_value = Money()
    credit_check = InCurrency(CreditCheckSchema)
    erp_order_number = fields.String(allow_none=True)
    change_seq = fields.Integer(metadata={"description": "the order's position in the change feed"})
    billing = fields.String()
    milestones = fields.List(fields.Nested(MilestoneSchema))
    lines = fields.List(InCurrency(OrderLineSchema))
    shipments = fields.List(fields.Nested(ShipmentSchema))
    created_at = Timestamp()
    updated_at = Timestamp()


class FulfilmentLineSchema(OrderLineSchema):
    """An order line's progress (named, so that the API document has one schema per name)."""

    class Meta:
        fields = ("key", "product", "name", "quantity", "status", "shipped_quantity", "delivered_quantity",
                  "delivered_on")


class FulfilmentSchema(Schema):
    """An order as a rep sees it on the quote: what the ERP reported, without leaving the quote."""
    number = fields.String()
    contract = fields.String(attribute="contract_number", allow_none=True)
    state = fields.String(metadata={"enum": list(ORDER_STATES)})
    erp_order_number = fields.String(allow_none=True)
    lines = fields.List(InCurrency(FulfilmentLineSchema))
    shipments = fields.List(fields.Nested(ShipmentSchema))
    updated_at = Timestamp()


class OrderQuery(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(ORDER_STATES))
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class LineStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("pending", "in_production")))


class ShipInSchema(Schema):
    quantity = decimal_in(0, above=True, required=True)
    shipped_on = Day(load_default=None)
    carrier = fields.String(load_default="", validate=validate.Length(max=64))
    tracking = fields.String(load_default="", validate=validate.Length(max=128))


class DeliverSchema(Schema):
    delivered_on = Day(load_default=None)


class ErpNumberSchema(Schema):
    erp_order_number = fields.String(required=True, validate=validate.Length(min=1, max=64))


class BomQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class BomRowSchema(Schema):
    line = fields.String()
    product = fields.String()
    part = fields.String()
    description = fields.String()
    uom = fields.String()
    quantity = decimal_string()        # per unit times the line's quantity


class OrderBomSchema(Schema):
    order = fields.String()
    lines = fields.List(fields.Nested(BomRowSchema))


class FeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_INTEGER))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class OrderFeedSchema(Schema):
    orders = fields.List(fields.Nested(OrderSchema))
    next = fields.Integer(metadata={"description": "the cursor to pass as `after` next time"})
