"""Tables of quotes: revisions, lines, audit events, approval steps, documents, share links
and customer decisions.

A quote is a number with one or more revisions; each revision is a row of `quote`, and only
the latest can change. Once a revision has been approved, sent or accepted it is frozen: a
change makes a new revision and the old one stays readable as it was. Documents (PDFs),
events and acceptances are written once and never updated.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import JSON, Field

from core.db import Amount, Table, forbid_updates, timestamp, utcnow

STATES = ("draft", "pending_approval", "approved", "rejected", "sent", "accepted", "declined", "expired")
FROZEN = ("approved", "sent", "declined", "expired")   # a change makes a new revision
FINAL = ("accepted",)    # sold: it changes only by an explicit revision (workflow.revise) or an amendment
KINDS = ("sale", "amendment", "renewal")   # an amendment changes a live contract; a renewal proposes its next term



class Quote(Table, table=True):
    __tablename__ = "quote"
    __table_args__ = (sa.UniqueConstraint("number", "revision"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, index=True)
    revision: int = 1
    latest: bool = True                       # the revision that may change; older ones are history
    state: str = Field(default="draft", max_length=20)
    account_id: int = Field(foreign_key="account.id", index=True)
    owner_id: str = Field(foreign_key="app_user.id", index=True, max_length=32)
    title: str = Field(default="", max_length=200)
    currency: str = Field(max_length=3)
    price_book: str = Field(max_length=100)
    rule_set: str = Field(max_length=100)
    channel: str | None = Field(default=None, max_length=32)
    payment_terms: str = Field(max_length=32)
    promo_codes: list = Field(default_factory=list, sa_type=JSON)
    discount_percent: Decimal | None = Field(default=None, sa_type=Amount)   # header discount
    discount_amount: Decimal | None = Field(default=None, sa_type=Amount)
    expires_on: date
    terms_template: str | None = Field(default=None, max_length=64)
    terms: str = Field(default="", sa_type=sa.Text)
    notes: str = Field(default="", sa_type=sa.Text)
    cloned_from: str | None = Field(default=None, max_length=40)        # "Q-2026-00001 r2"
    kind: str = Field(default="sale", max_length=16)
    contract_id: int | None = Field(default=None, index=True)   # the contract amended or renewed (its id: the
                                                                # contract refers to its quote, so no cycle)
    effective_date: date | None = None        # an amendment's first day
    # the last pricing, stored as the API shows it, with the versions it used
    priced: dict | None = Field(default=None, sa_type=JSON)
    priced_on: date | None = None
    price_book_version: int | None = None
    rule_set_version: int | None = None
    fingerprint: str = Field(default="", max_length=64)   # digest of every price-relevant input
    one_time_net: Decimal | None = Field(default=None, sa_type=Amount)
    contract_value: Decimal | None = Field(default=None, sa_type=Amount)
    list_contract_value: Decimal | None = Field(default=None, sa_type=Amount)   # before discounts
    discount_given_percent: Decimal | None = Field(default=None, sa_type=Amount)
    lock_version: int = 1                     # optimistic lock against lost updates
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    submitted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))

    @property
    def label(self) -> str:
        return f"quote {self.number} revision {self.revision}"


class QuoteLine(Table, table=True):
    __tablename__ = "quote_line"
    __table_args__ = (sa.UniqueConstraint("quote_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="quote.id", index=True)
    key: str = Field(max_length=16)           # stable within a quote and across its revisions
    position: int
    group: str | None = Field(default=None, max_length=100)
    product: str = Field(max_length=100)
    configuration_id: str | None = Field(default=None, foreign_key="configuration.id", max_length=32)
    selections: dict = Field(default_factory=dict, sa_type=JSON)
    model_version: int | None = None
    quantity: int = 1
    term_months: int | None = None
    discount_percent: Decimal | None = Field(default=None, sa_type=Amount)
    discount_amount: Decimal | None = Field(default=None, sa_type=Amount)
    notes: str = Field(default="", max_length=1000)
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")   # what an amendment changes
    reprice: bool = False                     # an amendment line priced afresh, not at the contract's price


class QuoteEvent(Table, table=True):
    """The audit trail: every transition and change, written with it in one transaction."""
    __tablename__ = "quote_event"

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="quote.id", index=True)
    at: datetime = timestamp()
    actor_id: str | None = Field(default=None, max_length=32)   # None: the customer, or the system
    actor: str = Field(max_length=254)                           # name or email, as it was then
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=20)
    to_state: str | None = Field(default=None, max_length=20)
    reason: str = Field(default="", max_length=2000)
    data: dict = Field(default_factory=dict, sa_type=JSON)


class ApprovalStep(Table, table=True):
    """One required approval of a submitted revision; steps of one stage run in parallel,
    stages in sequence."""
    __tablename__ = "approval_step"

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="quote.id", index=True)
    round: int = 1                            # each submission of the revision is a new round
    level: str = Field(max_length=64)
    label: str = Field(max_length=200)
    stage: int
    reasons: list = Field(default_factory=list, sa_type=JSON)
    fingerprint: str = Field(max_length=64)   # the inputs this approval is about
    status: str = Field(default="pending", max_length=16)   # pending | approved | rejected | void
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    comment: str = Field(default="", max_length=2000)


class ShareLink(Table, table=True):
    """An unguessable link for the customer, to a quote revision or to a contract to sign;
    only the token's hash is stored."""
    __tablename__ = "share_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    quote_id: int | None = Field(default=None, foreign_key="quote.id", index=True)
    contract_id: int | None = Field(default=None, foreign_key="contract.id", index=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = timestamp()
    created_by: str | None = Field(default=None, max_length=32)


class Decision(Table, table=True):
    """The customer's acceptance (with its e-signature) or refusal of a revision."""
    __tablename__ = "quote_decision"

    quote_id: int = Field(foreign_key="quote.id", primary_key=True)   # one decision per revision
    accepted: bool
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    at: datetime = timestamp()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=500)
    document_sha256: str = Field(max_length=64)
    reason: str = Field(default="", max_length=2000)


class TermsTemplate(Table, table=True):
    """Terms and conditions a quote copies in (as text, so later template edits never change
    a quote already written). The body may use {{ account }}, {{ payment_terms }},
    {{ valid_until }} and {{ currency }}."""
    __tablename__ = "terms_template"

    code: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    body: str = Field(sa_type=sa.Text)
    updated_at: datetime = timestamp()


for _table in (QuoteEvent, Decision):
    forbid_updates(_table)


@sa.event.listens_for(Quote, "before_update")
def _next_lock_version(_mapper, _connection, quote: Quote) -> None:
    """Every write of a revision moves its lock version on; writers hold the row lock
    (get_quote(lock=True)), so a client's `lock_version` tells whether it read the latest."""
    quote.lock_version += 1
    quote.updated_at = utcnow()
