"""Tables downstream of an accepted quote: contracts, orders, order lines, shipments and
subscriptions.

A contract and an order copy the facts they need from the accepted quote revision (lines,
prices, account), so they read the same whatever later happens to the quote. A subscription
is what a recurring order line sells, over time: each change (an amendment) adds a version
effective from a day, and versions are never changed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import JSON, Field

from core.db import Amount, Table, forbid_updates, timestamp

CONTRACT_STATES = ("draft", "sent", "signed", "active", "expired", "terminated", "renewed", "withdrawn")
ORDER_STATES = ("credit_hold", "open", "fulfilled", "cancelled")
LINE_STATUSES = ("pending", "in_production", "shipped", "delivered")
SUBSCRIPTION_STATES = ("active", "cancelled", "ended")



class Contract(Table, table=True):
    __tablename__ = "contract"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    quote_id: int | None = Field(default=None, foreign_key="quote.id", unique=True)   # the accepted revision
    account_id: int = Field(foreign_key="account.id", index=True)               # (None: a renewal)
    state: str = Field(default="draft", max_length=16)
    currency: str = Field(max_length=3)
    start_date: date
    end_date: date                            # last day of the term, inclusive
    term_months: int
    auto_renew: bool = True
    notice_days: int = 60                     # notice of non-renewal, before the end date
    escalation_percent: Decimal = Field(default=Decimal(0), sa_type=Amount)   # on renewal
    contract_value: Decimal = Field(sa_type=Amount)
    renewal_of: int | None = Field(default=None, foreign_key="contract.id")
    terms: str = Field(default="", sa_type=sa.Text)
    signed_name: str | None = Field(default=None, max_length=200)
    signed_email: str | None = Field(default=None, max_length=254)
    signed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    signed_ip: str | None = Field(default=None, max_length=64)
    signed_user_agent: str | None = Field(default=None, max_length=500)
    terminated_on: date | None = None
    # what the revenue schedule last worked out it earns (amendments, credits, termination);
    # None until it is scheduled (billing/revenue.py)
    transaction_price: Decimal | None = Field(default=None, sa_type=Amount)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class ContractEvent(Table, table=True):
    """Audit trail of contracts, and the record of reminders sent (never twice)."""
    __tablename__ = "contract_event"
    __table_args__ = (sa.UniqueConstraint("contract_id", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    at: datetime = timestamp()
    actor: str = Field(max_length=254)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=2000)
    dedupe_key: str | None = Field(default=None, max_length=100)   # e.g. "reminder:renewal_notice:2027-10-02"


class Order(Table, table=True):
    __tablename__ = "sales_order"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    quote_id: int = Field(foreign_key="quote.id", unique=True)       # one order per accepted revision
    contract_id: int | None = Field(default=None, foreign_key="contract.id")
    account_id: int = Field(foreign_key="account.id", index=True)
    state: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    one_time_total: Decimal = Field(sa_type=Amount)                  # net of the one-time lines
    contract_value: Decimal = Field(sa_type=Amount)
    credit_check: dict = Field(default_factory=dict, sa_type=JSON)   # limit, open receivables, verdict
    released_by: str | None = Field(default=None, max_length=32)
    erp_order_number: str | None = Field(default=None, max_length=64)
    billing: str = Field(default="on_order", max_length=16)          # on_order | on_shipment | milestones
    change_seq: int = Field(default=0, index=True)   # position in the feed of changed orders (ERP pull)
    milestones: list = Field(default_factory=list, sa_type=JSON)     # [{"label", "percent"}] summing to 100
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class OrderLine(Table, table=True):
    __tablename__ = "order_line"
    __table_args__ = (sa.UniqueConstraint("order_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    key: str = Field(max_length=40)
    position: int
    product: str = Field(max_length=100)
    name: str = Field(max_length=300)
    configuration: dict = Field(default_factory=dict, sa_type=JSON)  # attribute -> value, as priced
    model_version: int | None = None
    bom: list = Field(default_factory=list, sa_type=JSON)            # exploded BOM of one unit
    quantity: Decimal = Field(sa_type=Amount)
    charge: str = Field(max_length=16)                               # one_time | monthly | quarterly | semiannual | annual
    term_months: int | None = None
    list_total: Decimal = Field(sa_type=Amount)                      # per period for recurring lines
    net_total: Decimal = Field(sa_type=Amount)                       # per period for recurring lines
    contract_value: Decimal = Field(sa_type=Amount)
    tax_category: str = Field(default="standard", max_length=32)
    status: str = Field(default="pending", max_length=16)
    shipped_quantity: Decimal = Field(default=Decimal(0), sa_type=Amount)
    delivered_quantity: Decimal = Field(default=Decimal(0), sa_type=Amount)
    delivered_on: date | None = None


class Shipment(Table, table=True):
    __tablename__ = "shipment"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    line_key: str = Field(max_length=40)
    quantity: Decimal = Field(sa_type=Amount)
    carrier: str = Field(default="", max_length=64)
    tracking: str = Field(default="", max_length=128)
    shipped_on: date
    delivered_on: date | None = None
    created_at: datetime = timestamp()


class OrderEvent(Table, table=True):
    __tablename__ = "order_event"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    at: datetime = timestamp()
    actor: str = Field(max_length=254)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=2000)
    data: dict = Field(default_factory=dict, sa_type=JSON)


class Subscription(Table, table=True):
    """A recurring order line as a running service: billed on its order line's schedule, from
    `start_date` to `end_date` (inclusive), at the price of the version in force each day."""
    __tablename__ = "subscription"
    __table_args__ = (sa.UniqueConstraint("order_id", "line_key"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    contract_id: int | None = Field(default=None, foreign_key="contract.id", index=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)   # where it is billed
    line_key: str = Field(max_length=40)
    product: str = Field(max_length=100)
    name: str = Field(max_length=300)
    currency: str = Field(max_length=3)
    charge: str = Field(max_length=16)                      # the billing frequency: monthly | quarterly | semiannual | annual
    term_months: int
    anchor_day: int = 1                                     # the day of the month billing periods start
    start_date: date
    end_date: date                                          # inclusive; an amendment's co-terms with its contract
    state: str = Field(default="active", max_length=16)
    cancelled_on: date | None = None                        # the first day it no longer runs
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class SubscriptionVersion(Table, table=True):
    """What a subscription is from `effective_from` until the next version: written once."""
    __tablename__ = "subscription_version"
    __table_args__ = (sa.UniqueConstraint("subscription_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    version: int
    effective_from: date
    quantity: Decimal = Field(sa_type=Amount)
    amount: Decimal = Field(sa_type=Amount)                 # net per billing period, for the quantity
    unit_price: Decimal = Field(sa_type=Amount)             # amount / quantity, shown, never summed
    configuration: dict = Field(default_factory=dict, sa_type=JSON)
    model_version: int | None = None
    quote_id: int | None = Field(default=None, foreign_key="quote.id", index=True)   # the amendment
    reason: str = Field(default="", max_length=500)
    created_at: datetime = timestamp()


forbid_updates(SubscriptionVersion)
