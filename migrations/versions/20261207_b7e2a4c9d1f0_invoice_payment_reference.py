"""invoice payment reference (ISO 11649) and bank transactions

Revision ID: b7e2a4c9d1f0
Revises: c1d2e3f4a5b6
Create Date: 2026-12-07

Every issued invoice gets the creditor reference a payment quotes: its number without
separators behind "RF" and two check digits (billing/remittance.py; the computation is
repeated here so this revision never changes with the code). Bank transactions keep each
imported statement line once, matched to its invoice and payment or left for a person.
"""
import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = 'b7e2a4c9d1f0'
down_revision: Union[str, Sequence[str], None] = 'c1d2e3f4a5b6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _reference(number: str) -> str:
    body = re.sub(r"[^0-9A-Za-z]", "", number).upper()
    check = 98 - int("".join(str(int(c, 36)) for c in body + "RF00")) % 97
    return f"RF{check:02d}{body}"


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("payment_reference", sa.String(length=25), nullable=True))
        batch.create_index("ix_invoice_payment_reference", ["payment_reference"])
    invoice = sa.table("invoice", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                       sa.column("number", sa.String), sa.column("payment_reference", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(invoice.c.id, invoice.c.number)
                              .where(invoice.c.kind == "invoice", invoice.c.number.is_not(None))).all()
    for row in rows:
        connection.execute(sa.update(invoice).where(invoice.c.id == row.id)
                           .values(payment_reference=_reference(row.number)))
    op.create_table(
        "bank_transaction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_ref", sa.String(length=100), nullable=False, unique=True),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount", core.db.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("remittance", sa.String(length=500), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoice.id"), nullable=True),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("payment.id"), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bank_transaction_status", "bank_transaction", ["status"])


def downgrade() -> None:
    op.drop_index("ix_bank_transaction_status", table_name="bank_transaction")
    op.drop_table("bank_transaction")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_index("ix_invoice_payment_reference")
        batch.drop_column("payment_reference")
