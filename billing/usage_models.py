"""Tables of metered usage: the records meters report, the periods they are billed in, and
what rating charged for them; and the calendar of usage periods.

A usage record belongs to an account and a meter. Subscriptions are not there yet, so a
record is keyed by account and meter alone; `subscription_id` is a nullable integer without a
foreign key, stored as reported, for the subscriptions to claim once they exist. Quantities
are exact: stored as integers of millionths (`Quantity`), so the database sums them exactly
(PostgreSQL's SUM of bigints is a numeric; SQLite's SUM of integers fails on overflow rather
than rounding, at 9.2 trillion units per account, meter and period).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import JSON, Field

from catalog.metered import QUANTITY_DECIMALS
from core.db import Amount, Table, forbid_updates, timestamp
from core.dates import add_months

PERIOD_FORMAT = "%Y-%m"
DEFAULT_GRACE_DAYS = 3


class Quantity(sa.types.TypeDecorator):
    """An exact Decimal with QUANTITY_DECIMALS decimals, stored as an integer of millionths."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else int(Decimal(value).scaleb(QUANTITY_DECIMALS))

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(int(value)).scaleb(-QUANTITY_DECIMALS)


class UsageRecord(Table, table=True):
    """One reported use of a meter, written once, in bulk (billing/usage.py), never changed.
    Its key is the account and the idempotency key the meter gave it: no surrogate id, whose
    sequence and second index would cost every insert and serve no reader. No foreign key to
    the account either: its trigger looked up and locked the account of every row, half the
    database's work of ingestion; ingestion checks and locks a batch's accounts at once."""
    __tablename__ = "usage_record"
    __table_args__ = (sa.Index("ix_usage_record_period_account", "period", "account_id"),)

    account_id: int = Field(primary_key=True)       # an account.id (see above)
    idempotency_key: str = Field(max_length=100, primary_key=True)
    subscription_id: int | None = None          # no foreign key until subscriptions exist
    meter: str = Field(max_length=40)
    quantity: Decimal = Field(sa_type=Quantity)
    event_time: datetime = Field(sa_type=sa.DateTime(timezone=True))
    period: date                                # first day of the usage period it is billed in
    received_at: datetime = timestamp()


class UsagePeriod(Table, table=True):
    """A usage period that took records. Its row is the period's lock: an ingestion batch
    holds it shared while it writes, rating holds it exclusively (PostgreSQL row locks), so
    no record slips in between rating's sums and its commit. Once rating began (`rated_at`)
    the period takes no more records; it is `complete` when every account with usage in it
    was rated (one that could not be is rated by a later run)."""
    __tablename__ = "usage_period"

    period: date = Field(primary_key=True)
    rated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    complete: bool = False


class UsageCharge(Table, table=True):
    """What rating charged for one meter of an account in one period: the usage summary of
    one invoice line (and its true-up line, if the minimum was not reached). An account with
    charges for a period is rated: rating leaves it out from then on."""
    __tablename__ = "usage_charge"
    __table_args__ = (sa.UniqueConstraint("account_id", "period", "meter"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    period: date
    meter: str = Field(max_length=40)
    product: str = Field(max_length=100)
    price_book: str = Field(max_length=100)
    price_book_version: int
    currency: str = Field(max_length=3)
    records: int
    quantity: Decimal = Field(sa_type=Quantity)
    allowance_used: Decimal = Field(sa_type=Quantity)
    billable: Decimal = Field(sa_type=Quantity)
    steps: list = Field(default_factory=list, sa_type=JSON)     # [{above, up_to, quantity, unit_price, flat_fee, amount}]
    amount: Decimal = Field(sa_type=Amount)                     # rounded once
    minimum: Decimal | None = Field(default=None, sa_type=Amount)
    true_up: Decimal = Field(sa_type=Amount)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    rated_at: datetime = timestamp()


forbid_updates(UsageCharge)


# periods -------------------------------------------------------------------------------------------

def period_of(moment: datetime) -> date:
    """The usage period a moment falls in: its calendar month in UTC (accounts have no billing
    period of their own yet; when subscriptions bring one, this is the one place to ask it)."""
    moment = moment.astimezone(timezone.utc)
    return date(moment.year, moment.month, 1)


def period_end(period: date) -> date:
    """The period's last day."""
    return add_months(period, 1) - timedelta(days=1)


def closes_at(period: date, grace_days: int) -> datetime:
    """When a period stops taking records: `grace_days` after its last day, at midnight UTC."""
    return datetime.combine(period_end(period) + timedelta(days=1 + grace_days), time(), timezone.utc)


def period_label(period: date) -> str:
    return period.strftime(PERIOD_FORMAT)


def parse_period(text: str) -> date:
    """`YYYY-MM` from 1900 to 2999 (as every date a request takes) -> the period's first day;
    ValueError otherwise."""
    day = datetime.strptime(text, PERIOD_FORMAT).date()
    if not 1900 <= day.year <= 2999:
        raise ValueError(f"{text}: a period from 1900-01 to 2999-12")
    return day
